package containers

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/targets/portal"
)

// Each edge variant renders the nginx directives that give it the embedded
// edge's behaviour; the container test loads every one into real nginx.
func TestNginxRendersTheRules(t *testing.T) {
	none, err := portal.NewDefectSet()
	require.NoError(t, err)
	leaky, err := portal.NewDefectSet(portal.DefectEdgeIgnoresOrigin)
	require.NoError(t, err)
	render := func(name string, d portal.DefectSet) string {
		r, err := portal.EdgeRulesOf(name, d)
		require.NoError(t, err)
		return string(renderNginx(r, name+"#1", []string{"replica-1", "replica-2"}))
	}

	def := render("default", none)
	assert.Contains(t, def, "server replica-1:8080")
	assert.Contains(t, def, "server replica-2:8080")
	assert.Contains(t, def, "proxy_no_cache $private_path", "only public pages are cached")
	assert.NotContains(t, def, "proxy_ignore_headers", "the origin's Cache-Control and Set-Cookie are honoured")
	assert.Contains(t, def, `add_header X-Edge-Config "default#1" always`)
	assert.Contains(t, def, "proxy_cache_valid 200 30s")

	dyn := render("cache-dynamic", none)
	assert.NotContains(t, dyn, "proxy_no_cache", "dynamic pages are cacheable")
	assert.NotContains(t, dyn, "proxy_ignore_headers")
	assert.Contains(t, dyn, `proxy_cache_key "$scheme$proxy_host$request_uri"`, "keyed on the URL alone")
	assert.Contains(t, dyn, "proxy_cache_valid 200 1s")

	perSession := render("cache-dynamic-per-session", none)
	assert.Contains(t, perSession, `proxy_cache_key "$scheme$proxy_host$request_uri$cookie_`+portal.SessionCookie+`"`)

	ignores := render("cache-dynamic", leaky)
	assert.Contains(t, ignores, "proxy_ignore_headers Cache-Control Expires Set-Cookie", "the Steam/Klarna rule")
	assert.Equal(t, strings.Count(def, "{"), strings.Count(def, "}"))
}

package embedded

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness/population"
	"github.com/crosstalk-dev/crosstalk/targets/portal"
	"github.com/crosstalk-dev/crosstalk/targets/reference"
)

var challengeRE = regexp.MustCompile(`name="challenge" value="([^"]+)"`)

// TestFranceConnectLoginInABrowser logs a user in through the reference
// identity provider as net/http's client does it (redirects followed across
// hosts, cookies per host), then checks what the portal refuses: a state
// that is not the browser's, a callback with no login in progress, a wrong
// one-time code.
func TestFranceConnectLoginInABrowser(t *testing.T) {
	pop, err := population.New(5, 200, population.Mix{Migrated: 1})
	require.NoError(t, err)
	s := New(WithReplicas(2))
	base, err := s.Start(t.Context(), pop)
	require.NoError(t, err)
	defer s.Stop(t.Context())
	idpURL := s.Hosts()[reference.IdPHost]
	require.NotEmpty(t, idpURL)
	u := pop.User(17)

	browser := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, Timeout: 10 * time.Second}
	}
	// login starts a login in c and posts the credentials with code otp;
	// it returns the last response's URL and body.
	login := func(c *http.Client, otp string, tamper func(*http.Request)) (*url.URL, int, string) {
		resp, err := c.Get(base + portal.FranceConnectStartPath)
		require.NoError(t, err)
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.True(t, strings.HasPrefix(resp.Request.URL.String(), idpURL), "redirected to the provider: %s", resp.Request.URL)
		m := challengeRE.FindSubmatch(page)
		require.NotNil(t, m, "the provider's login page")
		c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
			if tamper != nil && req.URL.Path == portal.FranceConnectCallbackPath {
				tamper(req)
			}
			return nil
		}
		resp, err = c.PostForm(idpURL+"/login", url.Values{"challenge": {string(m[1])}, "login": {u.NIR},
			"password": {u.IdPPassword}, "otp": {otp}})
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.Request.URL, resp.StatusCode, string(body)
	}
	code, err := totp.GenerateCode(pop.TOTPSecret(17), time.Now())
	require.NoError(t, err)

	at, status, body := login(browser(), code, nil)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "/dossier", at.Path)
	assert.Contains(t, body, u.Last, "the user's own dossier")

	_, status, body = login(browser(), code, func(req *http.Request) {
		q := req.URL.Query()
		q.Set("state", "another-browsers-state")
		req.URL.RawQuery = q.Encode()
	})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, "state does not match")

	resp, err := browser().Get(base + portal.FranceConnectCallbackPath + "?code=stolen&state=stolen")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "a callback with no login in progress")
	assert.Contains(t, string(b), "no login in progress")

	at, status, _ = login(browser(), "000000", nil)
	assert.Equal(t, http.StatusBadRequest, status, "a wrong one-time code")
	assert.Equal(t, portal.FranceConnectCallbackPath, at.Path)
	assert.Equal(t, "access_denied", at.Query().Get("error"))
}

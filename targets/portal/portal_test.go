package portal

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stack is a two-replica portal behind an edge, on httptest servers.
type stack struct {
	edge     *Edge
	url      string
	accounts *MemAccounts
	client   *http.Client
}

func newStack(t *testing.T, defects ...string) *stack {
	t.Helper()
	set, err := NewDefectSet(defects...)
	require.NoError(t, err)
	accounts := NewMemAccounts(3)
	for i, st := range []State{StatePending, StatePending, StateLegacy} {
		a := Account{ID: i, NIR: "18505751234560" + string(rune('0'+i)), CAF: "75", Number: "100000" + string(rune('0'+i)),
			First: "Marie", Last: "Curie", Email: "m@x", Phone: "0600000000", IBAN: "FR7630004000031234567890143",
			State: st, Salt: "s"}
		a.PassHash = HashPassword(a.Salt, "Tmp-pass")
		require.NoError(t, accounts.Add(a))
	}
	sessions := NewMemSessions()
	var ups []string
	for _, name := range []string{"r1", "r2"} {
		srv := httptest.NewServer(NewReplica(name, Stores{Accounts: accounts, Sessions: sessions}, set))
		t.Cleanup(srv.Close)
		ups = append(ups, srv.URL)
	}
	edge := NewEdge(ups, set)
	srv := httptest.NewServer(edge)
	t.Cleanup(srv.Close)
	return &stack{edge: edge, url: srv.URL, accounts: accounts,
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (s *stack) do(t *testing.T, method, path, cookie string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, s.url+path, body)
	require.NoError(t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.Header.Set("Cookie", SessionCookie+"="+cookie)
	}
	resp, err := s.client.Do(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	return resp, string(b)
}

// migrate logs account i in with its temporary password and changes it,
// returning the session token.
func (s *stack) migrate(t *testing.T, i int) string {
	t.Helper()
	a, err := s.accounts.Get(t.Context(), i)
	require.NoError(t, err)
	resp, _ := s.do(t, "POST", "/login/nir", "", url.Values{"nir": {a.NIR}, "password": {"Tmp-pass"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/password", resp.Header.Get("Location"))
	var token string
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie {
			token = c.Value
		}
	}
	require.NotEmpty(t, token)
	resp, _ = s.do(t, "GET", "/dossier", token, nil)
	assert.Equal(t, "/password", resp.Header.Get("Location"), "the temporary password must be changed first")
	resp, _ = s.do(t, "POST", "/password", token, url.Values{"new_password": {"a-new-password"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	return token
}

func TestMigrationJourney(t *testing.T) {
	s := newStack(t)
	token := s.migrate(t, 0)
	resp, body := s.do(t, "GET", "/dossier", token, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, body, "1 85 05 75 123 456 00")
	assert.Equal(t, "private, no-store", resp.Header.Get("Cache-Control"))
	assert.NotEmpty(t, resp.Header.Get(ReplicaHeader))
	a, _ := s.accounts.Get(t.Context(), 0)
	assert.Equal(t, StateMigrated, a.State)

	resp, _ = s.do(t, "POST", "/bank", token, url.Values{"iban": {"FR76 3000 6000 0112 3456 7890 189"}})
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	a, _ = s.accounts.Get(t.Context(), 0)
	assert.Equal(t, "FR7630006000011234567890189", a.IBAN)
	resp, _ = s.do(t, "POST", "/bank", token, url.Values{"iban": {"FR7630006000011234567890188"}})
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "a bad check digit is refused")

	s.do(t, "POST", "/logout", token, nil)
	resp, _ = s.do(t, "GET", "/dossier", token, nil)
	assert.Equal(t, "/login", resp.Header.Get("Location"), "a logged-out session is gone")
}

func TestWrongPasswordAndLegacyLogin(t *testing.T) {
	s := newStack(t)
	resp, _ := s.do(t, "POST", "/login/nir", "", url.Values{"nir": {"185057512345600"}, "password": {"nope"}})
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, _ = s.do(t, "POST", "/login", "", url.Values{"caf": {"75"}, "number": {"1000002"}, "password": {"Tmp-pass"}})
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, "/dossier", resp.Header.Get("Location"))
	resp, _ = s.do(t, "POST", "/login", "", url.Values{"caf": {"75"}, "number": {"1000000"}, "password": {"Tmp-pass"}})
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a migrated account no longer logs in with its beneficiary number")
}

func TestEdgeCachesOnlyWhatTheOriginAllows(t *testing.T) {
	cases := []struct {
		name    string
		defects []string
		rules   string
		leaks   bool
	}{
		{"correct portal, default rules", nil, "default", false},
		{"correct portal, surge rule", nil, "cache-dynamic", false},
		{"CAF defect, default rules", []string{DefectMigrationCacheHeaders}, "default", false},
		{"CAF defect, surge rule", []string{DefectMigrationCacheHeaders}, "cache-dynamic", true},
		{"CAF defect, surge rule keyed by session", []string{DefectMigrationCacheHeaders}, "cache-dynamic-per-session", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, tc.defects...)
			_, err := s.edge.Reload(tc.rules)
			require.NoError(t, err)
			a := s.migrate(t, 0)
			b := s.migrate(t, 1)
			_, first := s.do(t, "GET", "/dossier", a, nil)
			require.Contains(t, first, "1 85 05 75 123 456 00")
			resp, second := s.do(t, "GET", "/dossier", b, nil)
			leaked := strings.Contains(second, "1 85 05 75 123 456 00")
			assert.Equal(t, tc.leaks, leaked, "user b saw user a's dossier")
			if tc.leaks {
				assert.Equal(t, "HIT", resp.Header.Get(CacheHeader))
			}
		})
	}
}

func TestEdgeReloadIsVisible(t *testing.T) {
	s := newStack(t)
	resp, _ := s.do(t, "GET", "/healthz", "", nil)
	assert.Equal(t, "default#1", resp.Header.Get(EdgeConfigHeader))
	prev, err := s.edge.Reload("cache-dynamic")
	require.NoError(t, err)
	assert.Equal(t, "default", prev)
	resp, _ = s.do(t, "GET", "/healthz", "", nil)
	assert.Equal(t, "cache-dynamic#2", resp.Header.Get(EdgeConfigHeader))
	_, err = s.edge.Reload("cache-everything")
	assert.ErrorContains(t, err, `unknown edge rules "cache-everything" (known: cache-dynamic, cache-dynamic-per-session, default)`)
}

func TestUnknownDefectListsKnown(t *testing.T) {
	_, err := NewDefectSet("no-such")
	assert.ErrorContains(t, err, DefectMigrationCacheHeaders)
}

func TestValidIBAN(t *testing.T) {
	assert.True(t, ValidIBAN("FR7630006000011234567890189"))
	assert.True(t, ValidIBAN("GB82WEST12345698765432"))
	assert.False(t, ValidIBAN("FR7630006000011234567890188"))
	assert.False(t, ValidIBAN("FR76"))
	assert.False(t, ValidIBAN("FR76300060000112345678901$9"))
}

type failingAudit struct{}

func (failingAudit) Append(context.Context, AuditEntry) error {
	return errors.New("audit database down")
}

// A file access the portal cannot audit is refused: the correct portal
// fails closed on its audit log as on its stores. The blind-audit-log
// defect serves it anyway.
func TestUnauditableAccessIsRefused(t *testing.T) {
	for _, tc := range []struct {
		defects []string
		want    int
	}{{nil, http.StatusServiceUnavailable}, {[]string{DefectBlindAuditLog}, http.StatusOK}} {
		set, err := NewDefectSet(tc.defects...)
		require.NoError(t, err)
		accounts := NewMemAccounts(1)
		require.NoError(t, accounts.Add(Account{ID: 0, NIR: "185057512345600", CAF: "75", Number: "1000000", Adviser: 0,
			IBAN: "FR7630004000031234567890143", State: StateLegacy}))
		advisers, err := NewMemAdvisers([]Adviser{{ID: 0, Login: "CNS1", Salt: "s", PassHash: HashPassword("s", "pw"), TOTPSecret: "JBSWY3DPEHPK3PXP"}})
		require.NoError(t, err)
		sessions := NewMemSessions()
		require.NoError(t, sessions.Put(t.Context(), "tok", encodeSession(V1, Session{IsAdviser: true, Adviser: 0})))
		srv := httptest.NewServer(NewReplica("r1", Stores{Accounts: accounts, Sessions: sessions, Advisers: advisers, Audit: failingAudit{}}, set))
		t.Cleanup(srv.Close)
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/adviser/files/75/1000000", nil)
		req.Header.Set("Cookie", SessionCookie+"=tok")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, tc.want, resp.StatusCode, "defects %v", tc.defects)
	}
}

// TestEdgeCacheDropsExpiredEntries: entries keyed by sessions that ended
// are never looked up again; the cache drops them once it has doubled.
func TestEdgeCacheDropsExpiredEntries(t *testing.T) {
	e := &Edge{cache: map[string]*cached{}, sweepAt: 1024}
	past := time.Now().Add(-time.Second)
	for i := range 1023 {
		e.cache["k"+strconv.Itoa(i)] = &cached{expires: past}
	}
	e.cache["live"] = &cached{expires: time.Now().Add(time.Hour)}
	e.sweepLocked()
	assert.Len(t, e.cache, 1, "the expired entries are gone, the live one stays")
	assert.Equal(t, 1024, e.sweepAt)
}

// TestAuditLogReadDropsWhatWasRead: the audit log is read by position, and
// what its reader has read is dropped, so it stays small over a soak.
func TestAuditLogReadDropsWhatWasRead(t *testing.T) {
	l := NewAuditLog()
	ctx := context.Background()
	for i := range 5 {
		require.NoError(t, l.Append(ctx, AuditEntry{At: time.Now(), Reader: "a", Subject: i, Granted: true}))
	}
	got, _, next := l.Read(0)
	require.Len(t, got, 5)
	assert.Equal(t, int64(5), next)
	require.NoError(t, l.Append(ctx, AuditEntry{At: time.Now(), Reader: "a", Subject: 5, Granted: true}))
	got, _, next = l.Read(next)
	require.Len(t, got, 1)
	assert.Equal(t, 5, got[0].Subject)
	assert.Equal(t, int64(6), next)
	assert.Len(t, l.entries, 1, "the five entries read first are gone")
	got, _, next = l.Read(next)
	assert.Empty(t, got)
	assert.Equal(t, int64(6), next)
	assert.Empty(t, l.entries)
}

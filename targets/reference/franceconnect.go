package reference

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"

	"github.com/pquerna/otp/totp"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/harness/population"
	"github.com/crosstalk-dev/crosstalk/targets/idp"
	"github.com/crosstalk-dev/crosstalk/targets/portal"
)

// IdPHost is the name flows give the reference identity provider
// (portal.hosts.idp).
const IdPHost = "idp"

// The reference portal's registration with the reference identity
// provider. The secret guards a test system's back channel, nothing more.
const (
	FranceConnectClientID     = "crosstalk-portal"
	FranceConnectClientSecret = "crosstalk-portal-secret"
)

// IdPClients are the relying parties the reference identity provider
// knows: the reference portal, its callback on any loopback port.
func IdPClients() []idp.Client {
	return []idp.Client{{ID: FranceConnectClientID, Secret: FranceConnectClientSecret,
		RedirectURIs: []string{"http://127.0.0.1" + portal.FranceConnectCallbackPath}}}
}

// FranceConnectOf is the reference portal's configuration for a provider
// that browsers reach at public and the replicas at internal (the same URL
// on the embedded stack; the service's name in containers).
func FranceConnectOf(public, internal string) *portal.FranceConnect {
	return &portal.FranceConnect{AuthURL: public + idp.AuthorizePath, TokenURL: internal + idp.TokenPath,
		KeysURL: internal + idp.KeysPath, Issuer: internal, ClientID: FranceConnectClientID, ClientSecret: FranceConnectClientSecret}
}

// Directory is the identity provider's users: the population, each logging
// in with its NIR, its password at the provider and its one-time code.
type Directory struct{ Pop *population.Population }

// Authenticate implements idp.Directory.
func (d Directory) Authenticate(login, password, otp string) (idp.Identity, bool) {
	nir := strings.ReplaceAll(login, " ", "")
	i, ok := d.Pop.DecodeNIR([]byte(nir))
	if !ok || len(nir) != 15 {
		return idp.Identity{}, false
	}
	if subtle.ConstantTimeCompare([]byte(password), []byte(d.Pop.IdPPassword(i))) != 1 || !totp.Validate(otp, d.Pop.TOTPSecret(i)) {
		return idp.Identity{}, false
	}
	u := d.Pop.User(i)
	// A pairwise subject, as FranceConnect gives each service its own.
	h := sha256.Sum256([]byte(strconv.FormatUint(d.Pop.Seed(), 10) + "/" + FranceConnectClientID + "/" + strconv.Itoa(i)))
	return idp.Identity{Subject: hex.EncodeToString(h[:16]), Claims: map[string]any{
		"nir": u.NIR, "given_name": u.First, "family_name": u.Last}}, true
}

// FranceConnectFlow is the reference portal's login through the identity
// provider, then the dossier: the browser goes from the portal to the
// provider's login page (redirects followed across hosts), posts the NIR,
// the provider password and the current one-time code there, and follows
// the code back to the portal's callback and on to the dossier. The
// scenario franceconnect.yaml declares the same flow in YAML.
func FranceConnectFlow() harness.Flow {
	noOwn := 0.0
	return harness.Flow{Name: "franceconnect", States: []string{"migrated"}, Steps: []harness.Step{
		{Name: "start", Method: http.MethodGet, Path: portal.FranceConnectStartPath, Follow: true, ExpectOwn: &noOwn,
			Extract: map[string]harness.Extract{"challenge": {FormField: "challenge"}}},
		{Name: "idp-login", Host: IdPHost, Method: http.MethodPost, Path: idp.LoginPath, Expect: []int{http.StatusSeeOther}, Login: true, Follow: true,
			Form: map[string]string{"challenge": "{{.Vars.challenge}}", "login": "{{.User.NIR}}", "password": "{{.User.IdPPassword}}", "otp": "{{totp .User}}"}},
		get("dossier", "/dossier"),
		get("dossier-api", "/api/dossier"),
		{Name: "logout", Method: http.MethodPost, Path: "/logout", Expect: []int{http.StatusSeeOther}, Logout: true},
	}}
}

package harness

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
)

// WireSpec says how requests travel to an https:// target and which HTTP
// version they speak. By default crosstalk does what a browser does: it
// verifies the server's certificate against the system's roots, and speaks
// HTTP/2 when the server offers it by ALPN, HTTP/1.1 otherwise.
type WireSpec struct {
	// CAFile is a PEM file of certificate authorities to trust beside the
	// system's: a stack with a private CA or a self-signed certificate.
	CAFile string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
	// Insecure skips certificate verification; it is refused for any
	// target that is not on a loopback address.
	Insecure bool `yaml:"insecure,omitempty" json:"insecure,omitempty"`
	// HTTP is the protocol: auto (HTTP/2 when offered by ALPN, else
	// HTTP/1.1), 1.1, or 2 (HTTP/2 only; over http://, with prior knowledge).
	HTTP string `yaml:"http,omitempty" json:"http,omitempty"`
}

// HTTP versions a WireSpec can name.
var httpVersions = []string{"auto", "1.1", "2"}

// Wire returns the scenario's wire settings (portal.tls, portal.http) with
// the non-zero fields of over (the command line's) in their place. A CA
// file named in the scenario is relative to the scenario file.
func (s *Scenario) Wire(over WireSpec) (WireSpec, error) {
	var w WireSpec
	if p := s.Portal; p != nil {
		if p.TLS != nil {
			w.CAFile, w.Insecure = p.TLS.CAFile, p.TLS.Insecure
			if w.CAFile != "" && !filepath.IsAbs(w.CAFile) && s.Path != "" {
				w.CAFile = filepath.Join(filepath.Dir(s.Path), w.CAFile)
			}
		}
		w.HTTP = p.HTTP
	}
	if over.CAFile != "" {
		w.CAFile = over.CAFile
	}
	if over.Insecure {
		w.Insecure = true
	}
	if over.HTTP != "" {
		w.HTTP = over.HTTP
	}
	if w.HTTP == "" {
		w.HTTP = "auto"
	}
	if !slices.Contains(httpVersions, w.HTTP) {
		return w, BadInput("http version %q: want auto, 1.1 or 2", w.HTTP)
	}
	return w, nil
}

// check refuses settings that do not fit the target at base: skipping
// certificate checks is for loopback only.
func (w WireSpec) check(base string) error {
	if !w.Insecure {
		return nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return BadInput("target URL %q: %v", base, err)
	}
	if ip := net.ParseIP(u.Hostname()); (ip == nil || !ip.IsLoopback()) && u.Hostname() != "localhost" {
		return BadInput("--insecure skips certificate checks and is allowed only for a loopback target, not %s; "+
			"give the stack's CA with --ca-file instead", u.Hostname())
	}
	return nil
}

// tlsConfig returns the client TLS configuration of w.
func (w WireSpec) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: w.Insecure} //nolint:gosec // loopback only, see check
	if w.CAFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(w.CAFile)
	if err != nil {
		return nil, BadInput("CA file: %v", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, BadInput("CA file %s: no PEM certificate in it", w.CAFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// protocols returns the HTTP versions the transport may speak.
func (w WireSpec) protocols() *httpProtocols {
	p := new(httpProtocols)
	switch w.HTTP {
	case "1.1":
		p.SetHTTP1(true)
	case "2":
		p.SetHTTP2(true)
		p.SetUnencryptedHTTP2(true)
	default:
		p.SetHTTP1(true)
		p.SetHTTP2(true)
	}
	return p
}

func (w WireSpec) String() string {
	s := "HTTP " + w.HTTP
	if w.CAFile != "" {
		s += fmt.Sprintf(", CA %s", w.CAFile)
	}
	if w.Insecure {
		s += ", certificate not checked"
	}
	return s
}

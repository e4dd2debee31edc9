package harness

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// crosstalk sends load only to loopback addresses, or to hosts the user
// allowed by name. The check is made twice: on the target URL before the
// run (a clear refusal), and in the dialer for every connection (so that no
// redirect, DNS answer or bug can send traffic anywhere else).

// CheckTarget refuses a base URL whose host is not loopback and not allowed.
func CheckTarget(base string, allow []string) error {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return BadInput("target URL %q: want http://host:port", base)
	}
	if _, err := resolveAllowed(context.Background(), u.Hostname(), allow); err != nil {
		return BadInput("target URL %s: %v", base, err)
	}
	return nil
}

// resolveAllowed returns the address to dial for host: a loopback IP, or the
// host itself when the user allowed it explicitly.
func resolveAllowed(ctx context.Context, host string, allow []string) (string, error) {
	if slices.ContainsFunc(allow, func(a string) bool { return strings.EqualFold(a, host) }) {
		return host, nil
	}
	refuse := fmt.Errorf("host %s is not a loopback address; crosstalk sends load only to 127.0.0.1/::1 unless the host is allowed explicitly (--allow-host %s)", host, host)
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return "", refuse
		}
		return ip.String(), nil
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil || len(ips) == 0 {
		return "", fmt.Errorf("host %s does not resolve (%v); crosstalk sends load only to loopback addresses unless the host is allowed explicitly (--allow-host %s)", host, err, host)
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return "", refuse
		}
	}
	return ips[0].IP.String(), nil
}

// maxConnsPerHost bounds the harness's connections to one target.
const maxConnsPerHost = 2048

type httpProtocols = http.Protocols

// newSafeTransport returns the transport every harness request goes
// through: no proxy from the environment, a dialer that connects only to
// loopback or allowed hosts (TLS and HTTP/2 connections are dialled through
// it too), enough idle connections for the load, and the TLS trust and HTTP
// versions of w.
func newSafeTransport(allow []string, w WireSpec) (*http.Transport, error) {
	tlsCfg, err := w.tlsConfig()
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		TLSClientConfig:   tlsCfg,
		Protocols:         w.protocols(),
		ForceAttemptHTTP2: w.HTTP != "1.1",
		Proxy:             nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			ip, err := resolveAllowed(ctx, host, allow)
			if err != nil {
				return nil, err
			}
			return d.DialContext(ctx, network, net.JoinHostPort(ip, port))
		},
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: maxConnsPerHost,
		// Bounded: past this, requests wait for a connection (and the wait
		// counts in their latency) instead of exhausting file descriptors.
		MaxConnsPerHost: maxConnsPerHost,
		IdleConnTimeout: 30 * time.Second,
		// The harness asks for compressed pages as a browser does and
		// decodes them itself (harness/content), bounded, after the read.
		DisableCompression: true,
	}, nil
}

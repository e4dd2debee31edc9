package containers

import (
	"bytes"
	"fmt"
	"text/template"
	"time"

	"github.com/crosstalk-dev/crosstalk/targets/portal"
)

// nginx.conf of the edge, rendered from the same EdgeRules the embedded edge
// runs, so that a variant means the same cache behaviour on both stacks:
//
//	CacheDynamic   cache any GET answered 200, not only the public pages
//	HonourOrigin   nginx's default: no caching of private, no-store,
//	               no-cache or Set-Cookie responses; without it,
//	               proxy_ignore_headers Cache-Control Expires Set-Cookie
//	KeySession     the session cookie is part of proxy_cache_key
//	HideSetCookie  implied: nginx never stores a Set-Cookie response it
//	               honours, and a variant that ignores Set-Cookie replays it
//
// X-Edge-Config carries the variant and the reload's generation, the proof
// that a reload took effect (nginx keeps the old configuration, silently,
// when the new one is invalid).
var nginxTemplate = template.Must(template.New("nginx.conf").Parse(`# rendered by crosstalk: edge rules {{.Header}}
worker_processes 2;
error_log stderr warn;
pid /tmp/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  # Compress as most stacks' edges do: the harness asks for what a browser
  # asks for, so it receives gzip pages and judges them decoded.
  gzip on;
  gzip_comp_level 1;
  gzip_min_length 512;
  gzip_proxied any;
  gzip_vary on;
  gzip_types text/plain application/json;
  proxy_cache_path /var/cache/crosstalk levels=1:2 keys_zone=edge:32m max_size=512m inactive=10m use_temp_path=off;
  upstream portal {
{{- range .Replicas}}
    server {{.}}:8080 max_fails=1 fail_timeout=2s;
{{- end}}
    keepalive 256;
  }
  # Only the public pages are cacheable unless the rules cache dynamic pages.
  map $uri $private_path { default 1; / 0; /login 0; ~^/static/ 0; }
  server {
    listen 8080 backlog=4096;
    location / {
      proxy_pass http://portal;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_connect_timeout 1s;
      proxy_read_timeout 10s;
      proxy_next_upstream error timeout;
      proxy_cache edge;
      proxy_cache_methods GET;
      proxy_cache_key "{{.Key}}";
      proxy_cache_valid 200 {{.TTL}};
{{- if not .CacheDynamic}}
      proxy_no_cache $private_path;
      proxy_cache_bypass $private_path;
{{- end}}
{{- if not .HonourOrigin}}
      proxy_ignore_headers Cache-Control Expires Set-Cookie Vary;
{{- end}}
      add_header X-Edge-Config "{{.Header}}" always;
      add_header X-Cache $upstream_cache_status always;
    }
  }
}
`))

type nginxConfig struct {
	portal.EdgeRules
	Header   string
	Replicas []string
	Key      string
	TTL      string
}

// renderNginx returns the edge's nginx.conf for rules, in front of the
// replicas reached by the given host names.
func renderNginx(r portal.EdgeRules, header string, replicas []string) []byte {
	c := nginxConfig{EdgeRules: r, Header: header, Replicas: replicas,
		Key: "$scheme$proxy_host$request_uri", TTL: fmt.Sprintf("%ds", max(1, int(r.TTL.Round(time.Second).Seconds())))} // whole seconds: proxy_cache_valid takes no ms
	if r.KeySession {
		c.Key += "$cookie_" + portal.SessionCookie
	}
	var b bytes.Buffer
	if err := nginxTemplate.Execute(&b, c); err != nil {
		panic(err) // the template and its data are fixed by the program
	}
	return b.Bytes()
}

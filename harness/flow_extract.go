package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// jarHeader returns the Cookie header of the actor's cookies for host.
func jarHeader(jar map[string]string, host string) string {
	if len(jar) == 0 {
		return ""
	}
	prefix := host + "\x00"
	var names []string
	for k := range jar {
		if strings.HasPrefix(k, prefix) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for i, k := range names {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(k[len(prefix):] + "=" + jar[k])
	}
	return b.String()
}

// keepCookies puts the response's cookies into the actor's jar for the
// host that set them, as a browser does, except deletions and expired
// cookies (which remove theirs) and any value the session oracle refused:
// another user's session is never adopted.
func (e *engine) keepCookies(a *actor, x *exchange) {
	cookies := x.resp.Cookies()
	if len(cookies) == 0 {
		return
	}
	host := e.hostName[x.req.URL.Host]
	for _, c := range cookies {
		key := host + "\x00" + c.Name
		if expired(c) {
			delete(a.jar, key)
			continue
		}
		if x.refused(c.Value) {
			continue
		}
		if a.jar == nil {
			a.jar = map[string]string{}
		}
		a.jar[key] = c.Value
	}
}

// expired reports whether a Set-Cookie deletes its cookie.
func expired(c *http.Cookie) bool {
	return c.MaxAge < 0 || c.Value == "" || c.Value == "deleted" ||
		(!c.Expires.IsZero() && c.Expires.Before(time.Now()))
}

// extract returns the value x names in a response; a query parameter is
// read from location (the response's Location, or in a followed chain the
// last redirect's).
func extract(x Extract, re *regexp.Regexp, resp *http.Response, body []byte, location string) (string, bool) {
	switch {
	case x.Cookie != "":
		for _, c := range resp.Cookies() {
			if c.Name == x.Cookie && !expired(c) {
				return c.Value, true
			}
		}
	case x.Header != "":
		v := resp.Header.Get(x.Header)
		return v, v != ""
	case x.Query != "":
		u, err := url.Parse(location)
		if err != nil {
			return "", false
		}
		v := u.Query().Get(x.Query)
		return v, v != ""
	case x.JSON != "":
		var doc any
		if json.NewDecoder(bytes.NewReader(body)).Decode(&doc) != nil {
			return "", false
		}
		for _, part := range strings.Split(x.JSON[1:], "/") {
			part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
			switch d := doc.(type) {
			case map[string]any:
				doc = d[part]
			case []any:
				n, err := strconv.Atoi(part)
				if err != nil || n < 0 || n >= len(d) {
					return "", false
				}
				doc = d[n]
			default:
				return "", false
			}
		}
		switch v := doc.(type) {
		case string:
			return v, true
		case float64, bool:
			return fmt.Sprint(v), true
		}
	case re != nil:
		if m := re.FindSubmatch(body); m != nil {
			return string(m[1]), true
		}
	}
	return "", false
}

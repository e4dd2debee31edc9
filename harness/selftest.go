package harness

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness/content"
	"github.com/crosstalk-dev/crosstalk/harness/evidence"
	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// The oracle's self-test is the detection matrix of the canary scan: for
// every canary field and every thing a real page does to a value (escapes,
// separators, case, compression, chunking, a header, a tag inside it), one
// foreign value is planted in a realistic page, served over real HTTP on a
// loopback socket and received through the harness's own transport; it must
// be caught. The same page with the viewer's own values only must be clean.

// OracleCell is one cell of the oracle's self-test.
type OracleCell struct {
	Field     string `json:"field"`
	Transform string `json:"transform"`
	// State is caught, missed, flagged (the viewer's own page raised a
	// violation), out-of-reach (documented: the page hides the value) or
	// n/a (the transform does not apply to the field).
	State string `json:"state"`
}

// Cell states of the oracle self-test.
const (
	CellCaught     = "caught"
	CellMissed     = "MISSED"
	CellFlagged    = "FLAGGED"
	CellOutOfReach = "out of reach"
	CellNA         = "n/a"
)

// OracleTable is the outcome of the oracle self-test.
type OracleTable struct {
	Pass       bool         `json:"pass"`
	Users      int          `json:"users"`
	Fields     []string     `json:"fields"`
	Transforms []string     `json:"transforms"`
	Cells      []OracleCell `json:"cells"`
}

// Cell returns the cell of field under transform.
func (t *OracleTable) Cell(field, transform string) OracleCell {
	for _, c := range t.Cells {
		if c.Field == field && c.Transform == transform {
			return c
		}
	}
	return OracleCell{}
}

// cellResponse is what the self-test's server answers for one cell.
type cellResponse struct {
	status int
	header http.Header
	body   []byte
	coding string // Content-Encoding applied to body
	split  int    // > 0: the body is sent in two chunks, split here
}

// pageTransform is one column of the self-test: what a page does to a
// value. build renders the response carrying value (the field's canonical
// form) for the viewer whose own page page renders. outOfReach marks a
// transform that hides the value, documented as beyond any scan.
type pageTransform struct {
	name       string
	only       []population.Field
	outOfReach bool
	build      func(f population.Field, value string, page func(string) []byte) cellResponse
}

var selfTestUsers = 2_000 // small enough that every field is judged alone

// selfTestNoDecode turns content decoding off, to prove the self-test fails.
var selfTestNoDecode = false

// OracleSelfTest runs the oracle's self-test and returns its table.
func OracleSelfTest(ctx context.Context) (*OracleTable, error) {
	pop, err := population.New(77, selfTestUsers, population.DefaultMix)
	if err != nil {
		return nil, err
	}
	const viewer, owner = 11, 1234
	fields := population.Fields
	transforms := pageTransforms()
	type cellKey struct{ f, t int }
	responses := map[string]cellResponse{}
	for ti, tr := range transforms {
		for fi, f := range fields {
			if tr.only != nil && !containsField(tr.only, f) {
				continue
			}
			page := func(v string) []byte { return selfTestPage(pop, viewer, v) }
			key := fmt.Sprintf("/cell/%d/%d", fi, ti)
			responses[key+"/foreign"] = tr.build(f, fieldValue(pop, f, owner), page)
			responses[key+"/own"] = tr.build(f, fieldValue(pop, f, viewer), page)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := responses[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		serveCell(w, c)
	}))
	defer srv.Close()

	tr, err := newSafeTransport(nil, WireSpec{HTTP: "auto"})
	if err != nil {
		return nil, err
	}
	defer tr.CloseIdleConnections()
	e := newEngine(engineConfig{pop: pop, seed: pop.Seed(), base: srv.URL, next: tr, flows: pageFlow("/"),
		sensitive: allFields()})
	if selfTestNoDecode {
		e.decoder = content.New(1)
	}
	judge := func(path string) (foreign, any bool, err error) {
		e.rec = evidence.NewRecorder(pop.Size(), nil, 16, Oracles)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		if err != nil {
			return false, false, err
		}
		req.Header[attrHeader] = []string{strconv.Itoa(viewer)}
		e.users.get(viewer).begin(0)
		if resp, err := e.RoundTrip(req); err == nil {
			resp.Body.Close()
		} else if ctx.Err() != nil {
			return false, false, ctx.Err()
		}
		sum, _ := e.rec.Close()
		for _, v := range sum.Examples {
			if v.Owner == owner {
				foreign = true
			}
		}
		return foreign, sum.Total > 0, nil
	}

	t := &OracleTable{Pass: true, Users: pop.Size()}
	for _, f := range fields {
		t.Fields = append(t.Fields, f.String())
	}
	for ti, tr := range transforms {
		t.Transforms = append(t.Transforms, tr.name)
		for fi, f := range fields {
			cell := OracleCell{Field: f.String(), Transform: tr.name, State: CellNA}
			if tr.only == nil || containsField(tr.only, f) {
				key := fmt.Sprintf("/cell/%d/%d", fi, ti)
				caught, _, err := judge(key + "/foreign")
				if err != nil {
					return nil, err
				}
				_, flagged, err := judge(key + "/own")
				if err != nil {
					return nil, err
				}
				switch {
				case flagged:
					cell.State = CellFlagged
				case tr.outOfReach && !caught:
					cell.State = CellOutOfReach
				case caught:
					cell.State = CellCaught
				default:
					cell.State = CellMissed
				}
			}
			if cell.State == CellMissed || cell.State == CellFlagged {
				t.Pass = false
			}
			t.Cells = append(t.Cells, cell)
		}
	}
	return t, nil
}

func serveCell(w http.ResponseWriter, c cellResponse) {
	for k, v := range c.header {
		w.Header()[k] = v
	}
	body := c.body
	if c.coding != "" {
		enc, err := content.Encode(c.coding, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		body = enc
		w.Header().Set("Content-Encoding", c.coding)
	}
	status := c.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	if c.split > 0 && c.split < len(body) {
		// Two chunks of a chunked response, the value cut between them.
		_, _ = w.Write(body[:c.split])
		w.(http.Flusher).Flush()
		time.Sleep(time.Millisecond)
		body = body[c.split:]
	}
	_, _ = w.Write(body)
}

func containsField(list []population.Field, f population.Field) bool {
	for _, x := range list {
		if x == f {
			return true
		}
	}
	return false
}

// fieldValue is user i's value of f in its canonical form.
func fieldValue(pop *population.Population, f population.Field, i int) string {
	u := pop.User(i)
	switch f {
	case population.FieldNIR:
		return u.NIR
	case population.FieldIBAN:
		return u.IBAN
	case population.FieldPhone:
		return u.Phone
	}
	return u.Email
}

// groupSizes are the printed groups of each field.
func groupSizes(f population.Field) []int {
	switch f {
	case population.FieldNIR:
		return []int{1, 2, 2, 2, 3, 3}
	case population.FieldIBAN:
		return []int{4, 4, 4, 4, 4, 4}
	case population.FieldPhone:
		return []int{2, 2, 2, 2}
	}
	return nil
}

func grouped(f population.Field, v, sep string) string {
	var parts []string
	for _, n := range groupSizes(f) {
		if n >= len(v) {
			break
		}
		parts, v = append(parts, v[:n]), v[n:]
	}
	return strings.Join(append(parts, v), sep)
}

var digitFields = []population.Field{population.FieldNIR, population.FieldIBAN, population.FieldPhone}

func pageTransforms() []pageTransform {
	html := func(v string, page func(string) []byte) cellResponse {
		return cellResponse{header: http.Header{"Content-Type": {"text/html; charset=utf-8"}}, body: page(v)}
	}
	sep := func(name, s string) pageTransform {
		return pageTransform{name: name, only: digitFields, build: func(f population.Field, v string, page func(string) []byte) cellResponse {
			return html(grouped(f, v, s), page)
		}}
	}
	coded := func(coding string) pageTransform {
		return pageTransform{name: coding, build: func(f population.Field, v string, page func(string) []byte) cellResponse {
			c := html(grouped(f, v, " "), page)
			c.coding = coding
			return c
		}}
	}
	return []pageTransform{
		{name: "plain", build: func(f population.Field, v string, page func(string) []byte) cellResponse { return html(v, page) }},
		sep("spaces", " "),
		{name: "dots/dashes", only: digitFields, build: func(f population.Field, v string, page func(string) []byte) cellResponse {
			s := "-"
			if f == population.FieldPhone {
				s = "."
			}
			return html(grouped(f, v, s), page)
		}},
		sep("no-break", "\u00a0"),
		{name: "entities", build: func(f population.Field, v string, page func(string) []byte) cellResponse {
			if f == population.FieldEmail {
				return html(strings.Replace(v, "@", "&#64;", 1), page)
			}
			return html(grouped(f, v, "&nbsp;"), page)
		}},
		{name: "json \\u", build: func(f population.Field, v string, _ func(string) []byte) cellResponse {
			if f == population.FieldEmail {
				v = strings.Replace(v, "@", `\u0040`, 1)
			} else {
				v = grouped(f, v, `\u00a0`)
			}
			return cellResponse{header: http.Header{"Content-Type": {"application/json"}},
				body: []byte(`{"dossier":{"libelle":"Mes informations","valeur":"` + v + `","maj":"2024-10-10T21:04:00Z"}}`)}
		}},
		{name: "case", only: []population.Field{population.FieldIBAN, population.FieldEmail},
			build: func(f population.Field, v string, page func(string) []byte) cellResponse {
				if f == population.FieldIBAN {
					return html(strings.ToLower(grouped(f, v, " ")), page)
				}
				return html(strings.ToUpper(v), page)
			}},
		{name: "Location", build: func(f population.Field, v string, page func(string) []byte) cellResponse {
			c := html("", page)
			c.status = http.StatusFound
			c.header.Set("Location", "/recherche/"+url.PathEscape(grouped(f, v, " "))+"?retour=1")
			return c
		}},
		{name: "cookie", build: func(f population.Field, v string, page func(string) []byte) cellResponse {
			c := html("", page)
			c.header.Set("Set-Cookie", "derniere_recherche="+url.QueryEscape(grouped(f, v, " "))+"; Path=/; HttpOnly")
			return c
		}},
		coded("gzip"), coded("deflate"), coded("br"), coded("zstd"),
		{name: "chunked", build: func(f population.Field, v string, page func(string) []byte) cellResponse {
			c := html(grouped(f, v, " "), page)
			c.split = strings.Index(string(c.body), grouped(f, v, " ")) + len(v)/2
			return c
		}},
		{name: "inline tags", build: func(f population.Field, v string, page func(string) []byte) cellResponse {
			if f == population.FieldEmail { // the anti-spam habit: the @ in a tag of its own
				return html(strings.Replace(v, "@", "<span>@</span>", 1), page)
			}
			return html(grouped(f, v, "</span> <span>"), page)
		}},
		sep("line break", "\n          "),
		{name: "masked", outOfReach: true, build: func(f population.Field, v string, page func(string) []byte) cellResponse {
			return html(mask(f, v), page)
		}},
	}
}

// mask hides a value as portals do on display (FR76 **** ... 189): no
// scan can tell whose it is.
func mask(f population.Field, v string) string {
	if f == population.FieldEmail {
		at := strings.IndexByte(v, '@')
		return v[:1] + strings.Repeat("*", at-1) + v[at:]
	}
	b := []byte(v)
	for i := 4; i < len(b)-3; i++ {
		b[i] = '*'
	}
	return grouped(f, string(b), " ")
}

// selfTestPage renders user i's dossier page, a realistic page with the
// user's own data, with value planted in it.
func selfTestPage(pop *population.Population, i int, value string) []byte {
	u := pop.User(i)
	var b strings.Builder
	fmt.Fprintf(&b, `<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Mon dossier</title></head><body>
<header><nav><a href="/">Accueil</a> <a href="/dossier">Mon dossier</a></nav></header><main>
<h1>Bonjour %s %s</h1><dl>
<dt>Numero de securite sociale</dt><dd>%s</dd>
<dt>IBAN</dt><dd>%s</dd>
<dt>Courriel</dt><dd>%s</dd><dt>Telephone</dt><dd>%s</dd>
<dt>Adresse</dt><dd>%s, %s %s</dd></dl>
<section><h2>Dernier element consulte</h2><p><span>%s</span></p></section>
<table><tr><th>Date</th><th>Montant</th></tr>`, u.First, u.Last, grouped(population.FieldNIR, u.NIR, " "),
		grouped(population.FieldIBAN, u.IBAN, "\u00a0"), u.Email, grouped(population.FieldPhone, u.Phone, " "),
		u.Street, u.PostalCode, u.City, value)
	for m := 1; m <= 12; m++ {
		fmt.Fprintf(&b, "<tr><td>05/%02d/2024</td><td>%d,%02d&nbsp;€</td></tr>\n", m, 100+m*37, m*13%100)
	}
	b.WriteString("</table></main></body></html>")
	return []byte(b.String())
}

package canary

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// owned keeps the matches that decode to a user.
func owned(ms []Match) []Match {
	var out []Match
	for _, m := range ms {
		if m.Owner != NoOwner {
			out = append(out, m)
		}
	}
	return out
}

func testPop(tb testing.TB) *population.Population {
	tb.Helper()
	p, err := population.New(2021, 50_000, population.DefaultMix)
	require.NoError(tb, err)
	return p
}

// spaced groups s as "a bb cc ..." with sep, in the given group sizes.
func spaced(s, sep string, sizes ...int) string {
	var parts []string
	for _, n := range sizes {
		if n >= len(s) {
			break
		}
		parts = append(parts, s[:n])
		s = s[n:]
	}
	if s != "" {
		parts = append(parts, s)
	}
	return strings.Join(parts, sep)
}

func TestScanFindsFormattedCanaries(t *testing.T) {
	p := testPop(t)
	u := p.User(4321)
	nirSpaced := spaced(u.NIR, " ", 1, 2, 2, 2, 3, 3)
	ibanGrouped := spaced(u.IBAN, " ", 4, 4, 4, 4, 4, 4)
	phoneSpaced := spaced(u.Phone, " ", 2, 2, 2, 2)
	cases := []struct {
		name  string
		page  string
		field population.Field
	}{
		{"nir plain", "<td>" + u.NIR + "</td>", population.FieldNIR},
		{"nir spaced", "NIR : " + nirSpaced + "<br>", population.FieldNIR},
		{"nir nbsp entity", spaced(u.NIR, "&nbsp;", 1, 2, 2, 2, 3, 3), population.FieldNIR},
		{"nir nbsp utf8", spaced(u.NIR, "\u00a0", 1, 2, 2, 2, 3, 3), population.FieldNIR},
		{"nir narrow nbsp", spaced(u.NIR, "\u202f", 1, 2, 2, 2, 3, 3), population.FieldNIR},
		{"nir json escape", `{"nir":"` + spaced(u.NIR, `\u00a0`, 1, 2, 2, 2, 3, 3) + `"}`, population.FieldNIR},
		{"nir key apart", u.NIR[:13] + " " + u.NIR[13:], population.FieldNIR},
		{"nir across inline tags", spaced(u.NIR, "</span> <span>", 1, 2, 2, 2, 3, 3), population.FieldNIR},
		{"nir wrapped by the template", spaced(u.NIR, "\n      ", 1, 2, 2, 2, 3, 3), population.FieldNIR},
		{"nir after a json newline", `{"text":"NIR\n` + u.NIR + `"}`, population.FieldNIR},
		{"nir after a json nbsp escape", `NIR\u00a0` + u.NIR, population.FieldNIR},
		{"nir url-encoded spaces", "/search?nir=" + spaced(u.NIR, "%20", 1, 2, 2, 2, 3, 3), population.FieldNIR},
		{"nir form-encoded spaces", "nir=" + spaced(u.NIR, "+", 1, 2, 2, 2, 3, 3) + "&x=1", population.FieldNIR},
		{"iban compact", `"iban":"` + u.IBAN + `"`, population.FieldIBAN},
		{"iban grouped", "IBAN " + ibanGrouped, population.FieldIBAN},
		{"iban lower case", strings.ToLower(ibanGrouped), population.FieldIBAN},
		{"iban nbsp", spaced(u.IBAN, "\u00a0", 4, 4, 4, 4, 4, 4), population.FieldIBAN},
		{"phone spaced", "Tel. " + phoneSpaced, population.FieldPhone},
		{"phone dotted", spaced(u.Phone, ".", 2, 2, 2, 2), population.FieldPhone},
		{"phone intl", "+33 " + spaced(u.Phone[1:], " ", 1, 2, 2, 2), population.FieldPhone},
		{"phone 0033", "0033" + u.Phone[1:], population.FieldPhone},
		{"email", "mailto:" + u.Email, population.FieldEmail},
		{"email upper case", strings.ToUpper(u.Email), population.FieldEmail},
		{"email html entity", strings.Replace(u.Email, "@", "&#64;", 1), population.FieldEmail},
		{"email url encoded", "/contact?to=" + strings.Replace(u.Email, "@", "%40", 1), population.FieldEmail},
		{"email json escape", strings.Replace(u.Email, "@", `\u0040`, 1), population.FieldEmail},
	}
	s := NewScanner(p)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			page := []byte("<p>before</p>" + tc.page + "<p>after 2024-10-10</p>")
			ms := owned(s.Scan(nil, page))
			require.Len(t, ms, 1, "page %q", page)
			assert.Equal(t, tc.field, ms[0].Field)
			assert.Equal(t, 4321, ms[0].Owner)
			assert.Less(t, ms[0].Start, ms[0].End)
		})
	}
}

func TestScanIgnoresLookalikes(t *testing.T) {
	p := testPop(t)
	u := p.User(7)
	bad := []byte(u.NIR)
	bad[14] = '0' + (bad[14]-'0'+1)%10 // wrong key
	nirSpaced := spaced(u.NIR, " ", 1, 2, 2, 2, 3, 3)
	pages := []string{
		"",
		"12 " + nirSpaced + " 34",     // a NIR inside a longer run is not one
		"Commande n° 4" + u.NIR + "9", // nor inside an order number
		"token=ab" + u.Phone + "cd",   // nor a phone inside a hex token
		"id_" + u.NIR,                 // nor the tail of an identifier
		"x" + u.Email,                 // an address with a longer local part
		"<td>1 64</td><td>07 86</td>", // cells are not one value
		u.Phone + " " + u.Phone,       // two numbers a space apart are one run of groups
		"no digits at all",
		string(bad),
		"123456789012345",                    // 15 digits, bad key
		"Montant : 1 234,56 € le 05/10/2021", // amounts and dates
		"FR" + u.IBAN[2:26] + "0",            // altered IBAN
		u.Phone[:9],                          // truncated phone
		"jean.martin@example.fr",             // not a population e-mail
		"@@@&#64;%40\\u0040",
		strings.Repeat("9", 200), // a number longer than any canary
		u.Email[:strings.IndexByte(u.Email, '@')-1] + "@x", // digit missing
	}
	s := NewScanner(p)
	for _, pg := range pages {
		for _, m := range s.Scan(nil, []byte(pg)) {
			assert.Equal(t, NoOwner, m.Owner, "page %q: %+v", pg, m)
		}
	}
}

// A phone number inside a NIR (user #38's "1 64 07 86 309 087 88" holds
// "07 86 309 087") decoded as someone else's at 13.6 M users: a value is a
// candidate only as a whole run.
func TestScanNeverCountsAValueInsideALongerRun(t *testing.T) {
	p, err := population.New(20211010, 13_600_000, population.DefaultMix)
	require.NoError(t, err)
	s := NewScanner(p)
	for i := 0; i < 2000; i++ {
		u := p.User(i * 6761)
		page := "<dd>" + spaced(u.NIR, " ", 1, 2, 2, 2, 3, 3) + "</dd><dd>" + spaced(u.IBAN, "\u00a0", 4, 4, 4, 4, 4, 4) +
			"</dd><dd>" + spaced(u.Phone, " ", 2, 2, 2, 2) + "</dd>"
		for _, m := range s.Scan(nil, []byte(page)) {
			require.Equal(t, i*6761, m.Owner, "user #%d's page: %+v in %q", i*6761, m, page)
		}
	}
}

func TestScanTwoValuesSideBySide(t *testing.T) {
	p := testPop(t)
	a, b := p.User(10), p.User(20)
	s := NewScanner(p)
	for _, page := range []string{
		a.Phone + "\n" + b.Phone, // one per line
		a.Phone + "\t" + b.Phone, // a tab is a column gap, not a value's spacing
		a.Phone + "  " + b.NIR,   // so are two spaces
		a.NIR + ", " + b.NIR,
		spaced(a.Phone, " ", 2, 2, 2, 2) + "\n" + spaced(b.Phone, " ", 2, 2, 2, 2) + "\n",
	} {
		ms := s.Scan(nil, []byte(page))
		require.Len(t, ms, 2, "page %q", page)
		assert.Equal(t, []int{10, 20}, []int{ms[0].Owner, ms[1].Owner}, "page %q", page)
	}
	// Wrapped by a template, an IBAN's groups join across lines.
	ms := s.Scan(nil, []byte("FR"+spaced(a.IBAN[2:], "\n  ", 2, 4, 4, 4, 4, 4)))
	require.Len(t, ms, 1)
	assert.Equal(t, 10, ms[0].Owner)
}

func TestScanReportsEveryOwner(t *testing.T) {
	p := testPop(t)
	s := NewScanner(p)
	var b strings.Builder
	for i := 0; i < 50; i++ {
		u := p.User(i * 997)
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
			spaced(u.NIR, " ", 1, 2, 2, 2, 3, 3), u.IBAN, u.Email, u.Phone)
	}
	ms := owned(s.Scan(nil, []byte(b.String())))
	require.Len(t, ms, 200)
	owners := map[int]int{}
	for _, m := range ms {
		owners[m.Owner]++
	}
	assert.Len(t, owners, 50)
	for o, n := range owners {
		assert.Equal(t, 4, n, "owner %d", o)
	}
}

// DossierPage renders a realistic 16 KiB dossier page for user i: the
// owner's data, formatted as a portal would, among markup, prose, amounts
// and dates. Benchmarks and tests use it as the typical response.
func DossierPage(p *population.Population, i int) []byte {
	u := p.User(i)
	var b strings.Builder
	b.WriteString(`<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Mon dossier</title>
<link rel="stylesheet" href="/static/portal.css"></head><body><header><nav><a href="/">Accueil</a>
<a href="/dossier">Mon dossier</a><a href="/messages">Mes messages</a><a href="/logout">Se deconnecter</a></nav></header><main>`)
	fmt.Fprintf(&b, `<h1>Bonjour %s %s</h1><dl><dt>Numero de securite sociale</dt><dd>%s</dd>
<dt>Numero allocataire</dt><dd>%s %s</dd><dt>Adresse</dt><dd>%s, %s %s</dd><dt>Courriel</dt><dd>%s</dd>
<dt>Telephone</dt><dd>%s</dd><dt>IBAN</dt><dd>%s</dd><dt>Situation</dt><dd>%s</dd></dl>`,
		u.First, u.Last, spaced(u.NIR, "&nbsp;", 1, 2, 2, 2, 3, 3), u.CAF, u.Number, u.Street, u.PostalCode,
		u.City, u.Email, spaced(u.Phone, " ", 2, 2, 2, 2), spaced(u.IBAN, "\u00a0", 4, 4, 4, 4, 4, 4), u.Family)
	b.WriteString(`<table><thead><tr><th>Date</th><th>Prestation</th><th>Montant</th></tr></thead><tbody>`)
	for m := 0; b.Len() < 15*1024; m++ {
		fmt.Fprintf(&b, "<tr><td>05/%02d/2021</td><td>Allocations familiales, aide au logement</td><td>%d,%02d&nbsp;€</td></tr>\n",
			m%12+1, 100+m*37%900, m*13%100)
		if m%8 == 0 {
			b.WriteString(`<p class="help">Vos droits sont calcules a partir des ressources declarees. Pour toute question,
contactez votre caisse depuis la rubrique Mes messages. Les versements ont lieu le 5 de chaque mois.</p>`)
		}
	}
	b.WriteString(`</tbody></table></main><footer>Caisse d'allocations familiales - mentions legales - accessibilite</footer></body></html>`)
	out := []byte(b.String())
	for len(out) < 16*1024 {
		out = append(out, ' ')
	}
	return out[:16*1024]
}

func TestDossierPageHasItsOwnersData(t *testing.T) {
	p := testPop(t)
	s := NewScanner(p)
	page := DossierPage(p, 99)
	ms := owned(s.Scan(nil, page))
	require.Len(t, ms, 4)
	for _, m := range ms {
		assert.Equal(t, 99, m.Owner)
	}
}

func BenchmarkScan(b *testing.B) {
	p := testPop(b)
	s := NewScanner(p)
	page := DossierPage(p, 123)
	dst := make([]Match, 0, 16)
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst = s.Scan(dst[:0], page)
	}
	if len(dst) != 4 {
		b.Fatalf("found %d canaries, want 4", len(dst))
	}
}

// BenchmarkScanPopulationSize shows that the scan cost does not depend on
// how many users exist: the same page, a population 300 times larger.
func BenchmarkScanPopulationSize(b *testing.B) {
	for _, n := range []int{50_000, 13_600_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			p, err := population.New(2021, n, population.DefaultMix)
			require.NoError(b, err)
			s := NewScanner(p)
			page := DossierPage(p, 123)
			b.SetBytes(int64(len(page)))
			b.ReportAllocs()
			var dst []Match
			for i := 0; i < b.N; i++ {
				dst = s.Scan(dst[:0], page)
			}
		})
	}
}

func FuzzScan(f *testing.F) {
	p, err := population.New(9, 5000, population.DefaultMix)
	require.NoError(f, err)
	s := NewScanner(p)
	u := p.User(12)
	f.Add([]byte(u.NIR + " " + u.Email))
	f.Add([]byte(spaced(u.IBAN, "&nbsp;", 4, 4, 4, 4, 4, 4)))
	f.Add([]byte("+33 " + u.Phone[1:] + "&#64;\\u00a0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range s.Scan(nil, b) {
			require.True(t, m.Start >= 0 && m.Start < m.End && m.End <= len(b), "match %+v out of %d bytes", m, len(b))
			require.True(t, m.Owner == NoOwner || (m.Owner >= 0 && m.Owner < p.Size()))
		}
	})
}

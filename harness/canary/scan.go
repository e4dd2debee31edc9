// Package oracle finds the data of synthetic users in responses and judges
// whether a response reached the user it belonged to.
//
// The Scanner reads every byte of a response once and reports each canary
// (NIR, IBAN, e-mail, phone) it finds with the user it decodes to. It
// tolerates the formatting real pages apply: digit groups separated by
// spaces, dots, dashes, no-break spaces (raw, HTML entity or JSON escape),
// "FR" in any case, an escaped or percent-encoded '@', upper-case e-mails.
// It allocates nothing and keeps no state between calls, so its cost is
// O(bytes scanned) in time and independent of the population size in memory.
package oracle

import (
	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// Match is one canary found in a scanned buffer.
type Match struct {
	Field population.Field
	Owner int // the user the value decodes to
	Gen   int // IBAN generation (0 for other fields)
	Start int // byte offset of the value's first byte
	End   int // byte offset just past the value
}

// Scanner finds canaries of one population. It is safe for concurrent use.
type Scanner struct {
	pop *population.Population
}

// NewScanner returns a scanner for the canaries of pop.
func NewScanner(pop *population.Population) *Scanner { return &Scanner{pop: pop} }

const (
	clsNone = iota
	clsDigit
	clsAt     // '@'
	clsEscape // '&', '%' or '\\': may start an escaped '@'
)

var class = func() (c [256]uint8) {
	for d := '0'; d <= '9'; d++ {
		c[d] = clsDigit
	}
	c['@'] = clsAt
	c['&'], c['%'], c['\\'] = clsEscape, clsEscape, clsEscape
	return c
}()

// Scan appends to dst every canary in b and returns the extended slice.
func (s *Scanner) Scan(dst []Match, b []byte) []Match {
	i := 0
	for i < len(b) {
		// The fast path: most bytes of a page are markup and prose. Eight
		// table lookups OR-ed together cost one branch per word.
		for i+8 <= len(b) {
			w := b[i : i+8 : i+8]
			if class[w[0]]|class[w[1]]|class[w[2]]|class[w[3]]|
				class[w[4]]|class[w[5]]|class[w[6]]|class[w[7]] != clsNone {
				break
			}
			i += 8
		}
		for i < len(b) && class[b[i]] == clsNone {
			i++
		}
		if i >= len(b) {
			break
		}
		switch class[b[i]] {
		case clsDigit:
			dst, i = s.digitRun(dst, b, i)
		case clsAt:
			dst = s.email(dst, b, i, 1)
			i++
		case clsEscape:
			if n := escapedAt(b[i:]); n > 0 {
				dst = s.email(dst, b, i, n)
				i += n
			} else {
				i++
			}
		}
	}
	return dst
}

func (s *Scanner) email(dst []Match, b []byte, at, atLen int) []Match {
	if owner, start, ok := s.pop.MatchEmail(b, at); ok {
		end := at + atLen
		for end < len(b) && isMailByte(b[end]) {
			end++
		}
		dst = append(dst, Match{Field: population.FieldEmail, Owner: owner, Start: start, End: end})
	}
	return dst
}

func isMailByte(c byte) bool {
	return c-'a' < 26 || c-'A' < 26 || c-'0' < 10 || c == '.' || c == '-'
}

// escapedAt returns the length of an escaped '@' at the start of b, or 0.
func escapedAt(b []byte) int {
	if len(b) < 3 || (b[1] != '#' && b[1] != '4' && b[1] != 'u' && b[1] != 'c') {
		return 0
	}
	for _, e := range atEscapes {
		if hasPrefixFold(b, e) {
			return len(e)
		}
	}
	return 0
}

var atEscapes = []string{"&#64;", "&#x40;", "%40", `\u0040`, "&commat;"}

const (
	maxRunDigits = 64
	maxGroups    = 32
	maxWindow    = 25 // the longest canary in digits: an IBAN after "FR"
)

// digitRun handles the run of digit groups that starts at b[i] (groups joined
// by one separator each) and returns where it ends. Windows on group
// boundaries find a "06 12 34 56 78" even when the page glues other numbers
// to it.
func (s *Scanner) digitRun(dst []Match, b []byte, i int) ([]Match, int) {
	// Most runs on a page are dates and amounts, shorter than any canary:
	// measure the run first and leave before touching the window tables.
	end, nd := i, 0
	for {
		for end < len(b) && isDigit(b[end]) {
			end++
			nd++
		}
		n := sepLen(b[end:])
		if n == 0 || end+n >= len(b) || !isDigit(b[end+n]) {
			break
		}
		end += n
	}
	if nd < minCanaryDigits {
		return dst, end
	}
	return s.windows(dst, b, i), end
}

// minCanaryDigits is the digit count of the shortest canary, a phone number.
const minCanaryDigits = 10

// windows reads the run of digit groups that starts at b[i] and tries every
// window of whole consecutive groups whose digit count is a canary's.
func (s *Scanner) windows(dst []Match, b []byte, i int) []Match {
	var (
		digits [maxRunDigits]byte
		gDigit [maxGroups + 1]uint8 // index in digits where group g starts
		gPos   [maxGroups]int       // byte offset where group g starts
		gEnd   [maxGroups]int       // byte offset where group g ends
		nd, ng int
	)
	for {
		j := i
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		if nd+j-i > maxRunDigits || ng == maxGroups {
			// A number longer than any canary run: windows stop here, the
			// rest of the run is skipped.
			break
		}
		gDigit[ng], gPos[ng], gEnd[ng] = uint8(nd), i, j
		nd += copy(digits[nd:], b[i:j])
		ng++
		i = j
		n := sepLen(b[i:])
		if n == 0 || i+n >= len(b) || !isDigit(b[i+n]) {
			break
		}
		i += n
	}
	gDigit[ng] = uint8(nd)

	for gs := 0; gs < ng; gs++ {
		from := int(gDigit[gs])
		for ge := gs; ge < ng; ge++ {
			w := digits[from:gDigit[ge+1]]
			if len(w) > maxWindow {
				break
			}
			if m, ok := s.window(w, b, gPos[gs]); ok {
				m.Start, m.End = gPos[gs], gEnd[ge]
				dst = append(dst, m)
			}
		}
	}
	return dst
}

// window decodes one candidate: w are the digits, start the byte offset where
// they begin in b (to look for an IBAN's "FR").
func (s *Scanner) window(w, b []byte, start int) (Match, bool) {
	switch len(w) {
	case 15:
		if w[0] == '1' || w[0] == '2' {
			if o, ok := s.pop.DecodeNIR(w); ok {
				return Match{Field: population.FieldNIR, Owner: o}, true
			}
		}
	case 10:
		if o, ok := s.pop.DecodePhone(w); ok {
			return Match{Field: population.FieldPhone, Owner: o}, true
		}
	case 11, 13: // +33 6 12 34 56 78, 0033 6 12 34 56 78
		off := len(w) - 9
		if string(w[:off]) == "33" || string(w[:off]) == "0033" {
			var nat [10]byte
			nat[0] = '0'
			copy(nat[1:], w[off:])
			if o, ok := s.pop.DecodePhone(nat[:]); ok {
				return Match{Field: population.FieldPhone, Owner: o}, true
			}
		}
	case 25:
		if start >= 2 && b[start-2]|0x20 == 'f' && b[start-1]|0x20 == 'r' {
			if o, g, ok := s.pop.DecodeIBAN(w); ok {
				return Match{Field: population.FieldIBAN, Owner: o, Gen: g}, true
			}
		}
	}
	return Match{}, false
}

// sepLen returns the length of a digit-group separator at the start of b, or
// 0: a space, dot or dash, a no-break or narrow no-break space (UTF-8, HTML
// entity or JSON escape).
func sepLen(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	switch b[0] {
	case ' ', '.', '-':
		return 1
	case 0xC2: // U+00A0
		if len(b) > 1 && b[1] == 0xA0 {
			return 2
		}
	case 0xE2: // U+202F narrow no-break space, U+2009 thin space
		if len(b) > 2 && b[1] == 0x80 && (b[2] == 0xAF || b[2] == 0x89) {
			return 3
		}
	case '&', '\\':
		if len(b) < 6 || (b[1] != 'n' && b[1] != '#' && b[1] != 't' && b[1] != 'u') {
			return 0
		}
		for _, e := range sepEscapes {
			if hasPrefixFold(b, e) {
				return len(e)
			}
		}
	}
	return 0
}

var sepEscapes = []string{"&nbsp;", "&#160;", "&#xa0;", "&#8239;", "&#x202f;", "&#8201;", "&thinsp;", `\u00a0`, `\u202f`}

func isDigit(c byte) bool { return c-'0' < 10 }

func hasPrefixFold(b []byte, p string) bool {
	if len(b) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := b[i]
		if c-'A' < 26 {
			c += 'a' - 'A'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}

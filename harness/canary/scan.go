// Package canary finds the data of synthetic users in responses: every NIR,
// IBAN, e-mail address and mobile number that decodes to a user of the run,
// wherever a page puts it, and the strength of that evidence at the run's
// population size.
//
// The Scanner reads every byte of a response once. It tolerates what real
// pages do to a value: digit groups separated by spaces, dots, dashes,
// no-break spaces (raw, HTML entity, JSON or URL escape), a line break in the
// page's source, inline HTML tags (<span>, <b>...) inside the value, "FR" in
// any case, an escaped or percent-encoded '@', upper-case e-mails. It never
// counts a value embedded in something longer: a run of digit groups is a
// candidate only as a whole (a phone number inside a NIR, a NIR inside an
// order number are not values of their own), and only when no letter or
// digit touches it (a digit run inside a hexadecimal token is not one).
//
// It allocates nothing and keeps no state between calls, so its cost is
// O(bytes scanned) in time and independent of the population size in memory.
package canary

import (
	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// NoOwner is the owner of a well-formed value that decodes to nobody of the
// population: evidence that the page shows such values, which the
// false-match bound counts.
const NoOwner = -1

// Match is one value found in a scanned buffer.
type Match struct {
	Field population.Field
	Owner int // the user the value decodes to, or NoOwner
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
	clsEscape // '&', '%' or '\\': may start an escaped '@' or an escape to skip
)

var class = func() (c [256]uint8) {
	for d := '0'; d <= '9'; d++ {
		c[d] = clsDigit
	}
	c['@'] = clsAt
	c['&'], c['%'], c['\\'] = clsEscape, clsEscape, clsEscape
	return c
}()

// Scan appends to dst every well-formed value in b (with NoOwner for those
// of nobody) and returns the extended slice.
func (s *Scanner) Scan(dst []Match, b []byte) []Match {
	i, delim := 0, 0 // delim: a run starting here follows an escape, a delimiter
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
			dst, i = s.digitRun(dst, b, i, i == delim)
		case clsAt:
			dst = s.email(dst, b, i, 1)
			i++
		case clsEscape:
			if n := escapedAt(b[i:]); n > 0 {
				dst = s.email(dst, b, i, n)
				i += n
			} else if n := escapeLen(b[i:]); n > 0 {
				// Skip the whole escape, so that its own digits (\u00a0,
				// %20, &#160;) never start or join a run.
				i += n
				delim = i
			} else {
				i++
			}
		}
	}
	return dst
}

func (s *Scanner) email(dst []Match, b []byte, at, atLen int) []Match {
	owner, start, ok := s.pop.MatchEmail(b, at)
	if !ok && at > 0 && b[at-1] == '>' {
		owner, start, ok = s.emailAcrossTags(b, at)
	} else if ok && start > 0 && isMailLocal(b[start-1]) {
		ok = false // an address whose local part is longer
	}
	if !ok {
		return dst
	}
	end := at + atLen
	for end < len(b) && isMailByte(b[end]) {
		end++
	}
	return append(dst, Match{Field: population.FieldEmail, Owner: owner, Start: start, End: end})
}

// emailAcrossTags matches an address whose local part a page split with
// inline tags (marie.martin123<span>@</span>..., an anti-spam habit): it
// reads the local part backwards from the '@', skipping the tags, into a
// buffer of its own.
func (s *Scanner) emailAcrossTags(b []byte, at int) (owner, start int, ok bool) {
	var rev [80]byte
	n, i := 0, at-1
	for i >= 0 && n < len(rev) {
		if b[i] == '>' {
			lt := i - 1
			for lt >= 0 && i-lt < 256 && b[lt] != '<' {
				lt--
			}
			if lt < 0 || b[lt] != '<' || inlineTagLen(b[lt:]) != i-lt+1 {
				break
			}
			i = lt - 1
			continue
		}
		if !isMailLocal(b[i]) {
			break
		}
		rev[n] = b[i]
		n++
		i--
	}
	var local [81]byte
	for k := 0; k < n; k++ {
		local[k] = rev[n-1-k]
	}
	local[n] = '@'
	o, st, ok := s.pop.MatchEmail(local[:n+1], n)
	if !ok || st > 0 {
		return 0, 0, false // not an address, or a longer local part
	}
	return o, i + 1, true
}

func isMailByte(c byte) bool {
	return c-'a' < 26 || c-'A' < 26 || c-'0' < 10 || c == '.' || c == '-'
}

func isMailLocal(c byte) bool { return isMailByte(c) || c == '_' || c == '+' || c == '%' }

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

// escapeLen returns the length of a JSON \uXXXX escape, a percent-escape
// %XX or a numeric HTML entity &#...; at the start of b, or 0.
func escapeLen(b []byte) int {
	switch {
	case len(b) >= 6 && b[0] == '\\' && b[1] == 'u' && isHex(b[2]) && isHex(b[3]) && isHex(b[4]) && isHex(b[5]):
		return 6
	case len(b) >= 3 && b[0] == '%' && isHex(b[1]) && isHex(b[2]):
		return 3
	case len(b) >= 4 && b[0] == '&' && b[1] == '#':
		for j := 2; j < len(b) && j < 10; j++ {
			if b[j] == ';' {
				return j + 1
			}
			if !isHex(b[j]) && b[j]|0x20 != 'x' {
				return 0
			}
		}
	}
	return 0
}

const maxRunDigits = 64

// digitRun reads the run of digit groups that starts at b[i] and returns
// where it ends. The run is a candidate only as a whole, only if nothing
// word-like touches it, and only if its digit count is a canary's.
func (s *Scanner) digitRun(dst []Match, b []byte, i int, afterEscape bool) ([]Match, int) {
	// Most runs on a page are dates and amounts: measure the run first,
	// copying nothing, and leave unless it has a canary's length.
	start, nd := i, 0
	for {
		j := i
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		left := j - i
		nd += left
		i = j
		if i >= len(b) || !mayJoin[b[i]] {
			break
		}
		n, lineBreak := joinerLen(b[i:])
		if n == 0 || i+n >= len(b) || !isDigit(b[i+n]) {
			break
		}
		k := i + n
		for k < len(b) && isDigit(b[k]) {
			k++
		}
		if !joins(left, k-(i+n), lineBreak) {
			break
		}
		if lineBreak && nd <= maxRunDigits {
			var d [maxRunDigits]byte
			if wholeValue(d[:collect(&d, b[start:i])], ibanContext(b, start)) {
				break
			}
		}
		i += n
	}
	end := i
	if nd > maxRunDigits || !lengths[nd] || !delimitedAfter(b, end) {
		return dst, end
	}
	if nd == 25 { // an IBAN: "FR" and its check digits, then the BBAN
		if !ibanContext(b, start) || !delimitedBefore(b, start-2, false) {
			return dst, end
		}
	} else if !delimitedBefore(b, start, afterEscape) {
		return dst, end
	}
	var d [maxRunDigits]byte
	if m, ok := s.window(d[:collect(&d, b[start:end])]); ok {
		m.Start, m.End = start, end
		dst = append(dst, m)
	}
	return dst, end
}

// collect copies the digits of b (a run: digit groups and what joins them)
// into d and returns how many there are. Digits inside a joiner (an escape
// such as %20 or &#160;) are not the value's: joiners are skipped whole.
func collect(d *[maxRunDigits]byte, b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		if isDigit(b[i]) {
			if n < maxRunDigits {
				d[n] = b[i]
				n++
			}
			i++
			continue
		}
		j, _ := joinerLen(b[i:])
		i += max(j, 1)
	}
	return n
}

// mayJoin marks the bytes a joiner can start with.
var mayJoin = func() (t [256]bool) {
	for _, c := range []byte{' ', '.', '-', '+', '\t', '\n', '\r', 0xC2, 0xE2, '&', '\\', '%', '<'} {
		t[c] = true
	}
	return t
}()

// wholeValue reports whether d, the digits of a run so far, already make a
// whole mobile number or NIR: a line break after one ends the run (values
// printed one per line), except inside an IBAN, whose groups a template may
// wrap anywhere.
func wholeValue(d []byte, iban bool) bool {
	switch {
	case iban:
		return false
	case len(d) == 10:
		return d[0] == '0' && (d[1] == '6' || d[1] == '7')
	case len(d) == 15:
		return d[0] == '1' || d[0] == '2'
	}
	return false
}

// ibanContext reports whether the run at b[start] follows "FR".
func ibanContext(b []byte, start int) bool {
	return start >= 2 && b[start-2]|0x20 == 'f' && b[start-1]|0x20 == 'r'
}

// joins reports whether a joiner between a group of left digits and one of
// right digits makes them one run. A line break in the page's source shows
// as a space: it joins the printed groups of a value a template wrapped, at
// most four digits each, never two numbers printed one per line. Any other
// joiner joins: a value with a single space between it and another number
// is part of a longer run, and is not counted.
func joins(left, right int, lineBreak bool) bool {
	return !lineBreak || (left <= maxWrappedGroup && right <= maxWrappedGroup)
}

// maxWrappedGroup is the longest digit group a line break joins: the
// printed groups of a NIR, an IBAN or a phone number have at most four.
const maxWrappedGroup = 4

// lengths are the digit counts of canaries: a phone number (10; 11 as +33,
// 13 as 0033), a NIR (15), an IBAN after "FR" (25).
var lengths = func() (l [maxRunDigits + 1]bool) {
	for _, n := range []int{10, 11, 13, 15, 25} {
		l[n] = true
	}
	return l
}()

// window decodes one candidate run of digits.
func (s *Scanner) window(w []byte) (Match, bool) {
	switch len(w) {
	case 15:
		if w[0] == '1' || w[0] == '2' {
			if o, st := s.pop.DecodeNIRStatus(w); st != population.Malformed {
				return Match{Field: population.FieldNIR, Owner: owner(o, st)}, true
			}
		}
	case 10:
		if o, st := s.pop.DecodePhoneStatus(w); st != population.Malformed {
			return Match{Field: population.FieldPhone, Owner: owner(o, st)}, true
		}
	case 11, 13: // +33 6 12 34 56 78, 0033 6 12 34 56 78
		off := len(w) - 9
		if string(w[:off]) == "33" || string(w[:off]) == "0033" {
			var nat [10]byte
			nat[0] = '0'
			copy(nat[1:], w[off:])
			if o, st := s.pop.DecodePhoneStatus(nat[:]); st != population.Malformed {
				return Match{Field: population.FieldPhone, Owner: owner(o, st)}, true
			}
		}
	case 25:
		if o, g, st := s.pop.DecodeIBANStatus(w); st != population.Malformed {
			return Match{Field: population.FieldIBAN, Owner: owner(o, st), Gen: g}, true
		}
	}
	return Match{}, false
}

func owner(o int, st population.Status) int {
	if st == population.Nobody {
		return NoOwner
	}
	return o
}

// joinerLen returns the length of what joins two digit groups of one value
// at the start of b, or 0: one separator (a space, dot, dash or plus, a
// no-break, narrow no-break or thin space as UTF-8, HTML entity, JSON or URL
// escape, or a line break in the source with its indentation), and inline
// HTML tags around it, which a browser renders inside the value.
func joinerLen(b []byte) (n int, lineBreak bool) {
	n, lineBreak = sepLen(b)
	for tags := 0; tags < 4; tags++ {
		t := inlineTagLen(b[n:])
		if t == 0 {
			break
		}
		n += t
		if m, lb := sepLen(b[n:]); m > 0 && !(lb && lineBreak) {
			n += m
			lineBreak = lineBreak || lb
		}
	}
	return n, lineBreak
}

func sepLen(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	switch b[0] {
	case ' ', '.', '-', '+', '\t', '\n', '\r':
		if b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r' {
			// Whitespace: one space; a run with a line break in it is the
			// source's wrapping and its indentation. Tabs and several
			// spaces are column gaps, not a value's spacing.
			n, lb := 0, false
			for n < len(b) && n < 64 && (b[n] == ' ' || b[n] == '\t' || b[n] == '\n' || b[n] == '\r') {
				lb = lb || b[n] == '\n' || b[n] == '\r'
				n++
			}
			if !lb && (n > 1 || b[0] == '\t') {
				return 0, false
			}
			return n, lb
		}
		return 1, false
	case 0xC2: // U+00A0
		if len(b) > 1 && b[1] == 0xA0 {
			return 2, false
		}
	case 0xE2: // U+202F narrow no-break space, U+2009 thin space
		if len(b) > 2 && b[1] == 0x80 && (b[2] == 0xAF || b[2] == 0x89) {
			return 3, false
		}
	case '&', '\\', '%':
		if len(b) < 3 {
			return 0, false
		}
		for _, e := range sepEscapes {
			if hasPrefixFold(b, e) {
				return len(e), false
			}
		}
	}
	return 0, false
}

var sepEscapes = []string{"&nbsp;", "&#160;", "&#xa0;", "&#8239;", "&#x202f;", "&#8201;", "&thinsp;",
	`\u00a0`, `\u202f`, `\u2009`, "%20", "%C2%A0", "%E2%80%AF"}

// inlineTagLen returns the length of an inline HTML tag (opening or
// closing) or comment at the start of b, or 0. Block and table tags are not
// inline: a browser shows what they separate apart.
func inlineTagLen(b []byte) int {
	if len(b) < 3 || b[0] != '<' {
		return 0
	}
	if hasPrefixFold(b, "<!--") {
		for j := 4; j+2 < len(b) && j < 256; j++ {
			if b[j] == '-' && b[j+1] == '-' && b[j+2] == '>' {
				return j + 3
			}
		}
		return 0
	}
	j := 1
	if b[j] == '/' {
		j++
	}
	k := j
	for k < len(b) && (b[k]|0x20-'a' < 26) {
		k++
	}
	if k == j || k-j > 6 || !isInlineTag(b[j:k]) {
		return 0
	}
	for ; k < len(b) && k < 256; k++ {
		switch b[k] {
		case '>':
			return k + 1
		case '<':
			return 0
		}
	}
	return 0
}

// isInlineTag reports whether name (at most 6 letters) is an inline
// element, which a browser renders inside the surrounding text.
func isInlineTag(name []byte) bool {
	var buf [6]byte
	for i, c := range name {
		buf[i] = c | 0x20
	}
	switch string(buf[:len(name)]) { // a switch on constants: no allocation, no hashing
	case "a", "b", "i", "q", "s", "u", "em", "bdi", "bdo", "dfn", "kbd", "sub", "sup", "var", "wbr",
		"abbr", "cite", "code", "data", "font", "mark", "samp", "span", "time", "small", "strong":
		return true
	}
	return false
}

// isWord reports whether c is part of a token: a letter, digit or '_'.
func isWord(c byte) bool { return c-'a' < 26 || c-'A' < 26 || c-'0' < 10 || c == '_' }

// delimitedBefore reports whether the run starting at b[start] is not the
// end of a longer token. A JSON escape (\n, \t, \r) before it is a delimiter.
func delimitedBefore(b []byte, start int, afterEscape bool) bool {
	if start == 0 || afterEscape || !isWord(b[start-1]) {
		return true
	}
	c := b[start-1]
	return (c == 'n' || c == 't' || c == 'r') && start >= 2 && b[start-2] == '\\'
}

// delimitedAfter reports whether nothing word-like follows the run.
func delimitedAfter(b []byte, end int) bool { return end == len(b) || !isWord(b[end]) }

func isDigit(c byte) bool { return c-'0' < 10 }

func isHex(c byte) bool { return c-'0' < 10 || c|0x20-'a' < 6 }

func hasPrefixFold(b []byte, p string) bool {
	if len(b) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := b[i]
		if c-'A' < 26 {
			c += 'a' - 'A'
		}
		pc := p[i]
		if pc-'A' < 26 {
			pc += 'a' - 'A'
		}
		if c != pc {
			return false
		}
	}
	return true
}

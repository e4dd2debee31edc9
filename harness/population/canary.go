package population

import (
	"strconv"
)

// Field names an identifying value that decodes to its owner.
type Field uint8

// The canary fields. The beneficiary number is identifying but is not a
// canary: seven digits occur by chance in any page (amounts, dates, ids), so
// scanning for it would flag innocent responses.
const (
	FieldNIR Field = iota + 1
	FieldIBAN
	FieldEmail
	FieldPhone
)

func (f Field) String() string {
	switch f {
	case FieldNIR:
		return "nir"
	case FieldIBAN:
		return "iban"
	case FieldEmail:
		return "email"
	case FieldPhone:
		return "phone"
	}
	return "field(" + strconv.Itoa(int(f)) + ")"
}

// nirDomain is the number of NIRs the generator can produce: sex (2) x year
// of birth (100) x month (12) x department (94) x commune (990) x order (999).
const nirDomain = 2 * 100 * 12 * 94 * 990 * 999

// NIR returns user i's social-security number: 13 digits and the 2-digit key.
func (p *Population) NIR(i int) string {
	v := p.nir.enc(uint64(i))
	sex := v%2 + 1
	v /= 2
	yy := v % 100
	v /= 100
	mm := v%12 + 1
	v /= 12
	dep := departments[v%94]
	v /= 94
	commune := v%990 + 1
	order := v/990 + 1
	n := sex*1e12 + yy*1e10 + mm*1e8 + dep*1e6 + commune*1e3 + order
	var b [15]byte
	putDigits(b[:13], n)
	putDigits(b[13:], 97-n%97)
	return string(b[:])
}

// Status says what a decoded value is: not a value of the field's format
// at all, a well-formed value that belongs to nobody of the population, or a
// user's.
type Status uint8

// Decoding statuses.
const (
	Malformed Status = iota
	Nobody
	Owned
)

func status(owner int, ok bool) (int, Status) {
	if !ok {
		return 0, Nobody
	}
	return owner, Owned
}

// DecodeNIR returns the owner of a NIR given as 15 ASCII digits.
func (p *Population) DecodeNIR(d []byte) (int, bool) {
	o, st := p.DecodeNIRStatus(d)
	return o, st == Owned
}

// DecodeNIRStatus decodes a NIR given as 15 ASCII digits: malformed unless
// its key and its structure (sex, month, department, commune, order) are
// those the generator produces.
func (p *Population) DecodeNIRStatus(d []byte) (int, Status) {
	if len(d) != 15 {
		return 0, Malformed
	}
	n, ok := atou(d[:13])
	key, ok2 := atou(d[13:])
	if !ok || !ok2 || key != 97-n%97 {
		return 0, Malformed
	}
	sex, yy, mm := n/1e12, n/1e10%100, n/1e8%100
	dep, commune, order := n/1e6%100, n/1e3%1000, n%1000
	if sex < 1 || sex > 2 || mm < 1 || mm > 12 || departmentIndex[dep] < 0 ||
		commune < 1 || commune > 990 || order < 1 {
		return 0, Malformed
	}
	v := (order - 1)
	v = v*990 + (commune - 1)
	v = v*94 + uint64(departmentIndex[dep])
	v = v*12 + (mm - 1)
	v = v*100 + yy
	v = v*2 + (sex - 1)
	return status(p.owner(p.nir.dec(v)))
}

// IBAN returns the French IBAN (27 characters, no spaces) that user i holds
// at generation gen: 0 is the seeded one, each bank-detail change the harness
// makes writes the next generation. Generations wrap at MaxIBANGenerations.
func (p *Population) IBAN(i, gen int) string {
	u := uint64(gen%MaxIBANGenerations)<<24 | uint64(i)
	v := p.iban.enc(u)
	bank, branch := ibanBank(v)
	rib := 97 - (89*bank+15*branch+3*v)%97
	var b [27]byte
	b[0], b[1] = 'F', 'R'
	putDigits(b[4:9], bank)
	putDigits(b[9:14], branch)
	putDigits(b[14:25], v)
	putDigits(b[25:27], rib)
	// ISO 13616 check digits: BBAN followed by "FR00" as digits (15 27 00).
	r := mod97(b[4:27])
	r = (r*1000000 + 152700) % 97
	putDigits(b[2:4], 98-r)
	return string(b[:])
}

// DecodeIBAN returns the owner and generation of a French IBAN given as the
// 25 ASCII digits that follow "FR".
func (p *Population) DecodeIBAN(d []byte) (user, gen int, ok bool) {
	u, g, st := p.DecodeIBANStatus(d)
	return u, g, st == Owned
}

// DecodeIBANStatus decodes the 25 digits that follow "FR" in a French
// IBAN: malformed unless its check digits, its RIB key and its bank and
// branch codes are those the generator produces.
func (p *Population) DecodeIBANStatus(d []byte) (user, gen int, st Status) {
	if len(d) != 25 {
		return 0, 0, Malformed
	}
	check, ok1 := atou(d[:2])
	bank, ok2 := atou(d[2:7])
	branch, ok3 := atou(d[7:12])
	v, ok4 := atou(d[12:23])
	rib, ok5 := atou(d[23:25])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return 0, 0, Malformed
	}
	r := (mod97(d[2:25])*1000000 + 152700) % 97
	if check != 98-r || rib != 97-(89*bank+15*branch+3*v)%97 {
		return 0, 0, Malformed
	}
	if v >= 1<<36 {
		return 0, 0, Nobody // a valid IBAN, outside the generator's accounts
	}
	if b, br := ibanBank(v); b != bank || br != branch {
		return 0, 0, Nobody
	}
	u := p.iban.dec(v)
	i, st := status(p.owner(u & (1<<24 - 1)))
	return i, int(u >> 24), st
}

func ibanBank(v uint64) (bank, branch uint64) {
	h := mix64(v ^ 0x5ba4c)
	return bankCodes[h%uint64(len(bankCodes))], (h >> 8) % 100000
}

// Phone returns user i's mobile number as 10 digits (06 or 07 ...).
func (p *Population) Phone(i int) string {
	v := p.phone.enc(uint64(i))
	var b [10]byte
	b[0], b[1] = '0', '6'
	if v >= 1e8 {
		b[1] = '7'
	}
	putDigits(b[2:], v%1e8)
	return string(b[:])
}

// DecodePhone returns the owner of a mobile number given as 10 ASCII digits
// in national form (0 then 6 or 7).
func (p *Population) DecodePhone(d []byte) (int, bool) {
	o, st := p.DecodePhoneStatus(d)
	return o, st == Owned
}

// DecodePhoneStatus decodes a mobile number given as 10 ASCII digits in
// national form: every 06 and 07 number is well-formed.
func (p *Population) DecodePhoneStatus(d []byte) (int, Status) {
	if len(d) != 10 || d[0] != '0' || (d[1] != '6' && d[1] != '7') {
		return 0, Malformed
	}
	v, ok := atou(d[2:])
	if !ok {
		return 0, Malformed
	}
	if d[1] == '7' {
		v += 1e8
	}
	return status(p.owner(p.phone.dec(v)))
}

// Beneficiary returns user i's CAF department code and 7-digit number.
func (p *Population) Beneficiary(i int) (caf, number string) {
	v := p.benef.enc(uint64(i))
	var b [9]byte
	putDigits(b[:2], departments[v/1e7])
	putDigits(b[2:], v%1e7)
	return string(b[:2]), string(b[2:])
}

// DecodeBeneficiary returns the owner of a CAF code and beneficiary number.
func (p *Population) DecodeBeneficiary(caf, number string) (int, bool) {
	c, ok := atou([]byte(caf))
	n, ok2 := atou([]byte(number))
	if !ok || !ok2 || len(caf) != 2 || len(number) != 7 || departmentIndex[c] < 0 {
		return 0, false
	}
	return p.owner(p.benef.dec(uint64(departmentIndex[c])*1e7 + n))
}

// MatchEmail decodes the e-mail address whose '@' (or escaped '@') starts at
// b[at]: it reads the digits that end the local part, decodes them, and
// confirms that the user's "first.last" stands before them, ignoring case.
// It returns the owner and where the local part starts.
func (p *Population) MatchEmail(b []byte, at int) (user, start int, ok bool) {
	j := at
	for j > 0 && j > at-9 && isDigit(b[j-1]) {
		j--
	}
	if j == at || (j > 0 && isDigit(b[j-1])) {
		return 0, 0, false
	}
	code, _ := atou(b[j:at])
	if code >= 1e8 {
		return 0, 0, false
	}
	i, ok := p.owner(p.email.dec(code))
	if !ok {
		return 0, 0, false
	}
	first, last := p.names(i)
	start = j - len(first) - 1 - len(last)
	if start < 0 || !equalFoldASCII(b[start:start+len(first)], first) ||
		b[start+len(first)] != '.' || !equalFoldASCII(b[start+len(first)+1:j], last) {
		return 0, 0, false
	}
	return i, start, true
}

func (p *Population) owner(u uint64) (int, bool) {
	if u >= uint64(p.size) {
		return 0, false
	}
	return int(u), true
}

func isDigit(c byte) bool { return c-'0' < 10 }

// atou parses ASCII digits; it reports false on any other byte or overflow
// of 19 digits.
func atou(d []byte) (uint64, bool) {
	if len(d) == 0 || len(d) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range d {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

func putDigits(b []byte, n uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
}

func mod97(d []byte) uint64 {
	var r uint64
	for _, c := range d {
		r = (r*10 + uint64(c-'0')) % 97
	}
	return r
}

func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i]|0x20, s[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

package population

import (
	"math/big"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testPop(tb testing.TB, size int) *Population {
	tb.Helper()
	p, err := New(42, size, DefaultMix)
	require.NoError(tb, err)
	return p
}

func TestRoundTrip(t *testing.T) {
	p := testPop(t, 100_000)
	for _, i := range []int{0, 1, 2, 99, 1234, 54321, 99_999} {
		u := p.User(i)
		got, ok := p.DecodeNIR([]byte(u.NIR))
		require.True(t, ok, "NIR %s", u.NIR)
		assert.Equal(t, i, got, "NIR")

		gotU, gen, ok := p.DecodeIBAN([]byte(u.IBAN[2:]))
		require.True(t, ok, "IBAN %s", u.IBAN)
		assert.Equal(t, i, gotU, "IBAN")
		assert.Equal(t, 0, gen)
		for _, g := range []int{1, 7, MaxIBANGenerations - 1} {
			gotU, gotGen, ok := p.DecodeIBAN([]byte(p.IBAN(i, g)[2:]))
			require.True(t, ok)
			assert.Equal(t, i, gotU)
			assert.Equal(t, g, gotGen)
		}

		got, ok = p.DecodePhone([]byte(u.Phone))
		require.True(t, ok, "phone %s", u.Phone)
		assert.Equal(t, i, got, "phone")

		got, ok = p.DecodeBeneficiary(u.CAF, u.Number)
		require.True(t, ok)
		assert.Equal(t, i, got, "beneficiary")

		at := strings.IndexByte(u.Email, '@')
		got, start, ok := p.MatchEmail([]byte(u.Email), at)
		require.True(t, ok, "email %s", u.Email)
		assert.Equal(t, i, got, "email")
		assert.Equal(t, 0, start)
		upper := []byte(strings.ToUpper(u.Email))
		got, _, ok = p.MatchEmail(upper, at)
		assert.True(t, ok && got == i, "upper-case e-mail %s", upper)
	}
}

// TestNoCollisions proves that the canaries of 10 million users are pairwise
// distinct: encode then decode returns the index, so the encoding is injective.
func TestNoCollisions(t *testing.T) {
	n := 10_000_000
	if testing.Short() {
		n = 200_000
	}
	p := testPop(t, n)
	for i := 0; i < n; i++ {
		if got, ok := p.DecodeNIR([]byte(p.NIR(i))); !ok || got != i {
			t.Fatalf("NIR of user %d decodes to %d (ok=%v)", i, got, ok)
		}
		if got, ok := p.DecodePhone([]byte(p.Phone(i))); !ok || got != i {
			t.Fatalf("phone of user %d decodes to %d (ok=%v)", i, got, ok)
		}
		if i%7 == 0 { // IBANs cost more; a seventh of the range is 1.4 M users
			if got, _, ok := p.DecodeIBAN([]byte(p.IBAN(i, 0)[2:])); !ok || got != i {
				t.Fatalf("IBAN of user %d decodes to %d (ok=%v)", i, got, ok)
			}
		}
	}
}

func TestNIRKeyAndStructure(t *testing.T) {
	p := testPop(t, 10_000)
	for i := 0; i < 10_000; i++ {
		nir := p.NIR(i)
		require.Len(t, nir, 15)
		n, err := strconv.ParseUint(nir[:13], 10, 64)
		require.NoError(t, err)
		key, _ := strconv.Atoi(nir[13:])
		assert.Equal(t, 97-int(n%97), key, nir)
		assert.Contains(t, "12", nir[:1])
		mm, _ := strconv.Atoi(nir[3:5])
		assert.True(t, mm >= 1 && mm <= 12, nir)
	}
	// A wrong key is refused.
	nir := []byte(p.NIR(5))
	nir[14] = '0' + (nir[14]-'0'+1)%10
	_, ok := p.DecodeNIR(nir)
	assert.False(t, ok)
}

func TestIBANCheckDigits(t *testing.T) {
	p := testPop(t, 10_000)
	for i := 0; i < 2_000; i++ {
		iban := p.IBAN(i, i%5)
		require.Len(t, iban, 27)
		require.True(t, strings.HasPrefix(iban, "FR"))
		// ISO 13616: move the first four characters to the end, letters to
		// numbers (F=15, R=27); the number mod 97 is 1.
		num := iban[4:] + "1527" + iban[2:4]
		v, ok := new(big.Int).SetString(num, 10)
		require.True(t, ok)
		assert.Equal(t, int64(1), new(big.Int).Mod(v, big.NewInt(97)).Int64(), iban)
		// French RIB key: 97 - (89 bank + 15 branch + 3 account) mod 97.
		bank, _ := strconv.ParseInt(iban[4:9], 10, 64)
		branch, _ := strconv.ParseInt(iban[9:14], 10, 64)
		acct, _ := strconv.ParseInt(iban[14:25], 10, 64)
		rib, _ := strconv.ParseInt(iban[25:], 10, 64)
		assert.Equal(t, 97-(89*bank+15*branch+3*acct)%97, rib, iban)
	}
	// One altered digit is refused.
	b := []byte(p.IBAN(3, 0)[2:])
	b[10] = '0' + (b[10]-'0'+3)%10
	_, _, ok := p.DecodeIBAN(b)
	assert.False(t, ok)
}

func TestValuesOutsidePopulationDoNotDecode(t *testing.T) {
	big := testPop(t, 1_000_000)
	small := testPop(t, 1_000)
	misses := 0
	for i := 1_000; i < 1_100; i++ {
		if _, ok := small.DecodeNIR([]byte(big.NIR(i))); !ok {
			misses++
		}
	}
	assert.Equal(t, 100, misses, "users beyond the population size must not decode")
}

func TestDeterministicAndSeeded(t *testing.T) {
	a, b := testPop(t, 1000), testPop(t, 1000)
	assert.Equal(t, a.User(17), b.User(17))
	c, err := New(43, 1000, DefaultMix)
	require.NoError(t, err)
	assert.NotEqual(t, a.User(17).NIR, c.User(17).NIR)
	_, ok := c.DecodeNIR([]byte(a.NIR(17)))
	if ok {
		got, _ := c.DecodeNIR([]byte(a.NIR(17)))
		assert.NotEqual(t, 17, got, "another seed must not decode to the same owner by construction")
	}
}

func TestStateMix(t *testing.T) {
	p, err := New(1, 20_000, Mix{Legacy: 1, MigrationPending: 3})
	require.NoError(t, err)
	var counts [3]int
	for i := 0; i < 20_000; i++ {
		counts[p.State(i)]++
	}
	assert.InDelta(t, 5000, counts[Legacy], 400)
	assert.InDelta(t, 15000, counts[MigrationPending], 400)
	assert.Zero(t, counts[Migrated])
}

func TestNewRejectsBadInput(t *testing.T) {
	_, err := New(1, 0, DefaultMix)
	assert.ErrorContains(t, err, "size")
	_, err = New(1, MaxSize+1, DefaultMix)
	assert.ErrorContains(t, err, "size")
	_, err = New(1, 10, Mix{})
	assert.ErrorContains(t, err, "mix")
}

func TestPasswords(t *testing.T) {
	p := testPop(t, 10)
	assert.True(t, strings.HasPrefix(p.Password(3, 0), "Tmp-"))
	assert.NotEqual(t, p.Password(3, 1), p.Password(3, 2))
	assert.NotEqual(t, p.Password(3, 1), p.Password(4, 1))
}

func FuzzDecode(f *testing.F) {
	p, err := New(7, 1000, DefaultMix)
	require.NoError(f, err)
	f.Add([]byte(p.NIR(3)))
	f.Add([]byte(p.IBAN(4, 0)[2:]))
	f.Add([]byte(p.Phone(5)))
	f.Add([]byte(p.User(6).Email))
	f.Fuzz(func(t *testing.T, b []byte) {
		if i, ok := p.DecodeNIR(b); ok {
			require.Equal(t, string(b), p.NIR(i))
		}
		if i, g, ok := p.DecodeIBAN(b); ok {
			require.Equal(t, "FR"+string(b)[:2], p.IBAN(i, g)[:4])
			require.Equal(t, string(b), p.IBAN(i, g)[2:])
		}
		if i, ok := p.DecodePhone(b); ok {
			require.Equal(t, string(b), p.Phone(i))
		}
		for at := range b {
			if i, start, ok := p.MatchEmail(b, at); ok {
				require.Equal(t, strings.ToLower(string(b[start:at])), strings.Split(p.User(i).Email, "@")[0])
			}
		}
	})
}

// A password's hash can print in fewer base-36 digits than a password takes
// (user 74,855 of seed 1, generation 1): it is padded, never cut short, and
// never makes a large population panic.
func TestPasswordsKeepTheirLength(t *testing.T) {
	p, err := New(1, 500_000, DefaultMix)
	require.NoError(t, err)
	for _, u := range []struct{ i, gen int }{{74855, 1}, {402099, 0}, {3, 0}, {3, 1}} {
		pw := p.Password(u.i, u.gen)
		if u.gen == 0 {
			assert.Len(t, pw, len("Tmp-")+8, pw)
		} else {
			assert.Len(t, pw, len("Pw-")+10+2, pw)
		}
	}
	assert.Equal(t, "000000000z", base36(35, 10))
	assert.Equal(t, "zzzzzzzzzzzz", base36(4738381338321616895, 10), "long enough: unchanged")
}

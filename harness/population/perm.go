package population

import "math/bits"

// perm is a keyed permutation of [0, n): a balanced Feistel network over the
// smallest even number of bits that covers n, with cycle walking to stay
// inside [0, n). It is what makes every canary decode back to its owner with
// no table: encode is perm.enc, decode is perm.dec.
//
// Written by hand: format-preserving encryption libraries (FF1/FF3) work on
// digit strings with AES and cost microseconds a value; the oracle needs a
// bijection, not secrecy, and decodes on the hot path of every response.
type perm struct {
	n    uint64
	half uint
	mask uint64
	keys [feistelRounds]uint64
}

const feistelRounds = 6

func newPerm(n, key uint64) perm {
	b := uint(bits.Len64(n - 1))
	if b < 2 {
		b = 2
	}
	if b%2 == 1 {
		b++
	}
	p := perm{n: n, half: b / 2, mask: 1<<(b/2) - 1}
	for r := range p.keys {
		key = mix64(key + 0x9e3779b97f4a7c15)
		p.keys[r] = key
	}
	return p
}

func (p *perm) enc(x uint64) uint64 {
	for {
		x = p.round(x)
		if x < p.n {
			return x
		}
	}
}

func (p *perm) dec(x uint64) uint64 {
	for {
		x = p.unround(x)
		if x < p.n {
			return x
		}
	}
}

func (p *perm) round(x uint64) uint64 {
	l, r := x>>p.half, x&p.mask
	for _, k := range p.keys {
		l, r = r, l^(mix64(r^k)&p.mask)
	}
	return l<<p.half | r
}

func (p *perm) unround(x uint64) uint64 {
	l, r := x>>p.half, x&p.mask
	for i := len(p.keys) - 1; i >= 0; i-- {
		l, r = r^(mix64(l^p.keys[i])&p.mask), l
	}
	return l<<p.half | r
}

// mix64 is the splitmix64 finalizer: a fast, well-distributed 64-bit mixer.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

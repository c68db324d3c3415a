package mask

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lethe-privacy/lethe"
)

// fakeMask writes a realistic value drawn from a keyed digest of the
// input: strategy fake.<kind>.
type fakeMask struct {
	kind *fakeKind
	*keyed
}

// fakeKind is one kind of fake value.
type fakeKind struct {
	name string
	// unique is set when the value carries at least 64 digest bits, each
	// bit pattern giving a distinct value.
	unique bool
	// maxLen is the longest value, in characters.
	maxLen int
	// domain separates this kind's digests from every other's.
	domain string
	// draw builds the value from the digest's bits.
	draw func(*digestBits) string
}

func newFakeKind(name string, unique bool, maxLen int, draw func(*digestBits) string) *fakeKind {
	return &fakeKind{name: name, unique: unique, maxLen: maxLen, domain: prefixFake + name + "\x00", draw: draw}
}

// The formats below are frozen, like the word lists: changing one changes
// the values erasure writes, and breaks consistency with values written
// before. TestFakeGolden pins them.
const (
	// emailDomain is reserved for documentation (RFC 2606) and accepts
	// no mail: an anonymised address can never reach anyone.
	emailDomain = "example.com"
	// phonePrefix is +990, a country code the ITU lists as spare
	// (assigned to no country or network), so no fake number rings a
	// real phone. E.164 allows 15 digits: 12 remain after the code.
	phonePrefix = "+990"
	phoneDigits = 12
	// ibanCountry is Cyprus: its BBAN is 24 digits with no national
	// check digit, room for 78 digest bits in a valid IBAN of its
	// registered length (28).
	ibanCountry = "CY"
	ibanLength  = 28
	// suffix lengths, in base32 characters of 5 bits each: with the 14
	// bits of the names, e-mail carries 64 bits; user names with 7 bits
	// of first name carry 67.
	emailSuffix    = 10
	usernameSuffix = 12
)

// fakeKinds lists the kinds in documentation order.
var fakeKinds = []*fakeKind{
	newFakeKind("name", false, longest(firstNames[:])+1+longest(lastNames[:]), func(r *digestBits) string {
		return pick(r, firstNames[:]) + " " + pick(r, lastNames[:])
	}),
	newFakeKind("first_name", false, longest(firstNames[:]), func(r *digestBits) string {
		return pick(r, firstNames[:])
	}),
	newFakeKind("last_name", false, longest(lastNames[:]), func(r *digestBits) string {
		return pick(r, lastNames[:])
	}),
	newFakeKind("email", true, longest(firstNames[:])+1+longest(lastNames[:])+1+emailSuffix+1+len(emailDomain), func(r *digestBits) string {
		first := strings.ToLower(pick(r, firstNames[:]))
		last := strings.ToLower(pick(r, lastNames[:]))
		return first + "." + last + "." + r.base32(emailSuffix) + "@" + emailDomain
	}),
	newFakeKind("phone", false, len(phonePrefix)+phoneDigits, func(r *digestBits) string {
		// The national number does not start with 0, which reads as
		// a trunk prefix.
		const span = 9 * 100_000_000_000 // 12-digit numbers from 1e11
		n := 100_000_000_000 + r.take(40)%span
		return phonePrefix + strconv.FormatUint(n, 10)
	}),
	newFakeKind("street", false, 3+1+longest(streetNames[:])+1+longest(streetTypes[:]), func(r *digestBits) string {
		number := r.take(8) + 1
		return strconv.FormatUint(number, 10) + " " + pick(r, streetNames[:]) + " " + pick(r, streetTypes[:])
	}),
	newFakeKind("city", false, longest(cities[:]), func(r *digestBits) string {
		return pick(r, cities[:])
	}),
	newFakeKind("postcode", false, 5, func(r *digestBits) string {
		return fmt.Sprintf("%05d", r.take(32)%100_000)
	}),
	newFakeKind("iban", true, ibanLength, func(r *digestBits) string {
		// Two halves of 39 bits, each below 10^12, so that distinct
		// bits give distinct BBANs.
		bban := fmt.Sprintf("%012d%012d", r.take(39), r.take(39))
		return ibanCountry + ibanCheck(ibanCountry, bban) + bban
	}),
	newFakeKind("company", false, longest(lastNames[:])+1+longest(companyWords[:])+1+longest(companySuffixes[:]), func(r *digestBits) string {
		return pick(r, lastNames[:]) + " " + pick(r, companyWords[:]) + " " + pick(r, companySuffixes[:])
	}),
	newFakeKind("username", true, longest(firstNames[:])+1+usernameSuffix, func(r *digestBits) string {
		return strings.ToLower(pick(r, firstNames[:])) + "_" + r.base32(usernameSuffix)
	}),
}

// fakeKindNamed returns the kind called name (email, not fake.email).
func fakeKindNamed(name string) (*fakeKind, bool) {
	for _, k := range fakeKinds {
		if k.name == name {
			return k, true
		}
	}
	return nil, false
}

// shortestFake returns the kind with the shortest values, which stands
// for fake.<kind> when listing what fits a column.
func shortestFake() *fakeKind {
	best := fakeKinds[0]
	for _, k := range fakeKinds {
		if k.maxLen < best.maxLen {
			best = k
		}
	}
	return best
}

func (m fakeMask) Name() string              { return prefixFake + m.kind.name }
func (fakeMask) Constant() (any, bool)       { return nil, false }
func (m fakeMask) PreservesUniqueness() bool { return m.kind.unique }
func (m fakeMask) Fits(col lethe.ColumnSchema) error {
	return fitError(m.Name(), col, m.misfit(col))
}

// Apply takes text (string or []byte) and returns a fake value of the
// same type, the same for the same text and key.
func (m fakeMask) Apply(v any) (any, error) {
	s, isBytes, ok := text(v)
	switch {
	case v == nil:
		return nil, nil
	case !ok:
		return nil, cannotMask(m.Name(), v, "fake values are text; choose null or fixed:<value> for other types")
	case s == "":
		return asInput("", isBytes), nil
	}
	r := digestBits{d: m.sum(m.kind.domain, []byte(s))}
	return asInput(m.kind.draw(&r), isBytes), nil
}

func (m fakeMask) misfit(col lethe.ColumnSchema) misfit {
	return textMisfit(m.Name(), col, m.kind.maxLen, fmt.Sprintf("up to %d characters", m.kind.maxLen))
}

// digestBits reads a digest's bits in order, most significant first.
type digestBits struct {
	d   [32]byte
	pos int
}

// take returns the next n bits (n <= 64) as a number.
func (r *digestBits) take(n int) uint64 {
	var v uint64
	for range n {
		bit := r.d[r.pos/8] >> (7 - r.pos%8) & 1
		v = v<<1 | uint64(bit)
		r.pos++
	}
	return v
}

// base32Alphabet is RFC 4648's, lower-cased: letters and digits 2-7,
// which read unambiguously in an address.
const base32Alphabet = "abcdefghijklmnopqrstuvwxyz234567"

// base32 returns the next 5n bits as n base32 characters.
func (r *digestBits) base32(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = base32Alphabet[r.take(5)]
	}
	return string(b)
}

// pick returns the word the next log2(len(words)) bits select; len(words)
// is a power of two.
func pick(r *digestBits, words []string) string {
	bits := 0
	for 1<<bits < len(words) {
		bits++
	}
	return words[r.take(bits)]
}

// longest returns the length in characters of the longest word.
func longest(words []string) int {
	n := 0
	for _, w := range words {
		n = max(n, utf8.RuneCountInString(w))
	}
	return n
}

// ibanCheck returns the two ISO 7064 mod 97-10 check digits of an IBAN
// with the given country and BBAN.
func ibanCheck(country, bban string) string {
	mod := 0
	for _, c := range bban + country + "00" {
		switch {
		case '0' <= c && c <= '9':
			mod = (mod*10 + int(c-'0')) % 97
		case 'A' <= c && c <= 'Z':
			mod = (mod*100 + int(c-'A') + 10) % 97
		}
	}
	return fmt.Sprintf("%02d", 98-mod)
}

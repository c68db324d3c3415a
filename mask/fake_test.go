package mask

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

var fakeTestKey = []byte("0123456789abcdef0123456789abcdef")

// TestFakeGolden pins fake.* output. A failure here means values written
// by earlier versions no longer match: a user's pseudonym would change
// between two erasures, or between a database and its scrubbed copy. Do
// not update the table to make it pass; restore the lists and formats.
func TestFakeGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		strategy, in, want string
	}{
		{"fake.name", "jane.doe@example.org", "Jan Marino"},
		{"fake.name", "42", "Frida Lewandowski"},
		{"fake.name", "Jane Doe", "Carlos Gomez"},
		{"fake.first_name", "jane.doe@example.org", "Luisa"},
		{"fake.first_name", "42", "Enzo"},
		{"fake.first_name", "Jane Doe", "Lea"},
		{"fake.last_name", "jane.doe@example.org", "Oliveira"},
		{"fake.last_name", "42", "Lange"},
		{"fake.last_name", "Jane Doe", "Szabo"},
		{"fake.email", "jane.doe@example.org", "giulia.ryan.xfuwp32aj5@example.com"},
		{"fake.email", "42", "daan.davies.lr37su3cbw@example.com"},
		{"fake.email", "Jane Doe", "ruben.jensen.ulea2qbp74@example.com"},
		{"fake.phone", "jane.doe@example.org", "+990216962047116"},
		{"fake.phone", "42", "+990623377280689"},
		{"fake.phone", "Jane Doe", "+990355025730869"},
		{"fake.street", "jane.doe@example.org", "124 Cedar Street"},
		{"fake.street", "42", "155 Well Lane"},
		{"fake.street", "Jane Doe", "50 Elm Drive"},
		{"fake.city", "jane.doe@example.org", "Tampere"},
		{"fake.city", "42", "Malaga"},
		{"fake.city", "Jane Doe", "Basel"},
		{"fake.postcode", "jane.doe@example.org", "03755"},
		{"fake.postcode", "42", "93167"},
		{"fake.postcode", "Jane Doe", "83435"},
		{"fake.iban", "jane.doe@example.org", "CY87352005137292073441386642"},
		{"fake.iban", "42", "CY75033674291881340878801011"},
		{"fake.iban", "Jane Doe", "CY18322957100626238487250498"},
		{"fake.company", "jane.doe@example.org", "Thomas Outfitters PLC"},
		{"fake.company", "42", "Zimmermann Bakery AS"},
		{"fake.company", "Jane Doe", "Girard Farms Ltd"},
		{"fake.username", "jane.doe@example.org", "alex_v5lgakui45kr"},
		{"fake.username", "42", "mara_5e7vrhhts5dx"},
		{"fake.username", "Jane Doe", "lisa_y5kcspyytyr6"},
	}
	for _, tt := range tests {
		t.Run(tt.strategy+"/"+tt.in, func(t *testing.T) {
			t.Parallel()
			s, err := Parse(tt.strategy, fakeTestKey)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Apply(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Apply(%q) = %q, want %q (fake output changed between versions)", tt.in, got, tt.want)
			}
			// []byte input gives the same value as bytes.
			gotBytes, err := s.Apply([]byte(tt.in))
			if err != nil || string(gotBytes.([]byte)) != tt.want {
				t.Errorf("Apply([]byte) = %q, %v", gotBytes, err)
			}
		})
	}
}

// wordLists are every list fake.* draws from, by name.
var wordLists = map[string][]string{
	"firstNames":      firstNames[:],
	"lastNames":       lastNames[:],
	"cities":          cities[:],
	"streetNames":     streetNames[:],
	"streetTypes":     streetTypes[:],
	"companyWords":    companyWords[:],
	"companySuffixes": companySuffixes[:],
}

// TestWordListsFrozen fails on any change to the word lists, which would
// change fake output (see TestFakeGolden).
func TestWordListsFrozen(t *testing.T) {
	t.Parallel()
	h := sha256.New()
	for _, l := range [][]string{firstNames[:], lastNames[:], cities[:], streetNames[:], streetTypes[:], companyWords[:], companySuffixes[:]} {
		h.Write([]byte(strings.Join(l, "\n")))
		h.Write([]byte{0})
	}
	const want = "b21c77a82dc0be4a36cef804c23beb11f14909fc6353b8ee2b092e768dc83f43"
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Errorf("word lists digest = %s, want %s: the lists are frozen", got, want)
	}
}

// TestWordLists checks what fake.* relies on: power-of-two lengths (whole
// bits per choice), ASCII letters (lower-cased into addresses), and
// entries distinct ignoring case (distinct bits give distinct values).
func TestWordLists(t *testing.T) {
	t.Parallel()
	letters := regexp.MustCompile(`^[A-Za-z]+$`)
	for name, l := range wordLists {
		if n := len(l); n&(n-1) != 0 {
			t.Errorf("%s has %d entries, not a power of two", name, n)
		}
		seen := map[string]bool{}
		for i, w := range l {
			if !letters.MatchString(w) {
				t.Errorf("%s[%d] = %q is not ASCII letters", name, i, w)
			}
			if lw := strings.ToLower(w); seen[lw] {
				t.Errorf("%s holds %q twice", name, w)
			} else {
				seen[lw] = true
			}
		}
	}
}

// ibanValid checks an IBAN's ISO 7064 mod 97-10 check digits
// independently of ibanCheck: the rearranged number mod 97 is 1.
func ibanValid(iban string) bool {
	r := iban[4:] + iban[:4]
	var digits strings.Builder
	for _, c := range r {
		switch {
		case '0' <= c && c <= '9':
			digits.WriteRune(c)
		case 'A' <= c && c <= 'Z':
			fmt.Fprintf(&digits, "%d", c-'A'+10)
		default:
			return false
		}
	}
	n, ok := new(big.Int).SetString(digits.String(), 10)
	return ok && new(big.Int).Mod(n, big.NewInt(97)).Int64() == 1
}

func TestIBANCheck(t *testing.T) {
	t.Parallel()
	// Published examples from the SWIFT IBAN registry.
	for _, iban := range []string{"CY17002001280000001200527600", "DE89370400440532013000", "GB29NWBK60161331926819"} {
		if !ibanValid(iban) {
			t.Fatalf("ibanValid(%s) = false: the checker is wrong", iban)
		}
		if got := ibanCheck(iban[:2], iban[4:]); got != iban[2:4] {
			t.Errorf("ibanCheck(%s) = %s, want %s", iban, got, iban[2:4])
		}
	}
	if ibanValid("CY18002001280000001200527600") {
		t.Fatal("ibanValid accepts a wrong check")
	}
}

// TestFakeFormats checks the shape of many fake values: IBANs pass the
// mod-97 check at Cyprus's length, addresses are at the reserved domain,
// phone numbers are E.164 under the spare code, and no value is longer
// than Fits assumes.
func TestFakeFormats(t *testing.T) {
	t.Parallel()
	formats := map[string]*regexp.Regexp{
		"name":       regexp.MustCompile(`^[A-Z][a-z]+ [A-Z][A-Za-z]+$`),
		"first_name": regexp.MustCompile(`^[A-Z][a-z]+$`),
		"last_name":  regexp.MustCompile(`^[A-Z][A-Za-z]+$`),
		"email":      regexp.MustCompile(`^[a-z]+\.[a-z]+\.[a-z2-7]{10}@example\.com$`),
		"phone":      regexp.MustCompile(`^\+990[1-9][0-9]{11}$`),
		"street":     regexp.MustCompile(`^[1-9][0-9]{0,2} [A-Z][a-z]+ (Street|Road|Lane|Avenue|Way|Close|Drive|Place)$`),
		"city":       regexp.MustCompile(`^[A-Z][a-z]+$`),
		"postcode":   regexp.MustCompile(`^[0-9]{5}$`),
		"iban":       regexp.MustCompile(`^CY[0-9]{26}$`),
		"company":    regexp.MustCompile(`^[A-Z][A-Za-z]+ [A-Z][a-z]+ [A-Za-z]+$`),
		"username":   regexp.MustCompile(`^[a-z]+_[a-z2-7]{12}$`),
	}
	for _, k := range fakeKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			re := formats[k.name]
			if re == nil {
				t.Fatalf("no format for fake.%s", k.name)
			}
			s, err := Parse(prefixFake+k.name, fakeTestKey)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 5000 {
				out, err := s.Apply(fmt.Sprintf("subject-%d", i))
				if err != nil {
					t.Fatal(err)
				}
				v := out.(string)
				if !re.MatchString(v) {
					t.Fatalf("%q does not match %s", v, re)
				}
				if n := utf8.RuneCountInString(v); n > k.maxLen {
					t.Fatalf("%q is %d characters, more than maxLen %d", v, n, k.maxLen)
				}
				if k.name == "iban" && (len(v) != ibanLength || !ibanValid(v)) {
					t.Fatalf("%q is not a valid IBAN", v)
				}
			}
		})
	}
}

func TestDigestBits(t *testing.T) {
	t.Parallel()
	r := digestBits{d: [32]byte{0b1010_0000, 0xff, 0x01}}
	if got := r.take(3); got != 0b101 {
		t.Errorf("take(3) = %b", got)
	}
	if got := r.take(13); got != 0b0_0000_1111_1111 {
		t.Errorf("take(13) = %b", got)
	}
	if got := r.take(8); got != 1 {
		t.Errorf("take(8) = %d", got)
	}
	if r.pos != 24 {
		t.Errorf("pos = %d", r.pos)
	}
}

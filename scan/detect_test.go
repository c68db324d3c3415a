package scan

import (
	"slices"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
)

var testNow = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func TestChecksums(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		f    func(string) bool
		in   string
		want bool
	}{
		{"iban de", isIBAN, "DE89 3704 0044 0532 0130 00", true},
		{"iban gb lower", isIBAN, "gb82west12345698765432", true},
		{"iban wrong check", isIBAN, "DE89 3704 0044 0532 0130 01", false},
		{"iban wrong length", isIBAN, "DE89 3704 0044 0532 0130 0", false},
		{"iban unknown country", isIBAN, "QQ89 3704 0044 0532 0130 00", false},
		{"iban punctuation", isIBAN, "DE89-3704-0044-0532-0130-00", false},
		{"card visa", isCard, "4111 1111 1111 1111", true},
		{"card mastercard", isCard, "5555555555554444", true},
		{"card mastercard 2-series", isCard, "2223003122003222", true},
		{"card amex", isCard, "3782-822463-10005", true},
		{"card luhn fails", isCard, "4111111111111112", false},
		{"card luhn but no network", isCard, "1234567812345670", false},
		{"card amex wrong length", isCard, "3782822463100052", false},
		{"ssn", func(s string) bool { return usSSN(s, false) }, "123-45-6789", true},
		{"ssn area 000", func(s string) bool { return usSSN(s, false) }, "000-45-6789", false},
		{"ssn area 666", func(s string) bool { return usSSN(s, false) }, "666-45-6789", false},
		{"ssn area 9xx", func(s string) bool { return usSSN(s, false) }, "912-45-6789", false},
		{"ssn group 00", func(s string) bool { return usSSN(s, false) }, "123-00-6789", false},
		{"ssn bare needs bare", func(s string) bool { return usSSN(s, false) }, "123456789", false},
		{"nir", frNIR, "2 55 08 14 168 025 38", true},
		{"nir wrong key", frNIR, "2 55 08 14 168 025 39", false},
		{"nir bad sex digit", frNIR, "5 55 08 14 168 025 38", false},
		{"nir corsica 2A", frNIR, "1 85 05 2A 004 001 " + nirKey("18505"+"19"+"004001"), true},
		{"bsn", nlBSN, "111222333", true},
		{"bsn 2", nlBSN, "123456782", true},
		{"bsn fails 11-test", nlBSN, "123456789", false},
		{"bsn zeros", nlBSN, "000000000", false},
		{"dni", esDNI, "12345678Z", true},
		{"dni hyphen", esDNI, "12345678-Z", true},
		{"dni wrong letter", esDNI, "12345678A", false},
		{"nie", esDNI, "X1234567L", true},
		{"nie wrong letter", esDNI, "X1234567A", false},
		{"codice fiscale", itCF, "RSSMRA85T10A562S", true},
		{"codice fiscale wrong check", itCF, "RSSMRA85T10A562T", false},
		{"codice fiscale bad month letter", itCF, "RSSMRA85Z10A562S", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.f(tt.in); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// nirKey computes a NIR's key from its 13 digits (2A written as 19).
func nirKey(thirteen string) string {
	var n int64
	for _, c := range thirteen {
		n = n*10 + int64(c-'0')
	}
	k := 97 - n%97
	return string([]byte{byte('0' + k/10), byte('0' + k%10)})
}

func TestMatches(t *testing.T) {
	t.Parallel()
	c := NewClassifier(ClassifierOpts{Now: testNow})
	text := Column{Name: "value", Kind: lethe.KindText}
	named := func(name string) Column { return Column{Name: name, Kind: lethe.KindText} }
	date := Column{Name: "d", Kind: lethe.KindDate}
	tests := []struct {
		name string
		col  Column
		v    any
		want Kind // "" for none
	}{
		{"email", text, "jane.doe@example.com", KindEmail},
		{"email plus tag", text, "jane+news@mail.example.co.uk", KindEmail},
		{"email no tld", text, "jane@localhost", ""},
		{"email double dot", text, "jane..doe@example.com", ""},
		{"email numeric tld", text, "root@10.0.0.1", ""},
		{"phone intl", text, "+44 20 7946 0958", KindPhone},
		{"phone intl compact", text, "+4930901820", KindPhone},
		{"phone 00 prefix", text, "0044 20 7946 0958", KindPhone},
		{"phone national with trunk 0", text, "020 7946 0958", KindPhone},
		{"phone us parentheses", text, "(415) 555-2671", KindPhone},
		{"phone invalid area code", text, "+1 123 456 7890", ""},
		{"phone bare digits not a phone", text, "4155552671", ""},
		{"phone bare digits in a phone column", named("mobile_phone"), "4155552671", KindPhone},
		{"phone integer in a phone column", named("phone"), int64(4155552671), KindPhone},
		{"order number", text, "100234567", ""},
		{"ipv4", text, "192.0.2.44", KindIP},
		{"ipv6", text, "2001:db8::8a2e:370:7334", KindIP},
		{"inet cidr", Column{Name: "addr", Kind: lethe.KindInet}, "192.0.2.1/32", KindIP},
		{"three-part version", text, "1.12.3", ""},
		{"dotted quad in a version column", named("app_version"), "2.4.1.0", ""},
		{"unspecified address", text, "0.0.0.0", ""},
		{"octet too large", text, "256.1.1.1", ""},
		{"time is not ipv6", text, "12:30:45", ""},
		{"iban", text, "FR14 2004 1010 0505 0001 3M02 606", KindIBAN},
		{"iban check fails", text, "FR14 2004 1010 0505 0001 3M02 607", ""},
		{"card", text, "4111-1111-1111-1111", KindCard},
		{"card as integer", named("pan"), int64(5555555555554444), KindCard},
		{"sku digits failing luhn", text, "4000123412341235", ""},
		{"ssn", text, "123-45-6789", KindNationalID},
		{"ssn bare in ssn column", named("ssn"), "123456789", KindNationalID},
		{"bsn", text, "111222333", KindNationalID},
		{"dni", text, "12345678Z", KindNationalID},
		{"codice fiscale", text, "RSSMRA85T10A562S", KindNationalID},
		{"nir", text, "255081416802538", KindNationalID},
		{"birth date", date, time.Date(1985, 4, 12, 0, 0, 0, 0, time.UTC), KindBirthDate},
		{"date too recent", date, time.Date(2020, 4, 12, 0, 0, 0, 0, time.UTC), ""},
		{"date too old", date, time.Date(1880, 4, 12, 0, 0, 0, 0, time.UTC), ""},
		{"timestamp with a time of day", Column{Name: "t", Kind: lethe.KindTime}, time.Date(1999, 4, 12, 13, 45, 0, 0, time.UTC), ""},
		{"birth date text", text, "12.04.1985", KindBirthDate},
		{"birth date iso text", text, "1985-04-12", KindBirthDate},
		{"uk postcode", text, "SW1A 1AA", KindPostalCode},
		{"canada postcode", text, "K1A 0B1", KindPostalCode},
		{"dutch postcode", text, "1012 AB", KindPostalCode},
		{"five digits in a zip column", named("zip"), "75008", KindPostalCode},
		{"five digits elsewhere", text, "75008", ""},
		{"name listed", text, "Maria Schmidt", KindPersonName},
		{"name lower case", text, "john smith", KindPersonName},
		{"unlisted name in first_name", named("first_name"), "Zephyrine", KindPersonName},
		{"unlisted name elsewhere", text, "Zephyrine Quist", ""},
		{"product name", named("product_name"), "Blue Widget", ""},
		{"mixed case token", text, "iPhone Case", ""},
		{"free text with email", named("comment"), "Please call me back or write to jane.doe@example.com about the order.", KindFreeText},
		{"free text with phone", named("note"), "Customer called from +44 20 7946 0958 yesterday", KindFreeText},
		{"free text with iban in groups", named("note"), "Refund to DE89 3704 0044 0532 0130 00 please", KindFreeText},
		{"free text clean", named("note"), "Delivered to the back door, order 100234567 complete", ""},
		{"bool", Column{Name: "b", Kind: lethe.KindBool}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := c.Matches(tt.col, tt.v)
			if tt.want == "" {
				if len(got) != 0 {
					t.Errorf("matched %v, want nothing", got)
				}
				return
			}
			if !slices.Contains(got, tt.want) {
				t.Errorf("matched %v, want %s", got, tt.want)
			}
		})
	}
}

func TestColumnHints(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		strong, weak, ip bool
		phone            bool
	}{
		{name: "first_name", strong: true},
		{name: "lastName", strong: true},
		{name: "surname", strong: true},
		{name: "name", weak: true},
		{name: "product_name"},
		{name: "username"},
		{name: "customer_name", strong: true},
		{name: "mobilePhone", phone: true},
		{name: "tel", phone: true},
		{name: "hotel"},
	}
	for _, tt := range tests {
		h := columnHints(tt.name)
		if h.strongName != tt.strong || h.weakName != tt.weak || (h.kinds&bitPhone != 0) != tt.phone {
			t.Errorf("%s: strong %v weak %v phone %v, want %v %v %v", tt.name, h.strongName, h.weakName, h.kinds&bitPhone != 0, tt.strong, tt.weak, tt.phone)
		}
	}
}

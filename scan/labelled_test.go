package scan

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/mask"
)

// LabelledColumn is one column of the labelled test table: what it holds
// (Label, "" for no personal data) and how its values are generated.
// Label is the column's truth; ValueLabel, when set, is each value's
// (free text, where only some values hold personal data).
type LabelledColumn struct {
	Name string
	Kind lethe.ColumnKind
	// SQL is the column's type in CREATE TABLE, per database family.
	SQL   string
	Label Kind
	Gen   func(r *rand.Rand, i int) (v any, label Kind)
}

// LabelledNow is the time the labelled data is generated relative to.
var LabelledNow = time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)

var fakeKey = []byte("labelled-data-key-0123456789abcd")

func fake(kind string, i int) string {
	m, err := mask.Parse("fake."+kind, fakeKey)
	if err != nil {
		panic(err)
	}
	v, err := m.Apply("seed-" + strconv.Itoa(i))
	if err != nil {
		panic(err)
	}
	return v.(string)
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

func digits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	return string(b)
}

// luhnDigit returns the check digit that makes body+digit pass Luhn.
func luhnDigit(body string) byte {
	for d := byte('0'); d <= '9'; d++ {
		if luhn([]byte(body + string(d))) {
			return d
		}
	}
	panic("unreachable")
}

func genIBAN(r *rand.Rand) string {
	country := pick(r, "DE", "FR", "NL", "GB", "ES", "IT", "BE", "AT")
	n := ibanLengths[country]
	var bban string
	switch country {
	case "NL":
		bban = pick(r, "ABNA", "INGB", "RABO") + digits(r, n-8)
	case "GB":
		bban = pick(r, "NWBK", "BARC", "MIDL") + digits(r, n-8)
	case "FR", "IT":
		bban = digits(r, n-4-3) + pick(r, "A", "X", "M") + digits(r, 2)
		if country == "IT" {
			bban = pick(r, "X", "A") + digits(r, n-5)
		}
	default:
		bban = digits(r, n-4)
	}
	// Check digits: 98 - (BBAN + country + "00") mod 97.
	rem := 0
	for _, c := range bban + country + "00" {
		if c >= '0' && c <= '9' {
			rem = (rem*10 + int(c-'0')) % 97
		} else {
			rem = (rem*100 + int(c-'A'+10)) % 97
		}
	}
	iban := fmt.Sprintf("%s%02d%s", country, 98-rem, bban)
	if r.IntN(2) == 0 {
		var b strings.Builder
		for i := 0; i < len(iban); i += 4 {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(iban[i:min(i+4, len(iban))])
		}
		return b.String()
	}
	return iban
}

func genCard(r *rand.Rand) string {
	prefix := pick(r, "4", "51", "55", "2221", "37", "6011", "3530")
	n := 16
	if prefix == "37" {
		n = 15
	}
	body := prefix + digits(r, n-1-len(prefix))
	num := body + string(luhnDigit(body))
	if r.IntN(3) == 0 {
		return num[:4] + " " + num[4:8] + " " + num[8:12] + " " + num[12:]
	}
	return num
}

func genPhone(r *rand.Rand, national bool) string {
	if national {
		switch r.IntN(3) {
		case 0:
			return "020 7946 0" + digits(r, 3)
		case 1:
			return "(" + pick(r, "212", "415", "646", "312", "617") + ") " + pick(r, "555", "234", "867") + "-" + digits(r, 4)
		default:
			return "030 " + pick(r, "2", "4", "6") + digits(r, 7)
		}
	}
	switch r.IntN(6) {
	case 0:
		return "+44 7400 " + digits(r, 6)
	case 1:
		return "+1 " + pick(r, "212", "415", "646", "312", "617") + " " + pick(r, "555", "234", "867") + " " + digits(r, 4)
	case 2:
		return "+49 151 " + digits(r, 8)
	case 3:
		return "+33 6 " + pick(r, "1", "2", "3", "4", "5") + digits(r, 1) + " " + digits(r, 2) + " " + digits(r, 2) + " " + digits(r, 2)
	case 4:
		return "+316" + pick(r, "1", "2", "3", "4", "5") + digits(r, 7)
	default:
		return "+34 6" + digits(r, 8)
	}
}

func genNationalID(r *rand.Rand) string {
	switch r.IntN(5) {
	case 0: // US SSN, formatted
		area := 1 + r.IntN(665)
		return fmt.Sprintf("%03d-%02d-%04d", area, 1+r.IntN(99), 1+r.IntN(9999))
	case 1: // NL BSN
		for {
			s := digits(r, 9)
			if s[0] != '0' && nlBSN(s) {
				return s
			}
		}
	case 2: // ES DNI
		n := r.IntN(100000000)
		return fmt.Sprintf("%08d%c", n, dniLetters[n%23])
	case 3: // FR NIR
		body := fmt.Sprintf("%d%02d%02d%02d%03d%03d", 1+r.IntN(2), r.IntN(100), 1+r.IntN(12), 1+r.IntN(95), 1+r.IntN(999), 1+r.IntN(999))
		var n int64
		for _, c := range body {
			n = n*10 + int64(c-'0')
		}
		return fmt.Sprintf("%s%02d", body, 97-n%97)
	default: // IT codice fiscale
		const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		var b strings.Builder
		for range 6 {
			b.WriteByte(letters[r.IntN(26)])
		}
		b.WriteString(digits(r, 2))
		b.WriteByte("ABCDEHLMPRST"[r.IntN(12)])
		fmt.Fprintf(&b, "%02d", 1+r.IntN(71))
		b.WriteByte(letters[r.IntN(26)])
		b.WriteString(digits(r, 3))
		s := b.String()
		for _, c := range letters {
			if itCF(s + string(c)) {
				return s + string(c)
			}
		}
		panic("no codice fiscale check character")
	}
}

func genIP(r *rand.Rand) string {
	if r.IntN(4) == 0 {
		return fmt.Sprintf("2001:db8:%x:%x::%x", r.IntN(65536), r.IntN(65536), 1+r.IntN(65535))
	}
	return fmt.Sprintf("%d.%d.%d.%d", 1+r.IntN(223), r.IntN(256), r.IntN(256), 1+r.IntN(254))
}

func genPostcode(r *rand.Rand) string {
	switch r.IntN(3) {
	case 0:
		return pick(r, "SW1A 1AA", "EC1A 1BB", "W1A 0AX", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT")
	case 1:
		return fmt.Sprintf("%d %s", 1000+r.IntN(9000), pick(r, "AB", "CD", "EK", "LM", "XZ"))
	default:
		return pick(r, "K1A 0B1", "M5V 3L9", "H2X 1Y4", "V6B 4Y8")
	}
}

var prose = []string{
	"Delivered to the back door as requested, thanks",
	"Customer asked about the return window for the blue model",
	"Package arrived damaged, replacement shipped with order 100234567",
	"Left with the neighbour at number 12 since nobody answered",
	"Gift wrap requested, card message: happy birthday and many more",
	"Please deliver after 5pm on weekdays, version 2.4.1 of the app crashed",
	"Called twice about invoice 2024-00123, resolved on the second call",
	"Wants the newsletter in French from now on",
}

func genNote(r *rand.Rand) (string, Kind) {
	base := pick(r, prose...)
	switch r.IntN(10) {
	case 0:
		return base + ". Reach me at " + strings.ToLower(fake("email", r.IntN(1<<20))), KindFreeText
	case 1:
		return "Call back on " + genPhone(r, false) + " about: " + strings.ToLower(base), KindFreeText
	case 2:
		return base + ". Refund to " + genIBAN(r) + " please", KindFreeText
	}
	return base, ""
}

// LabelledColumns is the labelled test table: a column per detector with
// known content, and look-alikes that hold no personal data but share a
// format with some (order numbers, SKUs, timestamps, versions, amounts).
var LabelledColumns = []LabelledColumn{
	{Name: "email", Kind: lethe.KindText, SQL: "varchar(200)", Label: KindEmail, Gen: func(r *rand.Rand, i int) (any, Kind) {
		e := fake("email", i)
		if r.IntN(3) == 0 {
			e = strings.ToLower(fake("first_name", i)) + "." + strings.ToLower(fake("last_name", i+7)) + "@" + pick(r, "gmail.com", "web.de", "orange.fr", "example.co.uk")
		}
		return e, KindEmail
	}},
	{Name: "mobile", Kind: lethe.KindText, SQL: "varchar(40)", Label: KindPhone, Gen: func(r *rand.Rand, i int) (any, Kind) { return genPhone(r, false), KindPhone }},
	{Name: "contact_phone", Kind: lethe.KindText, SQL: "varchar(40)", Label: KindPhone, Gen: func(r *rand.Rand, i int) (any, Kind) { return genPhone(r, true), KindPhone }},
	{Name: "last_ip", Kind: lethe.KindText, SQL: "varchar(60)", Label: KindIP, Gen: func(r *rand.Rand, i int) (any, Kind) { return genIP(r), KindIP }},
	{Name: "payout_account", Kind: lethe.KindText, SQL: "varchar(60)", Label: KindIBAN, Gen: func(r *rand.Rand, i int) (any, Kind) { return genIBAN(r), KindIBAN }},
	{Name: "card_on_file", Kind: lethe.KindText, SQL: "varchar(30)", Label: KindCard, Gen: func(r *rand.Rand, i int) (any, Kind) { return genCard(r), KindCard }},
	{Name: "birthday", Kind: lethe.KindDate, SQL: "date", Label: KindBirthDate, Gen: func(r *rand.Rand, i int) (any, Kind) {
		return time.Date(1935+r.IntN(72), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC), KindBirthDate
	}},
	{Name: "geb", Kind: lethe.KindText, SQL: "varchar(20)", Label: KindBirthDate, Gen: func(r *rand.Rand, i int) (any, Kind) {
		return fmt.Sprintf("%02d.%02d.%d", 1+r.IntN(28), 1+r.IntN(12), 1940+r.IntN(65)), KindBirthDate
	}},
	{Name: "postcode", Kind: lethe.KindText, SQL: "varchar(12)", Label: KindPostalCode, Gen: func(r *rand.Rand, i int) (any, Kind) { return genPostcode(r), KindPostalCode }},
	{Name: "zip", Kind: lethe.KindText, SQL: "varchar(12)", Label: KindPostalCode, Gen: func(r *rand.Rand, i int) (any, Kind) {
		return fmt.Sprintf("%05d", 1000+r.IntN(98000)), KindPostalCode
	}},
	{Name: "tax_ref", Kind: lethe.KindText, SQL: "varchar(20)", Label: KindNationalID, Gen: func(r *rand.Rand, i int) (any, Kind) { return genNationalID(r), KindNationalID }},
	{Name: "first_name", Kind: lethe.KindText, SQL: "varchar(60)", Label: KindPersonName, Gen: func(r *rand.Rand, i int) (any, Kind) { return fake("first_name", i), KindPersonName }},
	{Name: "recipient", Kind: lethe.KindText, SQL: "varchar(120)", Label: KindPersonName, Gen: func(r *rand.Rand, i int) (any, Kind) {
		// Names from the classifier's own lists and from package mask's,
		// a column with no name hint.
		if r.IntN(2) == 0 {
			return fake("name", i), KindPersonName
		}
		return pick(r, "Maria", "John", "Sophie", "Lukas", "Giulia", "Pablo") + " " + pick(r, "Garcia", "Smith", "Muller", "Rossi", "Jansen", "Dubois"), KindPersonName
	}},
	{Name: "notes", Kind: lethe.KindText, SQL: "varchar(400)", Label: KindFreeText, Gen: func(r *rand.Rand, i int) (any, Kind) { return genNote(r) }},

	// Look-alikes.
	{Name: "order_no", Kind: lethe.KindText, SQL: "varchar(20)", Gen: func(r *rand.Rand, i int) (any, Kind) { return strconv.Itoa(100000000 + r.IntN(900000000)), "" }},
	{Name: "order_id", Kind: lethe.KindInteger, SQL: "bigint", Gen: func(r *rand.Rand, i int) (any, Kind) { return int64(4000000000000000 + r.Int64N(999999999999999)), "" }},
	{Name: "sku", Kind: lethe.KindText, SQL: "varchar(30)", Gen: func(r *rand.Rand, i int) (any, Kind) {
		return pick(r, "SKU-", "AB-", "X") + digits(r, 6) + pick(r, "", "-BLK", "-L"), ""
	}},
	{Name: "barcode", Kind: lethe.KindText, SQL: "varchar(30)", Gen: func(r *rand.Rand, i int) (any, Kind) { return "4" + digits(r, 15), "" }},
	{Name: "created_at", Kind: lethe.KindTime, SQL: "timestamp", Gen: func(r *rand.Rand, i int) (any, Kind) {
		return time.Date(2012+r.IntN(14), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), 1+r.IntN(59), r.IntN(60), 0, time.UTC), ""
	}},
	{Name: "shipped_on", Kind: lethe.KindDate, SQL: "date", Gen: func(r *rand.Rand, i int) (any, Kind) {
		return time.Date(2015+r.IntN(11), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC), ""
	}},
	{Name: "app_version", Kind: lethe.KindText, SQL: "varchar(20)", Gen: func(r *rand.Rand, i int) (any, Kind) {
		if r.IntN(2) == 0 {
			return fmt.Sprintf("%d.%d.%d", r.IntN(5), r.IntN(20), r.IntN(30)), ""
		}
		return fmt.Sprintf("%d.%d.%d.%d", 1+r.IntN(5), r.IntN(20), r.IntN(30), r.IntN(999)), ""
	}},
	{Name: "amount", Kind: lethe.KindText, SQL: "varchar(20)", Gen: func(r *rand.Rand, i int) (any, Kind) {
		return fmt.Sprintf("%d.%02d", r.IntN(5000), r.IntN(100)), ""
	}},
	{Name: "quantity_code", Kind: lethe.KindText, SQL: "varchar(10)", Gen: func(r *rand.Rand, i int) (any, Kind) { return digits(r, 5), "" }},
	{Name: "tracking", Kind: lethe.KindText, SQL: "varchar(30)", Gen: func(r *rand.Rand, i int) (any, Kind) { return "1Z" + digits(r, 3) + "AA" + digits(r, 11), "" }},
	{Name: "product_name", Kind: lethe.KindText, SQL: "varchar(60)", Gen: func(r *rand.Rand, i int) (any, Kind) {
		return pick(r, "Blue", "Large", "Classic", "Organic", "Smart") + " " + pick(r, "Widget", "Mug", "Lamp", "Backpack", "Kettle"), ""
	}},
	{Name: "status", Kind: lethe.KindText, SQL: "varchar(20)", Gen: func(r *rand.Rand, i int) (any, Kind) { return pick(r, "pending", "shipped", "returned"), "" }},
	{Name: "comment", Kind: lethe.KindText, SQL: "varchar(400)", Gen: func(r *rand.Rand, i int) (any, Kind) { return pick(r, prose...), "" }},
}

// LabelledRows generates n rows of the labelled table, deterministically:
// values[i][j] is row i's value of LabelledColumns[j], labels likewise.
func LabelledRows(n int) (values [][]any, labels [][]Kind) {
	r := rand.New(rand.NewPCG(5, 2026))
	values = make([][]any, n)
	labels = make([][]Kind, n)
	for i := range n {
		values[i] = make([]any, len(LabelledColumns))
		labels[i] = make([]Kind, len(LabelledColumns))
		for j, c := range LabelledColumns {
			values[i][j], labels[i][j] = c.Gen(r, i)
		}
	}
	return values, labels
}

package scan

// Checksums and the formats they protect. Each function takes the value
// as written and reports whether it is well formed and its check digit
// (or key, or letter) is right; none allocates for the common rejection.

// luhn reports whether the digits pass the Luhn (mod 10) check.
func luhn(digits []byte) bool {
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// cardBrand reports whether a number of this length with this prefix is
// issued by a card network (ISO/IEC 7812 ranges of Visa, Mastercard,
// American Express, Discover, JCB, Diners Club, UnionPay, Maestro).
func cardBrand(d []byte) bool {
	n := len(d)
	p := func(k int) int {
		v := 0
		for i := range k {
			v = v*10 + int(d[i]-'0')
		}
		return v
	}
	switch {
	case d[0] == '4': // Visa
		return n == 13 || n == 16 || n == 19
	case p(2) >= 51 && p(2) <= 55, p(4) >= 2221 && p(4) <= 2720: // Mastercard
		return n == 16
	case p(2) == 34 || p(2) == 37: // American Express
		return n == 15
	case p(4) == 6011, p(2) == 65, p(3) >= 644 && p(3) <= 649: // Discover
		return n >= 16 && n <= 19
	case p(4) >= 3528 && p(4) <= 3589: // JCB
		return n >= 16 && n <= 19
	case p(3) >= 300 && p(3) <= 305, p(2) == 36, p(2) == 38, p(2) == 39: // Diners Club
		return n >= 14 && n <= 19
	case p(2) == 62: // UnionPay
		return n >= 16 && n <= 19
	case p(2) == 50, p(2) >= 56 && p(2) <= 58, p(2) == 63, p(2) == 67: // Maestro
		return n >= 12 && n <= 19
	}
	return false
}

// ibanLengths is the length of an IBAN per country (SWIFT IBAN registry).
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
	"BH": 22, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22,
	"DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
	"GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
	"IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
	"LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
	"ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24,
	"PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31,
	"SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
	"TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}

// isIBAN reports whether s (spaces allowed, any case) is an IBAN of a
// registered country with its length and a valid ISO 7064 mod 97-10
// check.
func isIBAN(s string) bool {
	var buf [34]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			return false
		}
		if n == len(buf) {
			return false
		}
		buf[n] = c
		n++
	}
	if n < 15 {
		return false
	}
	b := buf[:n]
	if !isUpper(b[0]) || !isUpper(b[1]) || !isDigit(b[2]) || !isDigit(b[3]) {
		return false
	}
	if ibanLengths[string(b[:2])] != n {
		return false
	}
	// Move the first four characters to the end, read letters as 10..35,
	// and take the remainder digit by digit.
	rem := 0
	for i := range n {
		c := b[(i+4)%n]
		if isDigit(c) {
			rem = (rem*10 + int(c-'0')) % 97
		} else {
			rem = (rem*100 + int(c-'A'+10)) % 97
		}
	}
	return rem == 1
}

// National identifiers with a check, as detail names.
const (
	nidUSSSN = "us.ssn" // format and issuance rules only: an SSN has no check digit
	nidFRNIR = "fr.nir" // key 97 - (number mod 97)
	nidNLBSN = "nl.bsn" // 11-test
	nidESDNI = "es.dni" // DNI and NIE control letter
	nidITCF  = "it.cf"  // codice fiscale control character
)

// usSSN reports whether s is written AAA-GG-SSSS (or, when bare is true,
// nine digits) with a number the SSA issues: area not 000, 666 or 9xx,
// group not 00, serial not 0000.
func usSSN(s string, bare bool) bool {
	var d [9]byte
	switch {
	case len(s) == 11 && s[3] == '-' && s[6] == '-':
		copy(d[:3], s[:3])
		copy(d[3:5], s[4:6])
		copy(d[5:], s[7:])
	case bare && len(s) == 9:
		copy(d[:], s)
	default:
		return false
	}
	for _, c := range d {
		if !isDigit(c) {
			return false
		}
	}
	area := string(d[:3])
	return area != "000" && area != "666" && d[0] != '9' && string(d[3:5]) != "00" && string(d[5:]) != "0000"
}

// frNIR reports whether s is a French social security number (NIR, 15
// characters, spaces allowed): sex 1-4 or 7-8, a month 01-12 or 20-42 or
// 50-99, Corsica's 2A/2B as département, and the key.
func frNIR(s string) bool {
	var b [15]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' {
			continue
		}
		if n == len(b) {
			return false
		}
		b[n] = c
		n++
	}
	if n != 15 {
		return false
	}
	corsica := 0
	switch {
	case b[5] == '2' && (b[6] == 'A' || b[6] == 'a'):
		corsica = 1000000 // 2A counts as 19: subtract 1,000,000 from the number
		b[6] = '0'
	case b[5] == '2' && (b[6] == 'B' || b[6] == 'b'):
		corsica = 2000000 // 2B counts as 18
		b[6] = '0'
	}
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	switch b[0] {
	case '1', '2', '3', '4', '7', '8':
	default:
		return false
	}
	month := int(b[3]-'0')*10 + int(b[4]-'0')
	if month == 0 || month > 12 && month < 20 || month > 42 && month < 50 {
		return false
	}
	var num int64
	for _, c := range b[:13] {
		num = num*10 + int64(c-'0')
	}
	if corsica != 0 {
		// 2A0... reads as 200...; 2A stands for 19 and 2B for 18.
		num -= int64(corsica)
	}
	key := int(b[13]-'0')*10 + int(b[14]-'0')
	return key >= 1 && key <= 97 && int64(key) == 97-num%97
}

// nlBSN reports whether s is a Dutch citizen service number: nine digits
// (eight with an implied leading zero) passing the 11-test, not all zero.
func nlBSN(s string) bool {
	if len(s) == 8 {
		s = "0" + s
	}
	if len(s) != 9 {
		return false
	}
	sum := 0
	zero := true
	for i := range 9 {
		c := s[i]
		if !isDigit(c) {
			return false
		}
		if c != '0' {
			zero = false
		}
		w := 9 - i
		if i == 8 {
			w = -1
		}
		sum += w * int(c-'0')
	}
	return !zero && sum%11 == 0
}

const dniLetters = "TRWAGMYFPDXBNJZSQVHLCKE"

// esDNI reports whether s is a Spanish DNI (8 digits and the control
// letter) or NIE (X, Y or Z, 7 digits, the letter), a hyphen or space
// before the letter allowed.
func esDNI(s string) bool {
	if len(s) == 10 && (s[8] == '-' || s[8] == ' ') {
		s = s[:8] + s[9:]
	}
	if len(s) != 9 {
		return false
	}
	num := 0
	for i := range 8 {
		c := s[i]
		if i == 0 {
			switch c {
			case 'X', 'x':
				c = '0'
			case 'Y', 'y':
				c = '1'
			case 'Z', 'z':
				c = '2'
			}
		}
		if !isDigit(c) {
			return false
		}
		num = num*10 + int(c-'0')
	}
	l := s[8]
	if 'a' <= l && l <= 'z' {
		l -= 'a' - 'A'
	}
	return dniLetters[num%23] == l
}

// Codice fiscale: the value of each character in an odd (1st, 3rd...)
// and an even position, digits and letters alike.
var (
	cfOdd = [36]int{1, 0, 5, 7, 9, 13, 15, 17, 19, 21, // 0-9
		1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23} // A-Z
	// omocodia: letters that stand for digits where two people would
	// get the same code.
	cfOmocodia = "LMNPQRSTUV"
)

// itCF reports whether s is an Italian codice fiscale (16 characters:
// surname and name letters, birth year, month letter, day, place, check
// character), omocodia substitutions allowed.
func itCF(s string) bool {
	if len(s) != 16 {
		return false
	}
	var b [16]byte
	for i := range 16 {
		c := s[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		b[i] = c
	}
	for i, c := range b {
		switch i {
		case 0, 1, 2, 3, 4, 5, 11, 15:
			if !isUpper(c) {
				return false
			}
		case 8:
			if indexByte("ABCDEHLMPRST", c) < 0 {
				return false
			}
		default: // digits, or their omocodia letters
			if !isDigit(c) && indexByte(cfOmocodia, c) < 0 {
				return false
			}
		}
	}
	sum := 0
	for i := range 15 {
		c := b[i]
		v := 0
		if isDigit(c) {
			v = int(c - '0')
		} else {
			v = int(c - 'A')
		}
		if i%2 == 0 { // odd position, counting from 1
			idx := v
			if !isDigit(c) {
				idx = 10 + v
			}
			sum += cfOdd[idx]
		} else {
			sum += v
		}
	}
	return b[15] == byte('A'+sum%26)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

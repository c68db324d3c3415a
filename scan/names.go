package scan

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// The name lists: common given names and family names across Europe and
// the Americas, lower-case, ASCII spellings (a value's accents are folded
// before the look-up only where the list has the plain spelling). They
// are a hint, not a census: a column of names is recognised when enough
// of its values hold one of these, so rarer names in the same column do
// not need to be listed. Kept apart from package mask's lists on purpose,
// so that measuring recall on fake.name output measures something.
var givenNames = setOf(`
aaron abigail adam adrian adriana agnieszka aidan alan albert alberto alejandro alessandro alessia alexander alexandra alexis
alfred ali alice alicia alina alison amanda amber amy ana andrea andreas andrew andrzej angela angelo anja ann anna anne annette
anthony antoine antonio arnaud ashley barbara beatrice ben benjamin bernard beth betty bob brandon brenda brian bruce camille
carl carlo carlos carmen carol caroline catherine cecile charles charlotte chris christian christina christine christopher claire
claudia daniel daniela danielle david deborah dennis diana diane dirk dominik donald donna doris dorothy edward elena elisabeth
elizabeth ellen emily emma eric erik eva evelyn fabian fatima federica felipe fernando florian francesca francesco francisco
frank franz frederic gabriel gabriele gary george gerard gerhard giorgio giovanni giulia giuseppe gloria grace gregory hannah
hans harold harry heather heinz helen helmut henry hugo ian irene isabel isabella jack jacob jacqueline james jan jane janet
janice jason javier jean jeffrey jennifer jeremy jessica joan joanna johan johanna john jonathan jordi jorge jose joseph joshua
joyce juan judith julia julie julien justin karen karin katarzyna katherine kathleen kathryn keith kelly kenneth kevin kim
klaus krzysztof kyle larry laura lauren laurent leonardo linda lisa lorenzo louis louise lucas luis luisa lukas luke manuel
marc marco marek margaret maria marie marina mario mark marta martin mary matteo matthew matthias maximilian megan melissa
michael michel michelle miguel mohamed monika nancy natalie nathalie nicholas nicolas nicole olga olivier pablo pamela patricia
patrick paul paula peter petra philip philippe pierre piotr rachel rafael raymond rebecca richard robert roberto roger ronald
rose ruth ryan sabine samantha samuel sandra sara sarah scott sean sebastian sergio sharon simon sofia sophie stefan stefano
stephanie stephen steven susan sylvie tanja teresa thomas timothy tobias tomasz tyler ursula valentina valerie vanessa
victoria vincent virginia walter wayne willem william wolfgang yvonne zachary
`)

var familyNames = setOf(`
adams allen alvarez anderson bailey baker barnes bauer becker bell bennett bernard bertrand bianchi brooks brown bruno
campbell carter castro clark collins colombo cook cooper costa cox cruz davies davis de dekker diaz dubois dupont durand
edwards evans fernandez ferrari fischer fisher flores fontana foster garcia gomez gonzalez gray green greco griffin hall
hansen harris hernandez hill hoffmann hughes jackson james jansen janssen jenkins jensen johnson jones keller kelly king
klein koch kowalski krause lambert lee lefebvre leroy lewis lopez lorenz lombardi marino martin martinez meyer miller mitchell
moore morales moreau morgan morris muller murphy murray nelson nguyen nielsen novak nowak olsen ortiz parker perez perry
peters petit peterson phillips powell price ramirez reed reyes richard richardson rivera roberts robinson rodriguez romano
ross rossi roux russell russo sanchez sanders schmidt schmitz schneider schulz schwarz scott shaw simon smith smits stewart
sullivan taylor thomas thompson torres turner visser wagner walker wang ward watson weber white williams wilson wojcik wood
wright young zimmermann
`)

func setOf(words string) map[string]struct{} {
	m := map[string]struct{}{}
	for _, w := range strings.Fields(words) {
		m[w] = struct{}{}
	}
	return m
}

// isPersonName: one to four words of letters (hyphens, apostrophes and an
// initial's dot allowed), written as names are (capitalised, or all in
// one case). In a column named first_name, surname and the like, that
// shape is enough; elsewhere one of the words must be a listed name.
func isPersonName(s string, h *hints) bool {
	words := 0
	listed := false
	for w := range strings.FieldsSeq(s) {
		words++
		if words > 4 || !nameWord(w) {
			return false
		}
		if !listed {
			lw := strings.ToLower(strings.TrimRight(w, "."))
			_, g := givenNames[lw]
			_, f := familyNames[lw]
			listed = g || f
		}
	}
	if words == 0 {
		return false
	}
	return listed || h.strongName
}

func nameWord(w string) bool {
	first, _ := utf8.DecodeRuneInString(w)
	if !unicode.IsLetter(first) {
		return false
	}
	upper, lower := 0, 0
	for i, r := range w {
		switch {
		case unicode.IsUpper(r):
			upper++
		case unicode.IsLower(r):
			lower++
		case r == '-' || r == '\'' || r == '\u2019':
		case r == '.' && i == len(w)-1:
		default:
			return false
		}
	}
	// Jane, JANE, jane, McDonald, O'Neil; not iPhone or SKU-like mixes.
	return lower == 0 || upper == 0 || unicode.IsUpper(first) && upper <= 3
}

// freeText returns what the text contains: e-mail addresses, phone
// numbers written with their +country prefix, IP addresses, IBANs (also
// in groups of four), payment card numbers (also in groups) and national
// identifiers that carry a check. Names and dates in prose are left out:
// they would flag nearly every comment column.
func (c *Classifier) freeText(s string) kindBit {
	var found kindBit
	toks := strings.Fields(s)
	for i := 0; i < len(toks); i++ {
		t := strings.Trim(toks[i], ",;:()[]<>\"'!?")
		t = strings.TrimSuffix(t, ".")
		if t == "" {
			continue
		}
		sh := shapeOf(t)
		switch {
		case sh.at == 1:
			if isEmail(strings.TrimPrefix(t, "mailto:")) {
				found |= bitEmail
			}
			continue
		case sh.colons >= 2 || sh.dots == 3 && sh.digits+3 == sh.n:
			if isIP(t) {
				found |= bitIP
				continue
			}
		}
		if sh.n >= 4 && isUpper(upperByte(t[0])) && isUpper(upperByte(t[1])) && isDigit(t[2]) && isDigit(t[3]) {
			// An IBAN, whole or in groups: join the following groups.
			joined := t
			for j := i + 1; j < len(toks) && j <= i+8 && len(joined) < 34; j++ {
				joined += strings.TrimRight(toks[j], ",;.)")
				if isIBAN(joined) {
					found |= bitIBAN
					break
				}
			}
			if isIBAN(t) {
				found |= bitIBAN
			}
			continue
		}
		if sh.digits > 0 && sh.digits+sh.dashes == sh.n || sh.plus == 1 && t[0] == '+' {
			// Digit groups: a card number, or a phone number with its
			// country prefix.
			joined := t
			digits := sh.digits
			for j := i; ; {
				if digits >= 13 && digits <= 19 && isCard(joined) {
					found |= bitCard
					break
				}
				if joined[0] == '+' && digits >= 8 && digits <= 15 {
					if num, err := phonenumbers.Parse(joined, "ZZ"); err == nil && phonenumbers.IsValidNumber(num) {
						found |= bitPhone
						break
					}
				}
				j++
				if j >= len(toks) || j > i+5 || digits > 19 {
					break
				}
				next := strings.TrimRight(toks[j], ",;.)")
				nsh := shapeOf(next)
				if nsh.digits == 0 || nsh.digits+nsh.dashes+nsh.parens != nsh.n {
					break
				}
				joined += " " + next
				digits += nsh.digits
			}
			if found&(bitCard|bitPhone) != 0 {
				continue
			}
		}
		if id := nationalID(t, sh, &hints{}); id != "" && id != nidNLBSN {
			// A bare nine-digit number passes the BSN's 11-test one time
			// in eleven: in prose, that is an order number.
			found |= bitNationalID
		}
	}
	return found
}

func upperByte(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

package scan

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/lethe-privacy/lethe"
)

// Kind is what a detector finds.
type Kind string

// The detectors.
const (
	KindEmail      Kind = "email"
	KindPhone      Kind = "phone"
	KindIP         Kind = "ip_address"
	KindIBAN       Kind = "iban"
	KindCard       Kind = "payment_card"
	KindBirthDate  Kind = "date_of_birth"
	KindPostalCode Kind = "postal_code"
	KindNationalID Kind = "national_id"
	KindPersonName Kind = "person_name"
	KindFreeText   Kind = "free_text"
)

// Kinds lists the detectors in the order a column's findings are ranked
// when two are equally confident: checksummed formats first.
var Kinds = []Kind{KindIBAN, KindCard, KindNationalID, KindEmail, KindIP, KindPhone, KindBirthDate, KindPostalCode, KindPersonName, KindFreeText}

// kindBit is a Kind as a bit, so that a value's matches fit a word.
type kindBit uint16

const (
	bitEmail kindBit = 1 << iota
	bitPhone
	bitIP
	bitIBAN
	bitCard
	bitBirthDate
	bitPostal
	bitNationalID
	bitName
	bitFreeText
)

var kindBits = map[Kind]kindBit{
	KindEmail: bitEmail, KindPhone: bitPhone, KindIP: bitIP, KindIBAN: bitIBAN, KindCard: bitCard,
	KindBirthDate: bitBirthDate, KindPostalCode: bitPostal, KindNationalID: bitNationalID,
	KindPersonName: bitName, KindFreeText: bitFreeText,
}

// Column is what the classifier knows of a column besides its values:
// its name (hints such as phone or date_of_birth) and its type's family.
type Column struct {
	Name string
	Kind lethe.ColumnKind
}

// hints is what a column's name says.
type hints struct {
	kinds kindBit
	// strongName: first_name, surname...; weakName: a bare "name".
	strongName, weakName bool
	// notIP: version, release, build: dotted quads there are versions.
	notIP bool
	nid   string // the identifier a name points at (ssn, bsn...), or ""
	// lastRegion is the region the column's last national phone number
	// was valid in (state of one column's statistics, not shared).
	lastRegion string
}

// nameTokens splits a column name into lower-case words at underscores,
// hyphens, dots, digits-to-letters and camelCase boundaries.
func nameTokens(name string) []string {
	var toks []string
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			toks = append(toks, b.String())
			b.Reset()
		}
	}
	prevLower := false
	for _, r := range name {
		switch {
		case r == '_' || r == '-' || r == '.' || r == ' ':
			flush()
			prevLower = false
			continue
		case unicode.IsUpper(r):
			if prevLower {
				flush()
			}
			b.WriteRune(unicode.ToLower(r))
			prevLower = false
			continue
		}
		b.WriteRune(r)
		prevLower = unicode.IsLower(r) || unicode.IsDigit(r)
	}
	flush()
	return toks
}

func columnHints(name string) hints {
	var h hints
	toks := nameTokens(name)
	has := func(words ...string) bool {
		for _, t := range toks {
			for _, w := range words {
				if t == w {
					return true
				}
			}
		}
		return false
	}
	joined := strings.Join(toks, "")
	contains := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(joined, s) {
				return true
			}
		}
		return false
	}
	if contains("mail") {
		h.kinds |= bitEmail
	}
	if has("phone", "tel", "telephone", "mobile", "cell", "fax", "msisdn", "telefon", "telefono", "handy", "portable", "gsm") || contains("phone") {
		h.kinds |= bitPhone
	}
	if has("ip", "ipv4", "ipv6", "inet") || contains("ipaddr", "remoteaddr", "clientaddr") {
		h.kinds |= bitIP
	}
	if has("version", "ver", "release", "build", "revision", "semver") {
		h.notIP = true
	}
	if has("iban", "bank", "account") {
		h.kinds |= bitIBAN
	}
	if has("card", "pan", "cc", "creditcard") || contains("cardnumber", "creditcard") {
		h.kinds |= bitCard
	}
	if has("dob", "born", "bday") || contains("birth", "geburt", "naissance", "nacimiento", "nascita") {
		h.kinds |= bitBirthDate
	}
	if has("zip", "zipcode", "postal", "postcode", "plz", "postleitzahl", "cap") || contains("postcode", "postalcode", "zipcode") {
		h.kinds |= bitPostal
	}
	switch {
	case has("ssn") || contains("socialsecurity"):
		h.nid = nidUSSSN
	case has("nir", "insee", "secu"):
		h.nid = nidFRNIR
	case has("bsn", "sofi"):
		h.nid = nidNLBSN
	case has("dni", "nie", "nif"):
		h.nid = nidESDNI
	case has("cf", "codice", "fiscale"):
		h.nid = nidITCF
	case has("tin", "national", "passport") || contains("taxid", "nationalid"):
		h.nid = "any"
	}
	if h.nid != "" {
		h.kinds |= bitNationalID
	}
	notPerson := has("product", "file", "company", "host", "table", "brand", "item", "city", "street", "country", "domain", "bucket", "key", "type", "event", "tag", "category", "plan", "group", "role", "app", "service", "queue", "job", "org", "organisation", "organization", "team", "project", "shop", "store", "user", "screen", "nick", "column", "field", "schema", "db", "database", "device", "model", "class", "method", "route", "path")
	switch {
	case has("firstname", "lastname", "surname", "forename", "fullname", "givenname", "familyname", "maidenname", "middlename", "nachname", "vorname", "nom", "prenom", "apellido", "apellidos", "cognome"):
		h.strongName = true
	case has("name") && has("first", "last", "given", "family", "full", "middle", "maiden", "sur", "fore", "customer", "contact", "person", "holder", "recipient", "billing", "shipping", "legal", "patient", "employee", "member", "owner", "display"):
		h.strongName = true
	case has("name") && !notPerson:
		h.weakName = true
	}
	if h.strongName || h.weakName {
		h.kinds |= bitName
	}
	return h
}

// text returns v as text for the detectors, and whether it is text at
// all: integers read as their digits (card and identity numbers stored
// as numbers), bytes only when they are UTF-8.
func text(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		if utf8.Valid(x) {
			return string(x), true
		}
	case int64:
		return strconv.FormatInt(x, 10), true
	}
	return "", false
}

// shape counts the classes of a value's bytes in one pass, so that most
// detectors reject a value without looking at it again.
type shape struct {
	n                              int
	digits, upper, lower, spaces   int
	at, dots, colons, dashes, plus int
	slashes, parens, other         int
	nonASCII                       int
	words                          int
}

func shapeOf(s string) shape {
	sh := shape{n: len(s)}
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		space := false
		switch {
		case isDigit(c):
			sh.digits++
		case 'A' <= c && c <= 'Z':
			sh.upper++
		case 'a' <= c && c <= 'z':
			sh.lower++
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			sh.spaces++
			space = true
		case c == '@':
			sh.at++
		case c == '.':
			sh.dots++
		case c == ':':
			sh.colons++
		case c == '-':
			sh.dashes++
		case c == '+':
			sh.plus++
		case c == '/':
			sh.slashes++
		case c == '(' || c == ')':
			sh.parens++
		case c >= 0x80:
			sh.nonASCII++
		default:
			sh.other++
		}
		if !space && !inWord {
			sh.words++
		}
		inWord = !space
	}
	return sh
}

// valueMatch is what one value matched.
type valueMatch struct {
	kinds  kindBit
	nid    string  // which national identifier, when bitNationalID
	inText kindBit // what free text contained, when bitFreeText
}

// Classifier decides which detectors a value matches, in the context of
// its column. It is safe for concurrent use.
type Classifier struct {
	regions []string
	now     time.Time
	// birth range: dates of birth of living adults and teenagers.
	oldest, youngest time.Time
}

// ClassifierOpts configure a Classifier.
type ClassifierOpts struct {
	// Regions are the ISO 3166 regions a phone number written without
	// its +country prefix is tried in. Defaults to DefaultRegions.
	Regions []string
	// Now anchors the plausible range of dates of birth. Defaults to
	// time.Now().
	Now time.Time
}

// DefaultRegions are the regions national phone numbers are tried in
// when none are configured.
var DefaultRegions = []string{"US", "GB", "DE", "FR", "NL", "ES", "IT", "BE", "AT", "CH", "IE", "PL", "SE", "DK", "PT"}

// NewClassifier returns a classifier.
func NewClassifier(opts ClassifierOpts) *Classifier {
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	regions := opts.Regions
	if len(regions) == 0 {
		regions = DefaultRegions
	}
	up := make([]string, len(regions))
	for i, r := range regions {
		up[i] = strings.ToUpper(r)
	}
	return &Classifier{regions: up, now: now, oldest: now.AddDate(-110, 0, 0), youngest: now.AddDate(-13, 0, 0)}
}

// match runs the detectors on one non-null value.
func (c *Classifier) match(col *Column, h *hints, v any) valueMatch {
	var m valueMatch
	if t, ok := v.(time.Time); ok {
		if c.birthTime(t) {
			m.kinds |= bitBirthDate
		}
		return m
	}
	if col.Kind == lethe.KindBool || col.Kind == lethe.KindFloat {
		return m
	}
	s, ok := text(v)
	if !ok {
		return m
	}
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 4096 {
		return m
	}
	sh := shapeOf(s)
	_, isInt := v.(int64)
	if sh.words >= 3 && sh.n >= 20 && sh.lower >= 3 {
		// Prose. Up to four words may still be a name (Anna Maria de
		// Souza); five or more are text only.
		if in := c.freeText(s); in != 0 {
			m.kinds |= bitFreeText
			m.inText = in
		}
		if sh.words > 4 {
			return m
		}
	}
	if sh.at == 1 && sh.spaces == 0 && isEmail(s) {
		m.kinds |= bitEmail
		return m
	}
	if !isInt && (sh.colons >= 2 || sh.dots == 3 && sh.digits+3 == sh.n) || col.Kind == lethe.KindInet {
		if !h.notIP && isIP(s) {
			m.kinds |= bitIP
			return m
		}
	}
	if sh.upper+sh.lower >= 2 && sh.digits >= 2 && sh.n >= 15 && sh.n <= 42 && isIBAN(s) {
		m.kinds |= bitIBAN
		return m
	}
	// A 16-digit integer is an id far more often than a card number
	// (stored as text, with its leading zeros and groups): only in a
	// column whose name says card.
	if sh.digits >= 12 && sh.digits <= 19 && sh.digits+sh.spaces+sh.dashes == sh.n && (!isInt || h.kinds&bitCard != 0) && isCard(s) {
		m.kinds |= bitCard
		return m
	}
	if id := nationalID(s, sh, h); id != "" {
		m.kinds |= bitNationalID
		m.nid = id
		return m
	}
	if !isInt && sh.digits == 8 && sh.digits+sh.dashes+sh.slashes+sh.dots == sh.n || sh.n >= 19 && sh.n <= 25 && sh.digits >= 12 && sh.colons >= 2 {
		if c.birthText(s) {
			m.kinds |= bitBirthDate
		}
		return m
	}
	if sh.digits >= 6 && sh.digits <= 17 && sh.upper+sh.lower == 0 && sh.other == 0 && sh.at == 0 && sh.colons == 0 && sh.nonASCII == 0 {
		if c.isPhone(s, sh, h, isInt) {
			m.kinds |= bitPhone
			return m
		}
	}
	if isPostal(s, sh, h.kinds&bitPostal != 0) {
		m.kinds |= bitPostal
		return m
	}
	if sh.digits == 0 && sh.at == 0 && sh.colons == 0 && sh.words <= 4 && isPersonName(s, h) {
		m.kinds |= bitName
	}
	return m
}

// isEmail checks an addr-spec as people write it: a dot-atom local part
// (RFC 5322, quoted strings left out) of at most 64 bytes, and a domain
// of at least two labels of letters, digits and hyphens ending in a
// letters-only top-level label.
func isEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at < 1 || at > 64 || len(s)-at-1 < 4 || len(s) > 254 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if local[0] == '.' || local[len(local)-1] == '.' {
		return false
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		switch {
		case isDigit(c), 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case c == '.':
			if local[i-1] == '.' {
				return false
			}
		case strings.IndexByte("!#$%&'*+/=?^_`{|}~-", c) >= 0:
		default:
			return false
		}
	}
	labels := 0
	start := 0
	for i := 0; i <= len(domain); i++ {
		if i < len(domain) && domain[i] != '.' {
			c := domain[i]
			if !isDigit(c) && !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') && c != '-' {
				return false
			}
			continue
		}
		label := domain[start:i]
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		labels++
		if i == len(domain) { // the top-level label: letters only
			if len(label) < 2 {
				return false
			}
			for j := 0; j < len(label); j++ {
				if c := label[j]; !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') {
					return false
				}
			}
		}
		start = i + 1
	}
	return labels >= 2
}

// isIP accepts an IPv4 address in dotted-quad form or an IPv6 address,
// but not the unspecified address (:: or 0.0.0.0, a default more often
// than a person's address).
func isIP(s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		if p, err := netip.ParsePrefix(s); err == nil && p.IsSingleIP() { // inet's 192.0.2.1/32
			a = p.Addr()
		} else {
			return false
		}
	}
	return !a.IsUnspecified()
}

// isCard: 12 to 19 digits, spaces or dashes between groups, a card
// network's prefix and length, and the Luhn check.
func isCard(s string) bool {
	var buf [19]byte
	n := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			buf[n] = s[i]
			n++
		}
	}
	d := buf[:n]
	return cardBrand(d) && luhn(d)
}

// nationalID names the identifier s is, or "". Formats that carry a check
// (NIR, BSN, DNI, codice fiscale) are accepted anywhere; a US SSN, which
// has none, only written AAA-GG-SSSS, or as nine bare digits in a column
// whose name says ssn. A BSN (nine digits, one in eleven of which pass
// the 11-test by chance) counts in a column of any name, but the column
// needs most of its values to pass before it is reported.
func nationalID(s string, sh shape, h *hints) string {
	switch {
	case sh.n == 11 && sh.dashes == 2 && sh.digits == 9:
		if usSSN(s, false) {
			return nidUSSSN
		}
	case sh.n == 9 && sh.digits == 9:
		if h.nid == nidUSSSN && usSSN(s, true) {
			return nidUSSSN
		}
		if nlBSN(s) {
			return nidNLBSN
		}
	case sh.n == 8 && sh.digits == 8 && h.nid == nidNLBSN:
		if nlBSN(s) {
			return nidNLBSN
		}
	}
	if sh.digits >= 13 && sh.digits+sh.spaces+sh.upper+sh.lower == sh.n && sh.upper+sh.lower <= 1 && frNIR(s) {
		return nidFRNIR
	}
	if (sh.n == 9 || sh.n == 10) && sh.digits >= 7 && sh.upper+sh.lower >= 1 && esDNI(s) {
		return nidESDNI
	}
	if sh.n == 16 && sh.upper+sh.lower >= 9 && sh.digits >= 1 && itCF(s) {
		return nidITCF
	}
	return ""
}

// isPhone parses with libphonenumber's rules (nyaruka/phonenumbers): a
// number written with its +country (or 00) prefix must be valid for its
// country; a national number must be valid in one of the configured
// regions, and is only considered when written the way people write phone
// numbers (a trunk 0 or an area code in parentheses with separators), or
// in a column whose name says phone. Bare digit strings elsewhere are
// order numbers and ids far more often than phone numbers.
func (c *Classifier) isPhone(s string, sh shape, h *hints, isInt bool) bool {
	digits := sh.digits
	if digits < 7 || digits > 15 {
		return false
	}
	hinted := h.kinds&bitPhone != 0
	intl := s[0] == '+' || strings.HasPrefix(s, "00") && digits >= 10
	if sh.plus > 1 || sh.plus == 1 && s[0] != '+' {
		return false
	}
	if !intl && !hinted {
		separated := sh.spaces+sh.dashes+sh.dots+sh.parens+sh.slashes > 0
		if isInt || !separated || !(s[0] == '0' || s[0] == '(') {
			return false
		}
	}
	if intl {
		if s[0] == '0' {
			s = "+" + s[2:]
		}
		num, err := phonenumbers.Parse(s, "ZZ")
		if err != nil {
			return false
		}
		// In a column named phone, a number of the right length for its
		// country counts even in a range not allocated yet (test data,
		// new ranges); elsewhere it must be valid.
		return phonenumbers.IsValidNumber(num) || hinted && phonenumbers.IsPossibleNumber(num)
	}
	// A column's national numbers are usually of one country: try the
	// region that matched last first.
	try := func(r string) bool {
		num, err := phonenumbers.Parse(s, r)
		return err == nil && phonenumbers.IsValidNumberForRegion(num, r)
	}
	if h.lastRegion != "" && try(h.lastRegion) {
		return true
	}
	for _, r := range c.regions {
		if r != h.lastRegion && try(r) {
			h.lastRegion = r
			return true
		}
	}
	return false
}

// birthTime: a date (midnight) from 110 to 13 years ago. A timestamp with
// a time of day is when something happened, not a birthday.
func (c *Classifier) birthTime(t time.Time) bool {
	if t.Hour() != 0 || t.Minute() != 0 || t.Second() != 0 || t.Nanosecond() != 0 {
		return false
	}
	return !t.Before(c.oldest) && !t.After(c.youngest)
}

var dateLayouts = []string{"2006-01-02", "2006/01/02", "02.01.2006", "02/01/2006", "01/02/2006", "2006-01-02T15:04:05Z07:00", "2006-01-02 15:04:05", "2006-01-02T15:04:05"}

func (c *Classifier) birthText(s string) bool {
	for _, l := range dateLayouts {
		if len(l) > len(s)+6 || len(s) > len(l)+6 {
			continue
		}
		if t, err := time.Parse(l, s); err == nil {
			return c.birthTime(t)
		}
	}
	return false
}

// isPostal accepts the formats that only postal codes have anywhere (UK,
// Canada, the Netherlands, Poland, Portugal, Japan); the bare four- and
// five-digit codes of most of Europe and the US ZIP(+4) only in a column
// whose name says zip or postal code, since alone they are as likely
// quantities or ids.
func isPostal(s string, sh shape, hinted bool) bool {
	if sh.n < 4 || sh.n > 10 || sh.lower > 0 && !hinted || sh.other+sh.at+sh.colons+sh.dots+sh.plus+sh.slashes+sh.parens+sh.nonASCII > 0 {
		return false
	}
	u := strings.ToUpper(s)
	switch {
	case ukPostcode(u), caPostcode(u), nlPostcode(u):
		return true
	case sh.digits == sh.n:
		return hinted && (sh.n == 4 || sh.n == 5)
	case sh.n == 10 && sh.digits == 9 && u[5] == '-': // US ZIP+4
		return hinted
	case sh.n == 6 && sh.digits == 5 && u[2] == '-': // Poland 00-950
		return hinted
	case sh.n == 8 && sh.digits == 7 && (u[4] == '-' || u[3] == '-'): // Portugal 1000-001, Japan 100-0001
		return true
	case sh.n == 6 && sh.digits == 5 && u[3] == ' ': // Sweden 114 55
		return hinted
	}
	return false
}

// ukPostcode: A9 9AA, A99 9AA, AA9 9AA, AA99 9AA, A9A 9AA, AA9A 9AA.
func ukPostcode(u string) bool {
	s := strings.ReplaceAll(u, " ", "")
	if len(s) < 5 || len(s) > 7 {
		return false
	}
	in := s[len(s)-3:]
	out := s[:len(s)-3]
	if !isDigit(in[0]) || !isUpper(in[1]) || !isUpper(in[2]) {
		return false
	}
	if !isUpper(out[0]) {
		return false
	}
	switch len(out) {
	case 2: // A9
		return isDigit(out[1])
	case 3: // A99, AA9, A9A
		return isDigit(out[1]) && (isDigit(out[2]) || isUpper(out[2])) || isUpper(out[1]) && isDigit(out[2])
	case 4: // AA99, AA9A
		return isUpper(out[1]) && isDigit(out[2]) && (isDigit(out[3]) || isUpper(out[3]))
	}
	return false
}

// caPostcode: A9A 9A9.
func caPostcode(u string) bool {
	s := strings.ReplaceAll(u, " ", "")
	if len(s) != 6 {
		return false
	}
	for i := range 6 {
		if i%2 == 0 && !isUpper(s[i]) || i%2 == 1 && !isDigit(s[i]) {
			return false
		}
	}
	return strings.IndexByte("DFIOQU", s[0]) < 0 && s[0] != 'W' && s[0] != 'Z'
}

// nlPostcode: 9999 AA, not starting with 0, without SA, SD or SS.
func nlPostcode(u string) bool {
	s := strings.ReplaceAll(u, " ", "")
	if len(s) != 6 || s[0] == '0' {
		return false
	}
	for i := range 4 {
		if !isDigit(s[i]) {
			return false
		}
	}
	if !isUpper(s[4]) || !isUpper(s[5]) {
		return false
	}
	l := s[4:]
	return l != "SA" && l != "SD" && l != "SS"
}

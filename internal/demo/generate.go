package demo

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Subject is one data subject of the estate, as SampleSubject describes
// it: the identities a request would name.
type Subject struct {
	// Index is the subject's number, 1 to Options.Subjects.
	Index int `json:"index"`
	// UserID is the subject's users.id, or 0 when the subject has no
	// account (every tenth subject: i % 10 == 0). Otherwise it equals
	// Index.
	UserID int64 `json:"user_id,omitempty"`
	// Email is the subject's e-mail address: users.email for an account,
	// and the address of their newsletter subscription and tickets.
	Email string `json:"email"`
	// Name is the subject's full name.
	Name string `json:"name"`
	// Phone is users.phone, empty when the subject gave none or has no
	// account.
	Phone string `json:"phone,omitempty"`
}

// HasAccount reports whether the subject has a row in users.
func (s Subject) HasAccount() bool { return s.UserID != 0 }

// SampleSubject returns subject i (1-based) of the estate seeded with
// seed, without a query: tests and benchmarks use it to pick a known
// subject. Subject i is the same whatever Options.Subjects is (as long as
// it is at least i). Subjects 1 to 4 and 10 are fixed, whatever the seed:
//
//	1  Siobhán O'Brien, siobhan.o'brien@example.com: a row in every
//	   collection, and orders older than the ten-year tax hold
//	2  Zoë Müller, zoe.mueller@example.com
//	3  Łukasz Żółkiewski, lukasz.zolkiewski@example.com, +48 601 234 567
//	4  Jane Doe, jane.doe+shop@example.com: also a newsletter
//	   subscription and a ticket under that address
//	10 Renée D'Arcy, renee.darcy+news@example.org: no account, a
//	   newsletter subscription and a ticket
func SampleSubject(seed int64, i int) Subject {
	p, _ := newPerson(seed, i)
	return p.Subject
}

// fixedSubjects are the awkward subjects every estate has.
var fixedSubjects = map[int]Subject{
	1:  {Name: "Siobhán O'Brien", Email: "siobhan.o'brien@example.com", Phone: "+353 87 123 4567"},
	2:  {Name: "Zoë Müller", Email: "zoe.mueller@example.com", Phone: "+49 151 2345 6789"},
	3:  {Name: "Łukasz Żółkiewski", Email: "lukasz.zolkiewski@example.com", Phone: "+48 601 234 567"},
	4:  {Name: "Jane Doe", Email: "jane.doe+shop@example.com"},
	10: {Name: "Renée D'Arcy", Email: "renee.darcy+news@example.org"},
}

var fixedCountries = map[int]string{1: "IE", 2: "DE", 3: "PL", 4: "GB", 10: "FR"}

// person is a subject while its rows are generated: the identities and
// the random stream the rest of its rows come from.
type person struct {
	Subject
	country *country
	rng     *rand.Rand
}

// newPerson draws subject i's identities from the subject's own random
// stream, which then goes on to draw the subject's rows. Each subject
// having its own stream is what makes SampleSubject cheap and subject i
// independent of the number of subjects.
func newPerson(seed int64, i int) (person, *rand.Rand) {
	r := rand.New(rand.NewPCG(uint64(seed), uint64(i)))
	first := firstNames[r.IntN(len(firstNames))]
	last := lastNames[r.IntN(len(lastNames))]
	c := &countries[r.IntN(len(countries))]
	s := Subject{Index: i, Name: first + " " + last, Email: email(r, first, last, i)}
	hasPhone := r.Float64() < 0.75
	if hasPhone {
		s.Phone = phone(r, c, i)
	}
	if f, ok := fixedSubjects[i]; ok {
		s.Name, s.Email, s.Phone = f.Name, f.Email, f.Phone
		c = countryByCode(fixedCountries[i])
	}
	if i%10 != 0 {
		s.UserID = int64(i)
	} else {
		s.Phone = ""
	}
	return person{Subject: s, country: c, rng: r}, r
}

func email(r *rand.Rand, first, last string, i int) string {
	f, l := fold(first), fold(last)
	var local string
	switch x := r.IntN(20); {
	case x < 7:
		local = fmt.Sprintf("%s.%s%d", f, l, i)
	case x < 10:
		local = fmt.Sprintf("%s%d", f, i)
	case x < 14:
		local = fmt.Sprintf("%c.%s%d", f[0], l, i)
	case x < 16:
		local = fmt.Sprintf("%s.%s%d+%s", f, l, i, []string{"shop", "orders", "news"}[r.IntN(3)])
	default:
		local = fmt.Sprintf("%s_%s%d", f, l, i)
	}
	return local + "@" + domains[r.IntN(len(domains))]
}

// phone is a mobile number unique per subject: its digits are a
// permutation of i (7919 is prime to 10^8).
func phone(r *rand.Rand, c *country, i int) string {
	d := fmt.Sprintf("%08d", (int64(i)*7919+12345)%100_000_000)
	if r.IntN(4) == 0 {
		return c.dial + c.mobile + d
	}
	return c.dial + " " + c.mobile + " " + d[:4] + " " + d[4:]
}

// fold spells a name in lower-case ASCII for an e-mail address.
func fold(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case r == ' ' || r == '\'' || r == '-':
		default:
			if a, ok := asciiFold[r]; ok {
				b.WriteString(a)
			}
		}
	}
	if b.Len() == 0 {
		return "x"
	}
	return b.String()
}

var asciiFold = map[rune]string{
	'á': "a", 'à': "a", 'â': "a", 'ä': "ae", 'å': "aa", 'ą': "a", 'ã': "a",
	'ç': "c", 'ć': "c", 'č': "c",
	'é': "e", 'è': "e", 'ê': "e", 'ë': "e", 'ę': "e", 'ě': "e",
	'í': "i", 'ì': "i", 'î': "i", 'ï': "i", 'ı': "i",
	'ł': "l", 'ń': "n", 'ñ': "n", 'ň': "n",
	'ó': "o", 'ò': "o", 'ô': "o", 'ö': "oe", 'ø': "oe", 'ő': "o",
	'ř': "r", 'ś': "s", 'š': "s", 'ş': "s", 'ß': "ss",
	'ú': "u", 'ù': "u", 'û': "u", 'ü': "ue", 'ů': "u",
	'ý': "y", 'ź': "z", 'ż': "z", 'ž': "z", 'ğ': "g",
}

// generator writes subjects' rows in order. Child rows get their ids from
// its counters, so subject i's rows depend only on the subjects before
// it: an estate of n subjects is a prefix of every larger one with the
// same seed.
type generator struct {
	seed   int64
	asOf   time.Time
	lastID [numTables]int64
}

// chunk is the rows of a run of subjects, per table (indexed by tUsers
// ...). Rows hold int64, string, nil, time.Time and date values.
type chunk struct {
	subjects int
	rows     [numTables][][]any
}

// date is a calendar date (a DATE column), midnight UTC.
type date time.Time

func (g *generator) nextID(t int) int64 {
	g.lastID[t]++
	return g.lastID[t]
}

// subject appends subject i's rows to c.
func (g *generator) subject(c *chunk, i int) {
	p, r := newPerson(g.seed, i)
	c.subjects++
	add := func(t int, row ...any) { c.rows[t] = append(c.rows[t], row) }
	fixed := i == 1 || i == 4 || i == 10

	if !p.HasAccount() {
		kind := r.Float64()
		if fixed {
			kind = 0.9
		}
		if kind < 0.5 || kind >= 0.8 {
			add(tNewsletter, g.nextID(tNewsletter), p.Email, g.between(r, g.asOf.AddDate(-8, 0, 0), g.asOf), ip(r))
		}
		if kind >= 0.5 {
			g.ticket(c, r, p, nil, g.between(r, g.asOf.AddDate(-6, 0, 0), g.asOf))
		}
		g.anonymousEvent(c, r)
		return
	}

	uid := p.UserID
	created := g.between(r, g.asOf.AddDate(-13, 0, 0), g.asOf.AddDate(0, 0, -30))
	if i == 1 {
		created = g.asOf.AddDate(-12, -6, 0)
	}
	var lastLogin any
	if r.Float64() < 0.85 {
		lastLogin = g.between(r, created, g.asOf)
	}
	var dob any
	if r.Float64() < 0.75 {
		dob = date(time.Date(1945, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(63*365)))
	}
	var ph any
	if p.Phone != "" {
		ph = p.Phone
	}
	lastIP := ip(r)
	add(tUsers, uid, p.Email, p.Name, ph, dob, lastIP, created, lastLogin)

	var addrs []string
	for n := 1 + b2i(r.Float64() < 0.4) + b2i(r.Float64() < 0.1); n > 0; n-- {
		street, city, postcode := p.country.address(r)
		add(tAddresses, g.nextID(tAddresses), uid, street, city, postcode, p.country.code)
		addrs = append(addrs, fmt.Sprintf("%s, %s %s, %s", street, postcode, city, p.country.code))
	}

	var orderIDs []int64
	orderDates := make([]time.Time, pick(r, 15, 25, 25, 20, 15))
	for k := range orderDates {
		orderDates[k] = g.between(r, created, g.asOf)
	}
	if i == 1 {
		orderDates = []time.Time{g.asOf.AddDate(-11, 0, 0), g.asOf.AddDate(-10, -3, 0), g.asOf.AddDate(0, -7, 0)}
	}
	for _, at := range orderDates {
		id := g.nextID(tOrders)
		orderIDs = append(orderIDs, id)
		shipTo := p.Name
		if r.Float64() < 0.1 {
			shipTo = firstNames[r.IntN(len(firstNames))] + " " + lastNames[r.IntN(len(lastNames))]
		}
		var total int64
		for n := 1 + pick(r, 35, 35, 20, 10); n > 0; n-- {
			sku, price := product(r)
			qty := int64(1 + pick(r, 70, 20, 10))
			total += qty * price
			add(tOrderItems, g.nextID(tOrderItems), id, sku, qty, price)
		}
		if total < 5000 {
			total += 499 // shipping
		}
		add(tOrders, id, uid, shipTo, addrs[r.IntN(len(addrs))], total, at)
	}

	tickets := pick(r, 70, 25, 5)
	if fixed {
		tickets = max(tickets, 1)
	}
	for range tickets {
		g.ticket(c, r, p, orderIDs, g.between(r, created, g.asOf))
	}
	if r.Float64() < 0.5 || fixed {
		add(tNewsletter, g.nextID(tNewsletter), p.Email, g.between(r, created, g.asOf), ip(r))
	}

	events := r.IntN(9)
	if i == 1 {
		events = max(events, 3)
	}
	since := g.asOf.AddDate(-2, 0, 0)
	if created.After(since) {
		since = created
	}
	for range events {
		from := lastIP
		if r.Float64() < 0.4 {
			from = ip(r)
		}
		add(tEvents, g.nextID(tEvents), uid, eventNames[r.IntN(len(eventNames))], from, userAgents[r.IntN(len(userAgents))], g.between(r, since, g.asOf))
	}
	g.anonymousEvent(c, r)

	if r.Float64() < 0.6 || i == 1 {
		start := g.between(r, g.asOf.AddDate(0, 0, -30), g.asOf)
		token := fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
		add(tSessions, token, uid, lastIP, userAgents[r.IntN(len(userAgents))], start, start.AddDate(0, 0, 30))
	}
	if r.Float64() < 0.3 || i == 1 {
		for n := 1 + pick(r, 50, 35, 15); n > 0; n-- {
			sku, _ := product(r)
			add(tCarts, g.nextID(tCarts), uid, sku, int64(1+pick(r, 80, 20)), g.between(r, g.asOf.AddDate(0, 0, -14), g.asOf))
		}
	}
}

// ticket appends a support ticket; userID nil is a ticket from someone
// without an account.
func (g *generator) ticket(c *chunk, r *rand.Rand, p person, orderIDs []int64, at time.Time) {
	var userID any
	if p.HasAccount() {
		userID = p.UserID
	}
	topic := r.IntN(len(ticketSubjects))
	if !p.HasAccount() {
		topic = len(ticketSubjects) - 1 - r.IntN(2) // newsletter or erasure questions
	}
	body := fmt.Sprintf(ticketBodies[topic], p.Name)
	if len(orderIDs) > 0 && topic < 3 {
		body += fmt.Sprintf(" It is about order #%d.", orderIDs[r.IntN(len(orderIDs))])
	}
	if p.Phone != "" && r.Float64() < 0.5 {
		body += " You can reach me on " + p.Phone + "."
	}
	body += "\n\nKind regards,\n" + p.Name
	c.rows[tTickets] = append(c.rows[tTickets], []any{g.nextID(tTickets), userID, p.Email, ticketSubjects[topic], body, at})
}

// anonymousEvent appends, now and then, an analytics event of a visitor
// who never logged in: rows no request may touch.
func (g *generator) anonymousEvent(c *chunk, r *rand.Rand) {
	if r.Float64() < 0.4 {
		c.rows[tEvents] = append(c.rows[tEvents], []any{g.nextID(tEvents), nil, eventNames[r.IntN(3)], ip(r),
			userAgents[r.IntN(len(userAgents))], g.between(r, g.asOf.AddDate(-2, 0, 0), g.asOf)})
	}
}

// between returns a time in [from, to), to the second.
func (g *generator) between(r *rand.Rand, from, to time.Time) time.Time {
	d := to.Sub(from)
	if d <= time.Second {
		return from.UTC().Truncate(time.Second)
	}
	return from.Add(time.Duration(r.Int64N(int64(d)))).UTC().Truncate(time.Second)
}

// pick returns an index drawn with the given percentage weights.
func pick(r *rand.Rand, weights ...int) int {
	x := r.IntN(100)
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ip returns an address from the documentation ranges (RFC 5737, RFC
// 3849): a fifth of them IPv6.
func ip(r *rand.Rand) string {
	if r.IntN(5) == 0 {
		return fmt.Sprintf("2001:db8:%x:%x::%x", r.IntN(0x10000), r.IntN(0x10000), 1+r.IntN(0xffff))
	}
	return fmt.Sprintf("%s.%d", []string{"192.0.2", "198.51.100", "203.0.113"}[r.IntN(3)], 1+r.IntN(254))
}

// product returns one of 500 SKUs and its price.
func product(r *rand.Rand) (string, int64) {
	k := r.IntN(500)
	return fmt.Sprintf("SKU-%05d", 10000+k), int64(299 + (k*7919%19700)/100*100)
}

type country struct {
	code, dial string
	mobile     string // the prefix of mobile numbers
	cities     []string
	streets    []string
	// streetFirst writes "street number" (else "number street").
	streetFirst bool
	postcode    func(r *rand.Rand) string
}

func (c *country) address(r *rand.Rand) (street, city, postcode string) {
	s, n := c.streets[r.IntN(len(c.streets))], 1+r.IntN(180)
	if c.streetFirst {
		street = fmt.Sprintf("%s %d", s, n)
	} else {
		street = fmt.Sprintf("%d %s", n, s)
	}
	if r.IntN(6) == 0 {
		street += fmt.Sprintf(", apt %d", 1+r.IntN(40))
	}
	return street, c.cities[r.IntN(len(c.cities))], c.postcode(r)
}

func countryByCode(code string) *country {
	for i := range countries {
		if countries[i].code == code {
			return &countries[i]
		}
	}
	return &countries[0]
}

func digits(n int) func(r *rand.Rand) string {
	return func(r *rand.Rand) string {
		var b strings.Builder
		b.WriteByte(byte('1' + r.IntN(9)))
		for range n - 1 {
			b.WriteByte(byte('0' + r.IntN(10)))
		}
		return b.String()
	}
}

var countries = []country{
	{code: "DE", mobile: "151", dial: "+49", streetFirst: true, postcode: digits(5),
		cities:  []string{"Berlin", "Hamburg", "München", "Köln", "Frankfurt am Main", "Leipzig"},
		streets: []string{"Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schillerstraße", "Lindenallee"}},
	{code: "FR", mobile: "6", dial: "+33", postcode: digits(5),
		cities:  []string{"Paris", "Lyon", "Marseille", "Toulouse", "Nantes"},
		streets: []string{"rue de la Paix", "avenue Victor Hugo", "rue Pasteur", "boulevard Saint-Michel"}},
	{code: "IE", mobile: "87", dial: "+353",
		cities:  []string{"Dublin", "Cork", "Galway", "Limerick"},
		streets: []string{"O'Connell Street", "Grafton Street", "Main Street", "Shop Street"},
		postcode: func(r *rand.Rand) string {
			return fmt.Sprintf("D%02d %c%d%c%d", 1+r.IntN(24), 'A'+rune(r.IntN(26)), r.IntN(10), 'A'+rune(r.IntN(26)), r.IntN(10))
		}},
	{code: "PL", mobile: "60", dial: "+48", streetFirst: true,
		cities:   []string{"Warszawa", "Kraków", "Łódź", "Wrocław", "Gdańsk"},
		streets:  []string{"ul. Marszałkowska", "ul. Długa", "ul. Świętokrzyska", "ul. Kościuszki"},
		postcode: func(r *rand.Rand) string { return fmt.Sprintf("%02d-%03d", r.IntN(100), r.IntN(1000)) }},
	{code: "IT", mobile: "347", dial: "+39", streetFirst: true, postcode: digits(5),
		cities:  []string{"Roma", "Milano", "Napoli", "Torino"},
		streets: []string{"Via Roma", "Via Garibaldi", "Corso Vittorio Emanuele II"}},
	{code: "ES", mobile: "6", dial: "+34", streetFirst: true, postcode: digits(5),
		cities:  []string{"Madrid", "Barcelona", "Sevilla", "València"},
		streets: []string{"Calle Mayor", "Avenida de la Constitución", "Carrer de Mallorca"}},
	{code: "NL", mobile: "6", dial: "+31", streetFirst: true,
		cities:  []string{"Amsterdam", "Rotterdam", "Utrecht", "'s-Hertogenbosch"},
		streets: []string{"Kerkstraat", "Prinsengracht", "Dorpsstraat"},
		postcode: func(r *rand.Rand) string {
			return fmt.Sprintf("%d %c%c", 1000+r.IntN(9000), 'A'+rune(r.IntN(26)), 'A'+rune(r.IntN(26)))
		}},
	{code: "AT", mobile: "664", dial: "+43", streetFirst: true, postcode: digits(4),
		cities:  []string{"Wien", "Graz", "Linz", "Salzburg"},
		streets: []string{"Mariahilfer Straße", "Hauptplatz", "Getreidegasse"}},
	{code: "DK", mobile: "2", dial: "+45", streetFirst: true, postcode: digits(4),
		cities:  []string{"København", "Aarhus", "Odense"},
		streets: []string{"Nørregade", "Østergade", "Strøget"}},
	{code: "GB", mobile: "7700", dial: "+44",
		cities:  []string{"London", "Manchester", "Edinburgh", "Bristol"},
		streets: []string{"High Street", "Station Road", "Church Lane", "Queen's Road"},
		postcode: func(r *rand.Rand) string {
			return fmt.Sprintf("%c%c%d %d%c%c", 'A'+rune(r.IntN(26)), 'A'+rune(r.IntN(26)), 1+r.IntN(20), r.IntN(10), 'A'+rune(r.IntN(26)), 'A'+rune(r.IntN(26)))
		}},
}

var firstNames = []string{
	"Anna", "Ben", "Chloé", "David", "Émilie", "Fatima", "Giulia", "Hannah", "Inès", "Jonas",
	"Kai", "Léa", "Lukas", "Łukasz", "Maria", "Mateo", "Noah", "Olivia", "Paweł", "Renée",
	"Søren", "Sofia", "Thomas", "Zoë", "Björn", "Agnieszka", "José", "Mia", "Ömer", "Yuki",
	"Aoife", "Seán", "Siobhán", "Niamh", "François", "Jürgen", "Małgorzata", "Chiara", "Elif", "Amélie",
}

var lastNames = []string{
	"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "O'Brien", "O'Connor", "D'Angelo", "Dupont", "Martin",
	"García", "Rossi", "Nowak", "Kowalski", "Wróbel", "Żółkiewski", "Jensen", "Hansen", "Novák", "Dvořák",
	"Papadopoulos", "Yılmaz", "van der Berg", "de la Cruz", "Smith", "Jones", "Murphy", "Kelly", "Bianchi", "Fernández",
	"Ó Súilleabháin", "Larsen", "Nieminen", "Kovács", "Popescu", "Silva", "Costa", "Berg", "Lindqvist", "Al-Sayed",
}

var domains = []string{"example.com", "example.net", "example.org", "mail.example.com", "post.example.net", "web.example.org"}

var eventNames = []string{"page_view", "product_view", "search", "add_to_cart", "checkout", "login"}

var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
}

// ticketSubjects and ticketBodies go together; the last two are what
// people without an account write about.
var ticketSubjects = []string{
	"Where is my order?",
	"Refund request",
	"Wrong item received",
	"Change my delivery address",
	"Please stop sending me e-mails",
	"Please delete my data",
}

var ticketBodies = []string{
	"Hello, this is %s. My parcel has not arrived yet and the tracking page shows nothing.",
	"Hi, %s here. I sent the item back two weeks ago and would like my refund.",
	"Dear team, I am %s and I received a different item than the one I ordered.",
	"Hello, my name is %s and I have moved; please send future orders to my new address.",
	"Hello, this is %s. I keep getting your newsletter and want it to stop.",
	"Dear Example Shop, I am %s. Under Art. 17 GDPR please erase all personal data you hold about me.",
}

// sessionHash and cartItem are how the sessions and carts rows look as
// Redis values.
func sessionHash(row []any) map[string]any {
	return map[string]any{
		"id": row[0], "ip": row[2], "user_agent": row[3],
		"created_at": row[4].(time.Time).Format(time.RFC3339), "expires_at": row[5].(time.Time).Format(time.RFC3339),
	}
}

func cartItem(row []any) string {
	b, _ := json.Marshal(struct {
		SKU      string `json:"sku"`
		Quantity int64  `json:"quantity"`
		AddedAt  string `json:"added_at"`
	}{row[2].(string), row[3].(int64), row[4].(time.Time).Format(time.RFC3339)})
	return string(b)
}

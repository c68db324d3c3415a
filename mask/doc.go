// Package mask implements the masking strategies that anonymise a
// personal field when erasure keeps its row (erase: anonymise in the data
// map), and that scrub copies of a database.
//
// A field names its strategy in lethe.yaml (fields: {email: {erase:
// hmac}}). Package config validates the names with Check; the erasure
// engine turns them into Strategy values with Parse and the mask key, and
// hands them to connectors as lethe.Mask in an erase step; datamap check
// asks each Strategy whether it Fits the column the database describes,
// and compares PreservesUniqueness with the column's unique index.
//
// # Strategies
//
//	null                 NULL (also what an empty name means)
//	blank                empty text
//	fixed:<value>        the value, converted to the input's type
//	hmac                 lower-case hex HMAC-SHA256 of the value (64 characters)
//	fake.name            Anna Keller
//	fake.first_name      Anna
//	fake.last_name       Keller
//	fake.email           anna.keller.x7k2m9p4qd@example.com
//	fake.phone           +990412345678901
//	fake.street          42 Maple Road
//	fake.city            Ghent
//	fake.postcode        04719
//	fake.iban            CY17002001280000001200527600
//	fake.company         Keller Logistics GmbH
//	fake.username        anna_x7k2m9p4qdz3
//	truncate.ip          192.0.2.55 -> 192.0.2.0 (IPv4 /24), IPv6 to its /48
//	truncate.date.month  2024-05-17 -> 2024-05-01 (also written truncate.date)
//	truncate.date.year   2024-05-17 -> 2024-01-01
//	redact               jane@example.com -> j***@example.com, Jane Doe -> J***
//
// null, blank and fixed are constant (lethe.Mask.Constant), so a connector
// can rewrite every matching row with one UPDATE. The others read each
// value. All are deterministic: masking the same value again writes the
// same output. Masking a masked value again (an erasure re-run over a row
// already anonymised) gives the same value under null, blank, fixed,
// truncate.* and redact; under hmac and fake.* it gives a new value, since
// a masked value cannot be told from a real one.
//
// # Keys and consistency
//
// hmac and fake.* are keyed: Parse needs a key of at least MinKeySize
// bytes. The same value under the same key always gives the same output,
// so a user id or an e-mail address anonymised in two tables, or in two
// databases, still joins. hmac is the plain HMAC-SHA256 of the value,
// which anyone holding the key can recompute. fake.<kind> draws its
// choices from HMAC-SHA256(key, "fake.<kind>" || 0x00 || value), so each
// kind has its own digest. Values are hashed exactly as stored: case and
// spaces count (two spellings of one address give two outputs;
// normalising them would break the uniqueness promised below).
//
// Keyed output is pseudonymous, not anonymous, while the key exists:
// whoever holds it can recompute the output of a value they already know.
// Destroying or rotating the key makes past outputs unlinkable (and
// breaks consistency with them).
//
// # Stable output, and why the word lists are ours
//
// Consistency must hold across Lethe versions: a database anonymised
// today and a copy scrubbed next year must agree. So fake.* draws from
// small word lists embedded in this package (words.go: 128 first names,
// 128 last names, 64 cities, 64 street names, 8 street types, 32 trades,
// 16 legal forms), frozen, and from fixed formats, rather than from a
// faker library, whose lists and algorithms change between releases and
// would change every fake value with them. Tests pin the lists' digest
// and golden outputs. Every list length is a power of two, so a choice
// uses whole digest bits and distinct bits pick distinct words.
//
// Fake values look real but reach no one: e-mail addresses are at
// example.com (reserved by RFC 2606, accepts no mail); phone numbers use
// +990, a country code the ITU lists as spare, followed by 12 digits (the
// 15 digits E.164 allows); IBANs are Cypriot (CY, 28 characters), whose
// 24-digit BBAN has no national check digit and so carries 78 digest
// bits, with valid ISO 7064 check digits.
//
// # Uniqueness
//
// PreservesUniqueness is true for null (unique indexes admit many NULLs),
// hmac (256 bits), and the fake kinds that carry at least 64 digest bits,
// each bit pattern giving a distinct value: fake.email (64 bits),
// fake.username (67) and fake.iban (78). With 64 bits the chance that any
// two of a million distinct values collide is below 3 in 100 million; of
// a hundred million, below 3 in 10,000. A collision is not silent: the
// database refuses the duplicate and the erasure fails.
//
// fake.phone is not unique-preserving: the 12 digits E.164 leaves carry
// about 40 bits: the chance of some collision is about 1 in 200 among a
// hundred thousand anonymised rows, and one in two near a million. No
// phone-shaped value can do better. For a unique
// phone column choose null, or hmac if the column is wide enough.
//
// # Values
//
// Apply takes the values connectors read (nil, string, []byte, int64,
// float64, bool, time.Time) and returns the input's Go type. See Strategy
// for the rules, and each strategy's Apply for the forms it reads:
// truncate.ip reads IP text, 4- or 16-byte addresses and IPv4 integers;
// truncate.date reads time.Time and date text, which it writes back in the
// form it was written.
//
// Errors are EINVALID *lethe.Error values whose messages never hold a
// masked value, only the strategy and the value's Go type.
//
// redact keeps a hint by design, including an e-mail address's domain,
// which identifies a person who owns it: use hmac or fake.email when
// domains may be personal.
package mask

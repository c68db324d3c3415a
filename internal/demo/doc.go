// Package demo seeds a sample estate of an online shop, Example Shop
// GmbH of examples/lethe.yaml, to try Lethe's data subject requests on:
// `lethe demo seed` writes it, and the erasure engine's tests, benchmarks
// and the README use it.
//
// The estate is nine collections: users, addresses, orders, order_items,
// newsletter_subscriptions (the shop), analytics_events, support_tickets,
// sessions and carts. By default they are tables of one embedded SQLite
// file. Options move groups of them to other engines, so that one estate
// spans four: the shop tables to PostgreSQL, analytics_events to
// MySQL/MariaDB, support_tickets to a second SQLite file, and sessions
// and carts to Redis (keys session:{user_id}, a hash, and cart:{user_id},
// a list). examples/lethe.yaml and examples/lethe-multi.yaml are the data
// maps of the two layouts.
//
// The data is synthetic and deterministic: the same Subjects, Seed and
// AsOf give the same rows, byte for byte, and subject i is the same
// person whatever the number of subjects, so SampleSubject names a
// subject's identities without a query. Every tenth subject has no
// account (a newsletter subscription or a support ticket by e-mail only),
// and a few values are deliberately awkward: apostrophes (O'Brien),
// non-ASCII names (Zoë, Łukasz), an e-mail address with '+', IPv6
// addresses, orders older than the ten-year tax hold.
//
// Seeding refuses to write into demo tables that already hold rows, and
// Reset drops and recreates only the demo tables (and, in Redis, only
// keys shaped like the demo's): nothing else in a database is touched.
package demo

// Package apikey issues, authenticates and revokes the bearer API keys that
// guard Lethe's HTTP API. A key reads "lethe_<id>_<secret>": the id is public
// and indexes the key, the secret is shown once at creation and only its
// SHA-256 is stored (the secret is 256 random bits, so a fast hash is
// enough; there is nothing to brute-force). Authentication compares hashes
// in constant time and caches the answer briefly when the store reports
// changes from other processes, so that revocation anywhere takes effect at
// once.
package apikey

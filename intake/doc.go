// Package intake receives data subject requests from the people they are
// about, who hold no API key: it proves that the requester controls the
// e-mail address they named, and keeps anyone from flooding the server or
// someone's inbox.
//
// Issue sends a one-time code to the address through the durable outbox
// (package mail). The code is 8 decimal digits from crypto/rand. Digits,
// because they are typed on any keyboard, read aloud and pasted from a
// phone without the 0/O and 1/I/l confusions of letters; eight rather than
// the usual six, because a request can erase or export a person's data:
// with at most 5 attempts per code, a guess succeeds with probability
// 5·10⁻⁸ per code sent, and codes are sent at most a few times an hour
// per address. Only HMAC-SHA256(key, request id, code) is stored, with
// the key derived from a server secret (so a copy of the database does not
// let anyone test codes offline); a code expires (30 minutes by default),
// is locked after its attempts (5), and works once. Issue called again for
// the same request sends a new code that replaces the old one, after a
// cooldown (1 minute). The outbox message of each code has an id made of
// the request id and the code's issue number, so a retried Issue never
// queues the same code twice.
//
// Check compares a code in constant time and counts the attempt in the
// store in the same step as it checks the limit (lethe.VerificationStore),
// so attempts made at once on several nodes never exceed it.
//
// LimitIdentity and LimitClient are fixed-window rate limits kept in the
// store (lethe.RateLimitStore), shared by every node: a counter is keyed
// by an HMAC of the e-mail address or of the client address (an IPv6
// client counts per /64, which any client gets whole), never the value
// itself. Purge, run periodically by Run, deletes expired codes and
// counters whose window ended.
//
// Nothing here logs, stores or returns an address or a code in the clear:
// the e-mail is sealed with the subject's key by the outbox, the audit log
// records issues and attempts by subject reference.
package intake

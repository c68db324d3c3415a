// Package webhook is the Lethe connector for services that hold personal
// data behind an API of their own (a CRM, a help desk, a mailing tool):
// Lethe posts a signed JSON call per collection and the service answers
// with the subject's rows, or erases them and says how many. It
// implements lethe.Connector with net/http and the standard library's
// crypto; Verify and VerifyRequest check the calls on the receiving
// side.
//
// # Calls
//
// Each call is an HTTP POST to the datastore's url with a JSON body
// (Content-Type: application/json):
//
//	{
//	  "action": "access",                 // or "erasure"
//	  "request_id": "dsr_01H...",         // the data subject request
//	  "collection": "contacts",           // the collection in Lethe's data map
//	  "identities": {"email": ["jane@example.com"], "user_id": ["42"]},
//	  "mode": "delete"                    // erasure only: "delete" or "anonymise"
//	}
//
// identities maps each identity type (email, user_id, phone, or a custom
// type) to the values the subject is known by; values reached through a
// reference from another collection come under the referencing column's
// name. Every value is a JSON string, passed through as found (quotes,
// backslashes and any Unicode intact; numbers in their decimal form;
// bytes that are not UTF-8, which JSON cannot carry, become U+FFFD).
// Lethe makes no call when it has no value to send.
//
// An access call is answered with status 200 and
//
//	{"rows": [{"email": "jane@example.com", "plan": "pro", "seats": 3}, ...]}
//
// Each row is an object of columns; values may be strings, numbers,
// booleans or null (an object or array is kept as its JSON text). Lethe
// decodes the response as it arrives, row by row, so a large one never
// sits in its memory whole; other members of the top-level object are
// ignored. An erasure call is answered with status 200 and
//
//	{"erased": 3}
//
// the number of records the service deleted or anonymised. Erasure must
// be idempotent: erasing again answers {"erased": 0}. With "mode":
// "anonymise" the data map asks to keep the records with their personal
// fields masked; how is the service's decision. Erase sends one call per
// step: there is no transaction across calls, so a failure leaves the
// earlier steps done (erasing again finishes the work).
//
// Answers Lethe understands:
//
//	2xx             the response above; anything else is an error
//	                (EINTERNAL) that does not quote the body
//	429, 5xx        retried (but 501), honouring Retry-After
//	501             the action or mode is not implemented (EINVALID)
//	401, 403        the signature was refused (EUNAVAILABLE: check the
//	                secret and the clocks)
//	404, other 4xx  the call was refused (EINVALID), not retried
//	3xx             not followed: a signed call goes where it was meant
//
// # Signatures
//
// Every call carries a header
//
//	Lethe-Signature: t=1700000000,v1=<hex>
//
// where t is the unix time in seconds when the call was signed and v1
// is the lowercase hex HMAC-SHA256, keyed with the datastore's secret,
// of the bytes
//
//	<t> "." <the raw request body>
//
// A receiver in any language checks it so:
//
//  1. Split the header on "," into key=value parts; take t and every v1
//     (ignore other keys: later schemes may be added beside v1).
//  2. Compute HMAC-SHA256(secret, t + "." + body) over the body exactly as
//     received, before parsing it, and compare it in constant time with
//     each v1 (hex-decoded); one must match.
//  3. Refuse the call if t is more than 5 minutes away from the
//     receiver's clock, either way: a recorded call cannot be replayed
//     later.
//
// Receivers in Go call Verify, or wrap their handler in VerifyRequest. A
// retry is signed afresh, with a new t, and carries the same request_id.
// Within the tolerance a replay repeats an idempotent call; use https so
// that calls cannot be recorded in the first place.
//
// # Timeouts and retries
//
// Each attempt is bounded by the datastore's timeout (30s by default),
// reading the response included. A network error, a timeout, 429 or a
// 5xx is retried with exponential backoff and jitter (Options); after
// the last attempt the call fails with EUNAVAILABLE, naming the last
// failure. An access call whose rows have started to reach the caller is
// not retried. Messages name the datastore, the action and the
// collection, never the URL (it may hold a token), the secret, a value
// or the response body.
//
// Describe reports every collection as existing with no columns. A hold
// counted from a column (lethe.EraseStep.Before) is refused with
// EINVALID: the service cannot be trusted to keep the newer records.
package webhook

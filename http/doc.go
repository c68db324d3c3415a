// Package http is Lethe's HTTP JSON API: the consent ledger (record, check,
// state, history, receipts, purposes), the tamper-evident audit log
// (verification, signed checkpoints, Merkle proofs), the Global Privacy
// Control support resource, health and readiness probes, Prometheus metrics
// and the OpenAPI 3.1 document generated from the code (/openapi.json,
// /openapi.yaml). It is built with huma on the standard library's ServeMux.
//
// # Contract
//
// Authenticated endpoints take Authorization: Bearer lethe_... (package
// apikey); each needs a scope (consent:read, consent:write, audit:read,
// requests:read, requests:write, ropa:read, retention:read, admin, where admin implies
// every scope). A missing, unknown or revoked key
// is 401 with WWW-Authenticate; a key without the scope is 403 naming it.
//
// The public intake is the exception (Options.Intake): POST /v1/requests
// without an Authorization header is a person's own request, recorded
// unverified with a code e-mailed to its one e-mail identity, and POST
// /v1/requests/{id}/verify and /resend take no key. Those calls are rate
// limited per client address (429 with Retry-After): the connection's peer,
// or the right-most X-Forwarded-For hop that is not one of
// Options.TrustedProxies when the peer is one. Their answers never repeat
// an identity nor tell whether the person is known, and the client address
// is not logged.
//
// Every error, including the router's 404 and 405, an over-long body (413,
// over MaxBodyBytes) and a malformed one (400), is an RFC 9457 problem
// (application/problem+json, type Problem) whose errors array names the
// offending inputs (body.purposes[0].purpose, path.subject_id). Lethe error
// codes map to statuses in one table (StatusCode): invalid input is 422.
// Problems never repeat a value the client sent, because requests carry
// personal data; internal errors answer a generic message and the cause is
// logged under the request id (X-Request-Id).
//
// Request bodies are strict: unknown fields, wrong types and invalid UTF-8
// are rejected. A consent check that denies is a decision (200, allowed
// false), not an error.
//
// # Privacy of logs and metrics
//
// The request log and the metrics name the route pattern
// (GET /v1/subjects/{subject_id}/consents/{purpose}), never the path or the
// query, so subject ids do not reach them. Evidence is taken from the body
// only; Options.EvidenceFromRequest opts in to filling a missing ip and
// user agent from the connection.
//
// The literal route /v1/subjects/{subject_id}/consents/history is more
// specific than /v1/subjects/{subject_id}/consents/{purpose}, so it always
// serves the history: a purpose named "history" could not be checked
// through this API.
//
// Inside this package, "net/http" is imported under its own name; the
// package cannot refer to itself, so there is no clash.
package http

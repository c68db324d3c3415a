// Package events tells subscribers what changed, so that downstream
// processors stop processing at once when consent is withdrawn and erase
// their copies when a subject is erased: consent changes, request outcomes,
// erasures, and the Art. 19 notices to the recipients of a purpose's data.
//
// Subscribers are a NATS JetStream server (subjects
// <subject_prefix>.consent.changed, .request.completed, .subject.erased,
// .subject.restricted, .subject.objected),
// signed webhooks (Lethe-Signature, the scheme of connector/webhook: verify
// with webhook.Verify), and the notify webhooks of recipients
// (recipient.notice, Art. 19).
//
// Nothing is lost if the process dies between a change and its
// publication, because nothing is queued in memory: the dispatcher tails
// the tamper-evident audit log, which every change already appends to in
// its own transaction. A consent append pays nothing more for being
// published. Events that carry more than an audit entry holds (a request's
// outcome, a notice, the identities subscribers need to act) are stored by
// Bus.RequestFinished in the events table with an event.recorded audit
// entry, in one transaction. Each subscriber keeps its own cursor in the log
// and its own retry state, so one failing webhook holds up nobody else;
// delivery is at least once, and every event has a stable id to
// deduplicate on (the Nats-Msg-Id header on NATS, so JetStream drops
// duplicates within its window; Lethe-Event-Id on webhooks).
//
// Identities are sealed with a server key (KeyFromSecret), not the
// subject's key: the identities of an erased subject must reach
// subscribers after the subject's key is shredded. They go only to
// subscribers configured with identities: true (and to recipients, who
// hold the data already), and are purged once every subscriber is past
// them, or after events.identities_max_age.
package events

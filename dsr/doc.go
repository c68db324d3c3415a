// Package dsr executes data subject requests over the data map: access
// (Art. 15) and portability (Art. 20) exports, and erasure (Art. 17) with
// verification and a certificate.
//
// The engine is pure logic over lethe.Connector: it never speaks SQL. A
// request starts from the subject's identities, finds the rows whose
// identity columns hold them, then follows references breadth-first (a
// reference orders.user_id -> users.id is followed from the users found to
// their orders), across datastores and concurrently across datastores,
// one set-based query per collection and step. Only the key columns that
// references follow are kept in memory; rows themselves stream from the
// connector to the export writer, so a subject with a million rows exports
// in bounded memory.
//
// References mean "belongs to": they are followed from parent to child
// only, never upwards, so that an order's row never pulls in the seller
// or another customer it mentions.
//
// Erasure plans per datastore in dependency order (children before
// parents, `after:` overriding), honours Art. 17(3) holds, applies each
// datastore's steps in one transaction through its connector, and a
// datastore that fails fails its own steps only. Verification then looks
// again with the keys resolved before erasure and the identities, and must
// find none of the subject's original personal values in any declared
// field (held rows excepted and counted). The Certificate it returns holds
// counts, holds and the verification outcome, and no personal data.
package dsr

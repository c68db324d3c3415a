package lethe

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Tombstone is the PII-free record that an erasure removed a subject
// known by one identity: the identity's subject reference and type, when,
// and by which request. Lethe's store keeps tombstones apart from the
// datastores they describe (and backed up separately), so that after a
// datastore is restored from a backup taken before the erasure, `lethe
// rerun` can recognise the subject's rows again (by the HMAC of their
// identity columns) and erase them once more.
type Tombstone struct {
	SubjectRef   SubjectRef
	IdentityType IdentityType
	// RequestID is the erasure request that wrote the tombstone.
	RequestID string
	// ErasedAt is when the erasure ran (its first run, for a request
	// run again).
	ErasedAt time.Time
}

// TombstoneStore keeps erasure tombstones.
type TombstoneStore interface {
	// TombstoneAdd stores the tombstones and appends the audit record in
	// one transaction. A tombstone already stored for the same subject
	// reference and request is kept as it was, so adding the tombstones of
	// a request run again is harmless. It returns how many were new.
	TombstoneAdd(ctx context.Context, tombstones []Tombstone, audit AuditRecord) (int, error)
	// TombstoneList calls fn for every tombstone erased at or after since
	// (every one for the zero time), oldest first, streaming. fn must not
	// call the store; it stops the listing by returning an error, which
	// TombstoneList returns.
	TombstoneList(ctx context.Context, since time.Time, fn func(Tombstone) error) error
	// TombstoneLookup returns the tombstones of the given subject
	// references, oldest first (none for a reference never erased).
	TombstoneLookup(ctx context.Context, refs []SubjectRef) ([]Tombstone, error)
}

// CheckTombstones returns EINVALID, naming the field, for a tombstone
// without a subject reference, identity type, request id or time. The
// stores call it before writing anything.
func CheckTombstones(tombstones []Tombstone) error {
	for i, t := range tombstones {
		path := "tombstones[" + strconv.Itoa(i) + "]"
		switch {
		case t.SubjectRef.IsZero():
			return FieldErrorf(path+".subject_ref", "a tombstone needs a subject reference")
		case t.IdentityType == "":
			return FieldErrorf(path+".identity_type", "a tombstone needs the identity type")
		case t.RequestID == "":
			return FieldErrorf(path+".request_id", "a tombstone needs the erasure's request id")
		case t.ErasedAt.IsZero():
			return FieldErrorf(path+".erased_at", "a tombstone needs the erasure time")
		}
	}
	return nil
}

// SortTombstones orders tombstones oldest first, then by subject
// reference and request: the order the stores return them in.
func SortTombstones(ts []Tombstone) {
	slices.SortFunc(ts, func(a, b Tombstone) int {
		return cmp.Or(a.ErasedAt.Compare(b.ErasedAt), bytes.Compare(a.SubjectRef[:], b.SubjectRef[:]), strings.Compare(a.RequestID, b.RequestID))
	})
}

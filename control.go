package lethe

import (
	"context"
	"fmt"
	"time"
)

// SubjectRestriction records that processing of a subject's data is
// restricted (Art. 18): while it stands, every consent check for the
// subject answers not allowed, reason restricted, whatever the purpose's
// lawful basis. The record is kept after the restriction is lifted (Lift
// set), so that a later look shows when and how the person was told.
type SubjectRestriction struct {
	SubjectRef   SubjectRef
	RequestID    string // the request that asked for it, or ""
	Actor        string // who recorded it: cli, api:<key name>, system
	RestrictedAt time.Time
	// Lift is set once the restriction was lifted.
	Lift *RestrictionLift
}

// Active reports whether the restriction still stands.
func (r SubjectRestriction) Active() bool { return r.Lift == nil }

// RestrictionLift is how a restriction ended. Art. 18(3) requires the
// person to be told before: either by the e-mail Notice (an outbox message
// id), or out of band, with the controller's reason in OutOfBand.
type RestrictionLift struct {
	LiftedAt  time.Time
	RequestID string
	Actor     string
	Notice    string // the outbox message id of the notice e-mail, or ""
	OutOfBand string // the reason the person was told some other way, or ""
}

// SubjectObjection is an objection to processing for one purpose (Art. 21).
// While it stands, checks for the purpose answer not allowed, reason
// objected. The controller may override it by recording compelling
// legitimate grounds (Art. 21(1)), except for direct marketing, where an
// objection is absolute (Art. 21(3)).
type SubjectObjection struct {
	SubjectRef SubjectRef
	Purpose    string
	RequestID  string // the request that carried it, or ""
	Actor      string
	ObjectedAt time.Time
	// Override is set when the controller recorded compelling grounds.
	Override *ObjectionOverride
}

// Active reports whether the objection still stops processing.
func (o SubjectObjection) Active() bool { return o.Override == nil }

// ObjectionOverride records the compelling legitimate grounds that
// override an objection (Art. 21(1)). Grounds is the controller's free
// text: it is kept in the objection's row, and only its hash goes into the
// audit log.
type ObjectionOverride struct {
	Grounds      string
	Actor        string
	OverriddenAt time.Time
}

// SubjectControls is what a subject asked beyond consent: a restriction
// and objections. A consent check reads it next to the consent state.
type SubjectControls struct {
	Restriction *SubjectRestriction // nil when the subject was never restricted
	Objections  []SubjectObjection  // sorted by purpose
}

// Restricted reports whether a restriction stands.
func (c SubjectControls) Restricted() bool { return c.Restriction != nil && c.Restriction.Active() }

// Objection returns the objection to purpose, overridden or not.
func (c SubjectControls) Objection(purpose string) (SubjectObjection, bool) {
	for _, o := range c.Objections {
		if o.Purpose == purpose {
			return o, true
		}
	}
	return SubjectObjection{}, false
}

// SubjectControlStore holds restrictions (Art. 18) and objections
// (Art. 21), by subject reference only. Every change appends its audit
// record in the same transaction, and a store that implements ChangeFeed
// announces the changed subjects there, so that consent caches on every
// node drop them.
//
// Writes are idempotent: audit[i] belongs to the i-th item and is appended
// only when that item changed state, so a retried call writes nothing
// twice. They return how many items changed.
type SubjectControlStore interface {
	// RestrictionAdd restricts each subject. A subject whose restriction
	// stands keeps it unchanged; a lifted one is restricted again (and its
	// lift forgotten, the audit log keeps it).
	RestrictionAdd(ctx context.Context, rs []SubjectRestriction, audit []AuditRecord) (int, error)
	// RestrictionLift records lift on the standing restrictions of refs;
	// subjects not restricted are left alone.
	RestrictionLift(ctx context.Context, refs []SubjectRef, lift RestrictionLift, audit []AuditRecord) (int, error)
	// ObjectionAdd records the objections. One already recorded for the
	// same (subject, purpose) is kept as it is, override included.
	ObjectionAdd(ctx context.Context, objs []SubjectObjection, audit []AuditRecord) (int, error)
	// ObjectionOverride records the override on the subject's objection to
	// purpose, replacing an earlier override (ENOTFOUND when there is no
	// objection). The audit record is always appended.
	ObjectionOverride(ctx context.Context, ref SubjectRef, purpose string, o ObjectionOverride, audit AuditRecord) error
	// SubjectControls returns the subject's restriction and objections
	// (zero when there are none).
	SubjectControls(ctx context.Context, ref SubjectRef) (SubjectControls, error)
}

// The checks below are what every SubjectControlStore requires of its
// input; the adapters share them so that they refuse the same things.

// ValidateRestrictions checks RestrictionAdd's input.
func ValidateRestrictions(rs []SubjectRestriction, audit []AuditRecord) error {
	if len(rs) != len(audit) {
		return FieldErrorf("audit", "one audit record per restriction is required (%d restrictions, %d records)", len(rs), len(audit))
	}
	for i, r := range rs {
		path := fmt.Sprintf("restrictions[%d]", i)
		switch {
		case r.SubjectRef.IsZero():
			return FieldErrorf(path+".subject_ref", "a restriction needs a subject reference")
		case r.RestrictedAt.IsZero():
			return FieldErrorf(path+".restricted_at", "a restriction needs its time")
		case r.Actor == "":
			return FieldErrorf(path+".actor", "a restriction needs the actor who recorded it")
		}
	}
	return nil
}

// ValidateLift checks RestrictionLift's input.
func ValidateLift(refs []SubjectRef, lift RestrictionLift, audit []AuditRecord) error {
	if len(refs) != len(audit) {
		return FieldErrorf("audit", "one audit record per subject is required (%d subjects, %d records)", len(refs), len(audit))
	}
	for i, r := range refs {
		if r.IsZero() {
			return FieldErrorf(fmt.Sprintf("refs[%d]", i), "lifting a restriction needs a subject reference")
		}
	}
	switch {
	case lift.LiftedAt.IsZero():
		return FieldErrorf("lifted_at", "a lift needs its time")
	case lift.Actor == "":
		return FieldErrorf("actor", "a lift needs the actor who recorded it")
	case lift.Notice == "" && lift.OutOfBand == "":
		return FieldErrorf("notice", "a restriction is lifted only after the person was told (Art. 18(3)): the notice e-mail's id, or the reason they were told out of band")
	}
	return nil
}

// ValidateObjections checks ObjectionAdd's input.
func ValidateObjections(objs []SubjectObjection, audit []AuditRecord) error {
	if len(objs) != len(audit) {
		return FieldErrorf("audit", "one audit record per objection is required (%d objections, %d records)", len(objs), len(audit))
	}
	for i, o := range objs {
		path := fmt.Sprintf("objections[%d]", i)
		switch {
		case o.SubjectRef.IsZero():
			return FieldErrorf(path+".subject_ref", "an objection needs a subject reference")
		case o.Purpose == "":
			return FieldErrorf(path+".purpose", "an objection needs a purpose")
		case o.ObjectedAt.IsZero():
			return FieldErrorf(path+".objected_at", "an objection needs its time")
		case o.Actor == "":
			return FieldErrorf(path+".actor", "an objection needs the actor who recorded it")
		}
	}
	return nil
}

// ValidateOverride checks ObjectionOverride's input.
func ValidateOverride(ref SubjectRef, purpose string, o ObjectionOverride) error {
	switch {
	case ref.IsZero():
		return FieldErrorf("subject_ref", "an override needs a subject reference")
	case purpose == "":
		return FieldErrorf("purpose", "an override needs a purpose")
	case o.Grounds == "":
		return FieldErrorf("grounds", "an override needs the compelling legitimate grounds (Art. 21(1))")
	case o.OverriddenAt.IsZero():
		return FieldErrorf("overridden_at", "an override needs its time")
	case o.Actor == "":
		return FieldErrorf("actor", "an override needs the actor who recorded it")
	}
	return nil
}

package consent

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lethe-privacy/lethe"
)

// Mailer queues an e-mail through the durable outbox; *mail.Outbox
// implements it. The ledger uses it for the notice that a restriction is
// about to be lifted.
type Mailer interface {
	Enqueue(ctx context.Context, ref lethe.SubjectRef, to, template string, data map[string]any) (string, error)
}

// templateRestrictionLifting is mail.TemplateRestrictionLifting, named here
// so that the consent hot path does not import the SMTP client (a test
// keeps the two equal).
const templateRestrictionLifting = "restriction_lifting"

// Limits on the controller's free text.
const (
	maxGroundsLen = 4000
	maxReasonLen  = 1000
)

// RestrictParams says who restricts and why.
type RestrictParams struct {
	RequestID string // the restriction request, if any
	Actor     string // cli, api:<key name>, system; defaults to library
}

// LiftParams says who lifts a restriction and how the person was told
// first (Art. 18(3)): NotifyEmail, the address the notice is queued for,
// or NotifiedOutOfBand, the reason the person was told another way. One of
// the two is required.
type LiftParams struct {
	RequestID         string // defaults to the restriction's request in the notice
	Actor             string
	NotifyEmail       string
	NotifiedOutOfBand string
}

// ObjectParams says who records an objection and why.
type ObjectParams struct {
	RequestID string
	Actor     string
}

// Restrict marks the subjects restricted (Art. 18): from then on every
// check for them answers not allowed, reason restricted, whatever the
// purpose's lawful basis. refs are the subject's references (one per
// identity). Idempotent: a subject already restricted stays as it is and
// nothing more is audited. EINVALID for bad parameters.
func (l *Ledger) Restrict(ctx context.Context, refs []lethe.SubjectRef, p RestrictParams) error {
	if err := checkRefs(refs); err != nil {
		return err
	}
	if err := checkField("request_id", p.RequestID, maxTextLen, false); err != nil {
		return err
	}
	actor := cmp.Or(p.Actor, "library")
	now := l.now()
	rs := make([]lethe.SubjectRestriction, len(refs))
	recs := make([]lethe.AuditRecord, len(refs))
	for i, ref := range refs {
		rs[i] = lethe.SubjectRestriction{SubjectRef: ref, RequestID: p.RequestID, Actor: actor, RestrictedAt: now}
		recs[i] = lethe.AuditRecord{Actor: actor, Action: "subject.restricted", SubjectRef: ref, Object: p.RequestID,
			Details: details("request_id", p.RequestID)}
	}
	_, err := l.store.RestrictionAdd(ctx, rs, recs)
	l.forget(refs...)
	if err != nil {
		return fmt.Errorf("restrict processing: %w", err)
	}
	return nil
}

// LiftRestriction lifts the subjects' restriction, after telling the
// person (Art. 18(3)): with NotifyEmail it first queues the
// restriction_lifting e-mail through the outbox (its own audit entry,
// mail.queued), and only then lifts; with NotifiedOutOfBand it records
// that the person was told another way (the reason stays out of the audit
// log, which keeps its hash). Subjects not restricted are left alone;
// when none is restricted nothing is sent or written, so a retry is
// harmless. EINVALID without either, or with both; EUNAVAILABLE for
// NotifyEmail when the ledger has no Mailer.
func (l *Ledger) LiftRestriction(ctx context.Context, refs []lethe.SubjectRef, p LiftParams) error {
	if err := checkRefs(refs); err != nil {
		return err
	}
	p.NotifyEmail = strings.TrimSpace(p.NotifyEmail)
	switch {
	case p.NotifyEmail == "" && p.NotifiedOutOfBand == "":
		return lethe.FieldErrorf("notify_email", "required: the person must be told before their restriction is lifted (Art. 18(3)); give the address to notify, or say why they were notified out of band (notified_out_of_band)")
	case p.NotifyEmail != "" && p.NotifiedOutOfBand != "":
		return lethe.FieldErrorf("notified_out_of_band", "give either an address to notify or the out-of-band reason, not both")
	}
	if err := checkField("request_id", p.RequestID, maxTextLen, false); err != nil {
		return err
	}
	if err := checkField("notified_out_of_band", p.NotifiedOutOfBand, maxReasonLen, false); err != nil {
		return err
	}
	var standing []lethe.SubjectRestriction
	for _, ref := range refs {
		c, err := l.store.SubjectControls(ctx, ref)
		if err != nil {
			return fmt.Errorf("read restriction: %w", err)
		}
		if c.Restricted() {
			standing = append(standing, *c.Restriction)
		}
	}
	if len(standing) == 0 {
		return nil
	}
	actor := cmp.Or(p.Actor, "library")
	now := l.now()
	lift := lethe.RestrictionLift{LiftedAt: now, RequestID: p.RequestID, Actor: actor, OutOfBand: p.NotifiedOutOfBand}
	if p.NotifyEmail != "" {
		if l.mail == nil {
			return lethe.Errorf(lethe.EUNAVAILABLE, "no mail outbox is configured to notify the person; lift with notified_out_of_band instead")
		}
		// The notice names the request the person made: the lift's, or
		// else the one that restricted them.
		reqID := p.RequestID
		for _, r := range standing {
			reqID = cmp.Or(reqID, r.RequestID)
		}
		if reqID == "" {
			return lethe.FieldErrorf("request_id", "required to notify the person: the reference of their restriction request, which the notice quotes")
		}
		data := map[string]any{"request_id": reqID, "lift_date": now.Format("2 January 2006")}
		if name := l.cfg.Controller.Name; name != "" {
			data["controller"] = name
		}
		id, err := l.mail.Enqueue(ctx, standing[0].SubjectRef, p.NotifyEmail, templateRestrictionLifting, data)
		if err != nil {
			if lethe.ErrorCode(err) == lethe.EINVALID {
				return lethe.FieldErrorf("notify_email", "the notice could not be queued: %s", stripPath(asError(err)))
			}
			return fmt.Errorf("queue the restriction lifting notice: %w", err)
		}
		lift.Notice = id
	}
	lifted := make([]lethe.SubjectRef, len(standing))
	recs := make([]lethe.AuditRecord, len(standing))
	for i, r := range standing {
		lifted[i] = r.SubjectRef
		d := details("request_id", p.RequestID, "notice", lift.Notice)
		if lift.OutOfBand != "" {
			d = details("request_id", p.RequestID, "notified_out_of_band", "true", "reason_sha256", hash(lift.OutOfBand))
		}
		recs[i] = lethe.AuditRecord{Actor: actor, Action: "subject.restriction_lifted", SubjectRef: r.SubjectRef, Object: p.RequestID, Details: d}
	}
	_, err := l.store.RestrictionLift(ctx, lifted, lift, recs)
	l.forget(lifted...)
	if err != nil {
		return fmt.Errorf("lift restriction: %w", err)
	}
	return nil
}

// Object records the subject's objection to each purpose (Art. 21): checks
// for it then answer not allowed, reason objected. It applies to purposes
// based on legitimate_interests or public_task, and to every purpose
// marked direct_marketing (whose objection is absolute). Any other purpose
// is EINVALID, naming its basis, and then nothing is recorded.
// Idempotent: an objection recorded already is kept as it is.
func (l *Ledger) Object(ctx context.Context, ref lethe.SubjectRef, purposes []string, p ObjectParams) error {
	if err := checkRefs([]lethe.SubjectRef{ref}); err != nil {
		return err
	}
	if err := checkField("request_id", p.RequestID, maxTextLen, false); err != nil {
		return err
	}
	if len(purposes) == 0 {
		return lethe.FieldErrorf("purposes", "at least one purpose is required")
	}
	if len(purposes) > MaxPurposesPerCall {
		return lethe.FieldErrorf("purposes", "at most %d purposes per call", MaxPurposesPerCall)
	}
	var fields []lethe.FieldError
	var ids []string
	for i, id := range purposes {
		path := fmt.Sprintf("purposes[%d]", i)
		pur, ok := l.cfg.Purpose(id)
		if !ok {
			fields = append(fields, lethe.FieldError{Path: path, Message: fmt.Sprintf("unknown purpose %q; declared purposes: %s", truncate(id), strings.Join(l.cfg.PurposeIDs(), ", "))})
			continue
		}
		if msg := objectionApplies(pur); msg != "" {
			fields = append(fields, lethe.FieldError{Path: path, Message: msg})
			continue
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(fields) > 0 {
		return &lethe.Error{Code: lethe.EINVALID, Message: "objection not recorded", Fields: fields}
	}
	actor := cmp.Or(p.Actor, "library")
	now := l.now()
	objs := make([]lethe.SubjectObjection, len(ids))
	recs := make([]lethe.AuditRecord, len(ids))
	for i, id := range ids {
		objs[i] = lethe.SubjectObjection{SubjectRef: ref, Purpose: id, RequestID: p.RequestID, Actor: actor, ObjectedAt: now}
		recs[i] = lethe.AuditRecord{Actor: actor, Action: "subject.objected", SubjectRef: ref, Object: p.RequestID,
			Details: details("purpose", id, "request_id", p.RequestID)}
	}
	_, err := l.store.ObjectionAdd(ctx, objs, recs)
	l.forget(ref)
	if err != nil {
		return fmt.Errorf("record objection: %w", err)
	}
	return nil
}

// objectionApplies says why Art. 21 does not apply to pur ("" when it
// does).
func objectionApplies(pur *lethe.Purpose) string {
	switch {
	case pur.DirectMarketing:
		return ""
	case pur.LawfulBasis == lethe.BasisLegitimateInterests, pur.LawfulBasis == lethe.BasisPublicTask:
		return ""
	case pur.LawfulBasis == lethe.BasisConsent:
		return fmt.Sprintf("%q is based on consent: the person withdraws consent instead (Art. 7(3)); the right to object (Art. 21) applies to legitimate_interests, public_task and direct_marketing purposes", pur.ID)
	default:
		return fmt.Sprintf("%q is processed under %s: the right to object (Art. 21) does not apply (only to legitimate_interests, public_task and direct_marketing purposes)", pur.ID, pur.LawfulBasis)
	}
}

// objectionStops reports whether an objection stops processing for pur:
// one that stands on a legitimate-interests or public-task purpose, and
// any on a direct-marketing purpose, where no override counts.
func objectionStops(pur *lethe.Purpose, c lethe.SubjectControls) bool {
	if len(c.Objections) == 0 {
		return false
	}
	o, ok := c.Objection(pur.ID)
	switch {
	case !ok:
		return false
	case pur.DirectMarketing:
		return true
	default:
		return o.Active() && objectionApplies(pur) == ""
	}
}

// OverrideObjection records the controller's compelling legitimate grounds
// that override the subject's objection to purpose (Art. 21(1)); checks
// then answer as if there were no objection. The grounds are kept with the
// objection, and only their hash in the audit log. EINVALID for a
// direct-marketing purpose (the objection is absolute, Art. 21(3)), for
// empty grounds or an unknown purpose; ENOTFOUND when the subject has not
// objected to it.
func (l *Ledger) OverrideObjection(ctx context.Context, ref lethe.SubjectRef, purpose string, grounds string, actor string) error {
	if err := checkRefs([]lethe.SubjectRef{ref}); err != nil {
		return err
	}
	pur, ok := l.cfg.Purpose(purpose)
	if !ok {
		return l.unknownPurpose(purpose)
	}
	if pur.DirectMarketing {
		return lethe.FieldErrorf("purpose", "%q is direct marketing: an objection to it is absolute and cannot be overridden (Art. 21(3))", purpose)
	}
	grounds = strings.TrimSpace(grounds)
	if err := checkField("grounds", grounds, maxGroundsLen, true); err != nil {
		return err
	}
	actor = cmp.Or(actor, "library")
	rec := lethe.AuditRecord{Actor: actor, Action: "subject.objection_overridden", SubjectRef: ref, Object: purpose,
		Details: details("purpose", purpose, "grounds_sha256", hash(grounds))}
	err := l.store.ObjectionOverride(ctx, ref, purpose, lethe.ObjectionOverride{Grounds: grounds, Actor: actor, OverriddenAt: l.now()}, rec)
	l.forget(ref)
	if err != nil {
		return fmt.Errorf("override objection: %w", err)
	}
	return nil
}

// Restrictions returns the subject's restriction, standing or lifted (nil
// when the subject was never restricted), read from the store.
func (l *Ledger) Restrictions(ctx context.Context, ref lethe.SubjectRef) (*lethe.SubjectRestriction, error) {
	c, err := l.Controls(ctx, ref)
	return c.Restriction, err
}

// Objections returns the subject's objections, overridden or not, sorted by
// purpose, read from the store.
func (l *Ledger) Objections(ctx context.Context, ref lethe.SubjectRef) ([]lethe.SubjectObjection, error) {
	c, err := l.Controls(ctx, ref)
	return c.Objections, err
}

// Controls returns the subject's restriction and objections, read from the
// store.
func (l *Ledger) Controls(ctx context.Context, ref lethe.SubjectRef) (lethe.SubjectControls, error) {
	c, err := l.store.SubjectControls(ctx, ref)
	if err != nil {
		return c, fmt.Errorf("read restriction and objections: %w", err)
	}
	return c, nil
}

func (l *Ledger) now() time.Time { return l.clock.Now().UTC().Truncate(time.Microsecond) }

// forget drops the subjects from the cache, also after a failed write (its
// outcome is unknown).
func (l *Ledger) forget(refs ...lethe.SubjectRef) {
	if l.cache == nil {
		return
	}
	for _, r := range refs {
		l.cache.invalidate(r)
	}
}

func checkRefs(refs []lethe.SubjectRef) error {
	if len(refs) == 0 {
		return lethe.FieldErrorf("subject_refs", "at least one subject reference is required")
	}
	for i, r := range refs {
		if r.IsZero() {
			return lethe.FieldErrorf(fmt.Sprintf("subject_refs[%d]", i), "a subject reference is required")
		}
	}
	return nil
}

// checkField checks the controller's text: bounded, and without control
// characters other than line breaks and tabs.
func checkField(path, v string, max int, required bool) error {
	switch {
	case v == "" && required:
		return lethe.FieldErrorf(path, "required")
	case len(v) > max:
		return lethe.FieldErrorf(path, "longer than %d bytes", max)
	case strings.ContainsFunc(v, func(r rune) bool { return (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f }):
		return lethe.FieldErrorf(path, "holds control characters")
	}
	return nil
}

// details builds PII-free audit details from key, value pairs, leaving out
// empty values.
func details(kv ...string) map[string]string {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			m[kv[i]] = kv[i+1]
		}
	}
	return m
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func asError(err error) *lethe.Error {
	var le *lethe.Error
	if !errors.As(err, &le) {
		return &lethe.Error{Message: "invalid"}
	}
	return le
}

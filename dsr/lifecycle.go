package dsr

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/mail"
)

// Verify marks an unverified request verified (the person proved the
// identity it names, package intake); a worker then runs it. ECONFLICT
// when the request is not unverified.
func (r *Requests) Verify(ctx context.Context, id, actor string) (lethe.Request, error) {
	req, err := r.opts.Store.RequestGet(ctx, id)
	if err != nil {
		return req, err
	}
	now := r.clock.Now().UTC()
	req.Status, req.VerifiedAt = lethe.RequestVerified, &now
	if err := r.transition(ctx, &req, []lethe.RequestStatus{lethe.RequestUnverified}, actor, "request.verified", nil); err != nil {
		return req, err
	}
	if ids, _, err := r.openRequest(ctx, req); err == nil {
		r.notify(ctx, req, ids, "received", mail.TemplateRequestReceived, map[string]any{"due_date": r.dueDate(req.DueAt)})
	}
	r.nudge()
	return req, nil
}

// Reject refuses a request that has not started running (manifestly
// unfounded or excessive, identity not established, ...), records the
// reason, and tells the person the reason and their right to complain to
// a supervisory authority (Art. 12(4)). The reason is told to the person
// and kept in the record: it must hold no personal data. ECONFLICT once
// the request runs or finished.
func (r *Requests) Reject(ctx context.Context, id, reason, actor string) (lethe.Request, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return lethe.Request{}, lethe.FieldErrorf("reason", "a rejection needs the reason the person will be told (Art. 12(4))")
	}
	return r.close(ctx, id, lethe.RequestRejected, reason, actor, func(ctx context.Context, req lethe.Request) {
		ids, _, err := r.openRequest(ctx, req)
		if err != nil {
			r.log.Warn("open a rejected request to notify the person", "request", req.ID, "code", lethe.ErrorCode(err))
			return
		}
		r.notify(ctx, req, ids, "rejected", mail.TemplateRequestRejected, map[string]any{"reason": reason, "supervisory_authority": r.opts.SupervisoryAuthority})
	})
}

// Cancel withdraws a request that is not running (the person withdrew it,
// or it was made in error). ECONFLICT once it runs or finished.
func (r *Requests) Cancel(ctx context.Context, id, reason, actor string) (lethe.Request, error) {
	return r.close(ctx, id, lethe.RequestCancelled, strings.TrimSpace(reason), actor, nil)
}

// close ends a request that no worker holds: unverified, verified, or
// running but waiting for its next retry. after runs once the transition
// is stored, with the request as it was (its identities still sealed in
// it).
func (r *Requests) close(ctx context.Context, id string, status lethe.RequestStatus, reason, actor string, after func(context.Context, lethe.Request)) (lethe.Request, error) {
	req, err := r.opts.Store.RequestGet(ctx, id)
	if err != nil {
		return req, err
	}
	now := r.clock.Now().UTC()
	if req.Status == lethe.RequestRunning && req.LeaseUntil != nil && req.LeaseUntil.After(now) {
		return req, lethe.Errorf(lethe.ECONFLICT, "the request is running; wait for its outcome")
	}
	if !req.Open() {
		return req, lethe.Errorf(lethe.ECONFLICT, "the request is %s already", req.Status)
	}
	from := req.Status
	opened := req
	req.Status, req.Reason, req.CompletedAt, req.Values, req.NextAttemptAt, req.Lease, req.LeaseUntil = status, reason, &now, nil, nil, "", nil
	req.Identities = nil // not needed any more: the request will not run
	if err := r.transition(ctx, &req, []lethe.RequestStatus{from}, actor, "request."+string(status), map[string]string{"from": string(from)}); err != nil {
		return req, err
	}
	if after != nil {
		after(ctx, opened)
	}
	return req, nil
}

// Extend records an extension of the deadline with its reason, which the
// person is told: GDPR Art. 12(3) allows two further months, recorded
// within the first month; CCPA 45 further days, with notice within the
// first 45. EINVALID without a reason, ECONFLICT when the jurisdiction
// allows none, the period to extend has passed, the request was extended
// already or has finished.
func (r *Requests) Extend(ctx context.Context, id, reason, actor string) (lethe.Request, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return lethe.Request{}, lethe.FieldErrorf("reason", "an extension needs its reason, which the person is told")
	}
	req, err := r.opts.Store.RequestGet(ctx, id)
	if err != nil {
		return req, err
	}
	now := r.clock.Now().UTC()
	due, err := r.opts.Calendar.Due(req.Jurisdiction, req.CreatedAt)
	if err != nil {
		return req, err
	}
	switch {
	case !req.Open():
		return req, lethe.Errorf(lethe.ECONFLICT, "the request is %s already", req.Status)
	case req.ExtendedAt != nil:
		return req, lethe.Errorf(lethe.ECONFLICT, "the deadline was extended already, on %s", r.dueDate(*req.ExtendedAt))
	case due.ExtendBy.IsZero():
		return req, lethe.Errorf(lethe.ECONFLICT, "%s allows no extension of the deadline", strings.ToUpper(string(req.Jurisdiction)))
	case !due.CanExtend(now):
		return req, lethe.Errorf(lethe.ECONFLICT, "too late to extend: an extension had to be recorded by %s", r.dueDate(due.ExtendBy))
	}
	req.ExtendedAt, req.ExtensionReason, req.ExtendedDueAt, req.UpdatedAt = &now, reason, due.ExtendedDue, now
	// Its own columns only: a worker running the request meanwhile is
	// neither waited for nor undone.
	if err := r.opts.Store.RequestExtend(ctx, id, now, reason, due.ExtendedDue, lethe.AuditRecord{
		Actor: actor, Action: "request.extended", SubjectRef: req.SubjectRef, Object: req.ID,
		Details: map[string]string{"due_at": req.ExtendedDueAt.Format(time.RFC3339)},
	}); err != nil {
		return req, err
	}
	if ids, _, err := r.openRequest(ctx, req); err == nil {
		r.notify(ctx, req, ids, "extended", mail.TemplateRequestExtended, map[string]any{"due_date": r.dueDate(req.ExtendedDueAt), "reason": reason})
	}
	return req, nil
}

// Retry runs a failed or partially completed request again: it becomes
// verified with a fresh count of attempts, and a worker picks it up. An
// erasure run again finds what is left of the subject and erases it; what
// was erased stays erased. ECONFLICT for a request in any other status.
func (r *Requests) Retry(ctx context.Context, id, actor string) (lethe.Request, error) {
	req, err := r.opts.Store.RequestGet(ctx, id)
	if err != nil {
		return req, err
	}
	if req.Status != lethe.RequestFailed && req.Status != lethe.RequestPartiallyCompleted {
		return req, lethe.Errorf(lethe.ECONFLICT, "only a failed or partially completed request can be retried; this one is %s", req.Status)
	}
	if req.Type == lethe.RequestRectification && len(req.Values) == 0 {
		return req, lethe.Errorf(lethe.ECONFLICT, "the corrected values of a finished rectification are not kept; make a new request")
	}
	from := req.Status
	req.Status, req.CompletedAt, req.Attempts, req.NextAttemptAt = lethe.RequestVerified, nil, 0, nil
	if err := r.transition(ctx, &req, []lethe.RequestStatus{from}, actor, "request.retried", map[string]string{"from": string(from)}); err != nil {
		return req, err
	}
	r.nudge()
	return req, nil
}

// PurgeResult counts what Purge removed.
type PurgeResult struct {
	Records int `json:"records"` // request records past KeepRecords, and unverified requests past UnverifiedMaxAge
	Exports int `json:"exports"` // export packages past ExportMaxAge
	// NoticeKeys counts the erasures whose own notice key was shredded.
	NoticeKeys int `json:"notice_keys"`
}

// shredNoticeKeys shreds the request key of each erasure that completed
// NoticeKeep ago: its completion notice, sealed with that key since the
// subject's was shredded, had its time to go out (it holds the address).
func (r *Requests) shredNoticeKeys(ctx context.Context, now time.Time) (int, error) {
	if r.opts.ShredKey == nil {
		return 0, nil
	}
	list, err := r.opts.Store.RequestList(ctx, 100_000)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, req := range list {
		if req.Type != lethe.RequestErasure || req.Status != lethe.RequestCompleted || req.Progress != ProgressShredding ||
			req.CompletedAt == nil || now.Sub(*req.CompletedAt) < r.opts.NoticeKeep {
			continue
		}
		if err := r.opts.ShredKey(ctx, noticeRef(req.ID)); err != nil {
			return n, fmt.Errorf("shred a request's notice key: %w", err)
		}
		req.Progress = ProgressClosed
		if err := r.transition(ctx, &req, []lethe.RequestStatus{lethe.RequestCompleted}, "", "", nil); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Purge applies the retention of request records: finished requests are
// deleted KeepRecords after they finished (24 months by default: the
// record of date, type, channel, response date, outcome and reason a DPO
// shows a supervisory authority), unverified ones UnverifiedMaxAge after
// they were made, and export packages ExportMaxAge after the request
// finished. Each purge is one audit entry with counts.
func (r *Requests) Purge(ctx context.Context) (PurgeResult, error) {
	var res PurgeResult
	now := r.clock.Now().UTC()
	ids, err := r.opts.Store.RequestPurge(ctx, r.opts.KeepRecords.SubFrom(now), now.Add(-r.opts.UnverifiedMaxAge),
		lethe.AuditRecord{Actor: "system", Action: "request.records_purged", Details: map[string]string{"keep": r.opts.KeepRecords.String()}})
	if err != nil {
		return res, err
	}
	res.Records = len(ids)
	for _, id := range ids {
		_ = os.Remove(r.exportPath(id))
	}
	if res.NoticeKeys, err = r.shredNoticeKeys(ctx, now); err != nil {
		return res, err
	}
	if r.opts.ExportDir == "" {
		return res, nil
	}
	entries, err := os.ReadDir(r.opts.ExportDir)
	if errors.Is(err, fs.ErrNotExist) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("list export packages: %w", err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || now.Sub(info.ModTime()) < r.opts.ExportMaxAge {
			continue
		}
		id := strings.TrimSuffix(e.Name(), ".zip")
		if !strings.HasPrefix(id, "req_") {
			continue // a temporary file of an export being written is younger than any max age
		}
		req, err := r.opts.Store.RequestGet(ctx, id)
		if err == nil && req.Export != "" {
			if err := r.opts.Store.RequestClearExport(ctx, id, now); err != nil {
				return res, err
			}
		}
		if err := os.Remove(filepath.Join(r.opts.ExportDir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return res, fmt.Errorf("delete export package: %w", err)
		}
		res.Exports++
	}
	if res.Exports > 0 && r.opts.Engine.opts.Audit != nil {
		if _, err := r.opts.Engine.opts.Audit.Append(ctx, lethe.AuditRecord{Actor: "system", Action: "request.exports_expired",
			Details: map[string]string{"packages": fmt.Sprint(res.Exports)}}); err != nil {
			return res, fmt.Errorf("audit export expiry: %w", err)
		}
	}
	return res, nil
}

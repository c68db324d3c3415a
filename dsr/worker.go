package dsr

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/mail"
)

// Run is the worker: until ctx ends it claims requests ready to run
// (verified ones, running ones whose worker died, retries that are due),
// at most MaxRunning at once, and runs them; once an hour it purges
// request records and export packages past their retention. Several
// processes sharing the store may run workers: the lease gives each
// request to one of them at a time. Run returns nil when ctx ends, after
// the requests it runs have stopped (they are resumed by the next worker).
func (r *Requests) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(r.ctx, cancel)() // Close stops the worker too
	poll := time.NewTicker(r.opts.Poll)
	defer poll.Stop()
	var lastPurge time.Time
	for {
		if now := r.clock.Now(); now.Sub(lastPurge) >= time.Hour {
			lastPurge = now
			if _, err := r.Purge(ctx); err != nil && ctx.Err() == nil {
				r.log.Error("purge request records", "err", err)
			}
		}
		r.claimAndRun(ctx)
		select {
		case <-ctx.Done():
			r.wg.Wait()
			return nil
		case <-poll.C:
		case <-r.wake:
		}
	}
}

// nudge tells a waiting worker of this process that a request is ready,
// so it starts without waiting for the next poll.
func (r *Requests) nudge() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// RunOne runs the request now, in the caller's goroutine, as a worker
// would: it takes the request's lease (ECONFLICT when the request is not
// verified, or not a running one whose worker died or that waits for a
// retry) and returns its outcome. `lethe request run` uses it.
func (r *Requests) RunOne(ctx context.Context, id string) (lethe.Request, error) {
	req, err := r.opts.Store.RequestGet(ctx, id)
	if err != nil {
		return req, err
	}
	now := r.clock.Now().UTC()
	switch {
	case req.Status == lethe.RequestRunning && req.LeaseUntil != nil && req.LeaseUntil.After(now):
		return req, lethe.Errorf(lethe.ECONFLICT, "the request is running in a worker (its lease lasts until %s)", req.LeaseUntil.Format(time.RFC3339))
	case req.Status != lethe.RequestVerified && req.Status != lethe.RequestRunning:
		return req, lethe.Errorf(lethe.ECONFLICT, "the request is %s; only a verified request runs (retry a failed one first)", req.Status)
	}
	token, err := newToken()
	if err != nil {
		return req, err
	}
	until := now.Add(r.opts.Lease)
	req.Lease, req.LeaseUntil = token, &until
	return r.process(ctx, req, nil, nil)
}

// claimAndRun claims as many requests as there are free slots and starts
// them.
func (r *Requests) claimAndRun(ctx context.Context) {
	free := cap(r.sem) - len(r.sem)
	if free <= 0 || ctx.Err() != nil {
		return
	}
	now := r.clock.Now().UTC()
	claimed, err := r.opts.Store.RequestClaim(ctx, now, now.Add(r.opts.Lease), free)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("claim data subject requests", "err", err)
		}
		return
	}
	for _, req := range claimed {
		r.sem <- struct{}{}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer r.nudge() // a slot is free: look for more work at once
			defer func() { <-r.sem }()
			_, _ = r.process(ctx, req, nil, nil) // logged; the store holds the outcome
		}()
	}
}

// runNow runs a request just created by the caller, in the caller's
// goroutine, under a lease of its own like any worker's.
func (r *Requests) runNow(ctx context.Context, req lethe.Request, ids []lethe.Identity, values map[string]string) (lethe.Request, error) {
	return r.process(ctx, req, ids, values)
}

// process runs one leased request to its next resting state: finished,
// or waiting for a retry. ids and values are known when the caller just
// created the request; otherwise they are opened from the store.
//
// The error is the start's: ECONFLICT when another worker or an operator
// got to the request first. Everything after the start is the request's
// outcome, in the request.
func (r *Requests) process(ctx context.Context, req lethe.Request, ids []lethe.Identity, values map[string]string) (lethe.Request, error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := r.heartbeat(runCtx, cancel, req)
	defer stop()

	if req.Attempts >= r.opts.MaxAttempts && req.Status == lethe.RequestRunning && req.NextAttemptAt == nil {
		// Resumed after as many runs as it may have: its runs keep dying
		// (a crash it causes, say). Leave it failed and visible.
		return r.outcome(ctx, req, nil, "", lethe.Errorf(lethe.EINTERNAL, "the request's runs stopped %d times without an outcome", req.Attempts)), nil
	}
	from := req.Status
	action := "request.started"
	if from == lethe.RequestRunning {
		action = "request.resumed"
	}
	req.Status = lethe.RequestRunning
	req.Attempts++
	req.NextAttemptAt = nil
	if err := r.transition(runCtx, &req, []lethe.RequestStatus{from}, "system", action, map[string]string{"attempt": strconv.Itoa(req.Attempts)}); err != nil {
		r.log.Warn("start data subject request", "request", req.ID, "code", lethe.ErrorCode(err))
		return req, err
	}

	if ids == nil {
		var err error
		ids, values, err = r.openRequest(runCtx, req)
		switch {
		case lethe.ErrorCode(err) == lethe.ESHREDDED && req.Type == lethe.RequestErasure && req.Progress == ProgressShredding:
			// The keys went before the outcome was stored: the stored
			// certificate is the outcome.
			return r.finishErasure(ctx, req, nil), nil
		case err != nil:
			return r.outcome(ctx, req, nil, "", err), nil
		}
	}

	var (
		result any
		status lethe.RequestStatus
		err    error
	)
	switch req.Type {
	case lethe.RequestRectification:
		var rr *RectifyResult
		rr, err = r.opts.Engine.Rectify(runCtx, RectifyParams{RequestID: req.ID, Identities: ids, Values: values})
		if err == nil {
			result, status = rr, lethe.RequestStatus(rr.Status)
		}
	case lethe.RequestErasure:
		if req.Progress == ProgressShredding {
			// Complete and verified before the process stopped: only the
			// shred is left (harmless to repeat; it audits each call).
			n, err := r.opts.Engine.opts.Shred(context.WithoutCancel(runCtx), ids)
			if err != nil {
				return r.outcome(ctx, req, nil, "", fmt.Errorf("shred subject keys: %w", err)), nil
			}
			var cert Certificate
			if json.Unmarshal(req.Result, &cert) == nil {
				cert.KeysShredded = n
				req.Result, _ = json.Marshal(&cert)
			}
			return r.finishErasure(ctx, req, ids), nil
		}
		// A datastore an earlier run erased completely is verified, not
		// erased again: a retry re-runs the failed steps only.
		var prev *Certificate
		if len(req.Result) > 0 {
			prev = &Certificate{}
			if json.Unmarshal(req.Result, prev) != nil {
				prev = nil
			}
		}
		var done []string
		if prev != nil {
			done = prev.Done()
		}
		var cert *Certificate
		cert, err = r.opts.Engine.Erase(runCtx, EraseParams{
			RequestID: req.ID, Identities: ids, Done: done,
			Resolved: func(ctx context.Context, all []lethe.Identity) error {
				if len(all) == len(ids) && req.Progress == ProgressResolved {
					return nil
				}
				return r.checkpointIdentities(ctx, &req, req.SubjectRef, all, ProgressResolved, nil)
			},
			BeforeShred: func(ctx context.Context, cert *Certificate) error {
				// Reseal the identities with the request's own key: the
				// subject's goes now, and a resumed worker must still be
				// able to finish the shred and tell the person.
				return r.checkpointIdentities(ctx, &req, noticeRef(req.ID), ids, ProgressShredding, cert)
			},
		})
		if err == nil {
			cert.carryOver(prev)
			result, status = cert, lethe.RequestStatus(cert.Status)
			if _, ferr := r.ForgetExports(context.WithoutCancel(runCtx), ids, req.Actor); ferr != nil {
				r.log.Error("delete the erased subject's export packages", "request", req.ID, "err", ferr)
			}
			if status == lethe.RequestCompleted {
				req.Result, _ = json.Marshal(cert)
				return r.finishErasure(ctx, req, ids), nil
			}
		}
	default:
		var res AccessResult
		res, err = r.export(runCtx, req, ids)
		if err == nil {
			result, status = res, lethe.RequestCompleted
			if len(res.Failed) > 0 {
				status = lethe.RequestPartiallyCompleted
			}
			req.Export = filepath.Base(r.exportPath(req.ID))
		}
	}
	if err != nil && runCtx.Err() != nil {
		// Stopped (the process is shutting down, or the lease was lost):
		// the next worker resumes it.
		return req, nil
	}
	if err == nil {
		req.Result, _ = json.Marshal(result)
	}
	return r.outcome(ctx, req, ids, status, err), nil
}

// outcome records how a run ended: final when it completed, or when its
// attempts are spent; otherwise the request waits for an automatic retry
// (status running, without a lease, until NextAttemptAt).
func (r *Requests) outcome(ctx context.Context, req lethe.Request, ids []lethe.Identity, status lethe.RequestStatus, err error) lethe.Request {
	ctx = context.WithoutCancel(ctx)
	now := r.clock.Now().UTC()
	details := map[string]string{"attempt": strconv.Itoa(req.Attempts)}
	waitForOther := false
	if lethe.ErrorCode(err) == lethe.ESHREDDED && req.Type == lethe.RequestErasure {
		// The subject's key went while this erasure needed it (to open its
		// identities, or to seal them at a checkpoint). If another erasure
		// of the subject completed, the subject went with it; if one is
		// still under way, this one waits for its outcome (a retry); a
		// shred alone (lethe subject shred) leaves the datastores' rows,
		// and this one fails.
		earlier, underWay := r.otherErasures(ctx, req)
		if earlier != nil {
			return r.alreadyErased(ctx, req, *earlier)
		}
		waitForOther = underWay
	}
	if err != nil {
		status, req.Error = lethe.RequestFailed, lethe.ErrorMessage(err)
		details["code"] = string(lethe.ErrorCode(err))
		r.log.Warn("data subject request failed", "request", req.ID, "type", req.Type, "code", lethe.ErrorCode(err))
	} else {
		req.Error = ""
	}
	retryable := status == lethe.RequestFailed || status == lethe.RequestPartiallyCompleted
	if retryable && req.Attempts < r.opts.MaxAttempts && (waitForOther || lethe.ErrorCode(err) != lethe.ESHREDDED) && lethe.ErrorCode(err) != lethe.EINVALID {
		next := now.Add(r.opts.Backoff[min(req.Attempts, len(r.opts.Backoff))-1])
		req.NextAttemptAt, req.LeaseUntil = &next, nil
		details["outcome"], details["next_attempt_at"] = string(status), next.Format(time.RFC3339)
		if terr := r.transition(ctx, &req, []lethe.RequestStatus{lethe.RequestRunning}, "system", "request.retry_scheduled", details); terr != nil {
			r.log.Warn("schedule the retry of a data subject request", "request", req.ID, "code", lethe.ErrorCode(terr))
		}
		return req
	}
	if status == lethe.RequestCompleted {
		// Only a complete outcome is told as such; a partial one waits for
		// the operator (lethe request retry), whose complete run tells it.
		r.notify(ctx, req, ids, "completed", mail.TemplateRequestCompleted, map[string]any{"details": completionDetails(req)})
	}
	req.Status, req.CompletedAt, req.LeaseUntil, req.Values = status, &now, nil, nil
	if status == lethe.RequestCompleted {
		req.Identities = nil // no longer needed; a failed or partial one keeps them for a retry
	}
	if terr := r.transition(ctx, &req, []lethe.RequestStatus{lethe.RequestRunning}, "system", "request."+string(status), details); terr != nil {
		r.log.Warn("store the outcome of a data subject request", "request", req.ID, "code", lethe.ErrorCode(terr))
	}
	return req
}

// finishErasure completes an erasure whose certificate is stored (or in
// req.Result): the notice, sealed with the request's own key since the
// subject's is gone, then the final transition.
func (r *Requests) finishErasure(ctx context.Context, req lethe.Request, ids []lethe.Identity) lethe.Request {
	ctx = context.WithoutCancel(ctx)
	if ids == nil && r.opts.Sealer != nil {
		var m map[string][]string
		if err := r.open(ctx, noticeRef(req.ID), req.ID, "identities", req.Identities, &m); err == nil {
			ids = identitiesOf(m)
		}
	}
	if ids != nil {
		// Again on a resumed run (harmless otherwise): earlier export
		// packages are copies of what was erased.
		if _, err := r.ForgetExports(ctx, ids, req.Actor); err != nil {
			r.log.Error("delete the erased subject's export packages", "request", req.ID, "code", lethe.ErrorCode(err))
		}
		r.notifyAs(ctx, noticeRef(req.ID), req, ids, "completed", mail.TemplateRequestCompleted, map[string]any{"details": completionDetails(req)})
	}
	now := r.clock.Now().UTC()
	// The identities are no longer needed once the request is complete.
	req.Status, req.CompletedAt, req.LeaseUntil, req.Values, req.Error, req.Identities = lethe.RequestCompleted, &now, nil, nil, "", nil
	if err := r.transition(ctx, &req, []lethe.RequestStatus{lethe.RequestRunning}, "system", "request.completed", map[string]string{"attempt": strconv.Itoa(req.Attempts)}); err != nil {
		r.log.Warn("store the outcome of a data subject request", "request", req.ID, "code", lethe.ErrorCode(err))
	}
	return req
}

// otherErasures looks at the other erasure requests of req's subject: the
// newest that completed, if any, and whether one is still running.
func (r *Requests) otherErasures(ctx context.Context, req lethe.Request) (completed *lethe.Request, underWay bool) {
	all, err := r.opts.Store.RequestListBySubject(ctx, req.SubjectRef)
	if err != nil {
		r.log.Warn("look for other erasures of the subject", "request", req.ID, "code", lethe.ErrorCode(err))
		return nil, false
	}
	for _, o := range all {
		if o.ID == req.ID || o.Type != lethe.RequestErasure {
			continue
		}
		switch {
		case o.Status == lethe.RequestCompleted && completed == nil:
			completed = &o
		case o.Status == lethe.RequestRunning || o.Status == lethe.RequestVerified:
			underWay = true
		}
	}
	return completed, underWay
}

// alreadyErased completes an erasure whose identities can no longer be
// read because another erasure of the same subject (earlier) completed and
// shredded the subject's key. No notice goes out: the address to send it
// to was sealed with that key (the other request sent its own).
func (r *Requests) alreadyErased(ctx context.Context, req, earlier lethe.Request) lethe.Request {
	ctx = context.WithoutCancel(ctx)
	now := r.clock.Now().UTC()
	warning := fmt.Sprintf("The subject was erased already, by request %s: the key that sealed this request's identities was destroyed with the rest "+
		"of the subject, so this request could not run (or finish its run). That request's certificate is the evidence. "+
		"Data stored for the person after it completed is not covered: file a new request for it.", earlier.ID)
	cert := Certificate{RequestID: req.ID, IssuedAt: now, Status: StatusCompleted, Steps: []StepResult{}, Warnings: []string{warning}}
	req.Result, _ = json.Marshal(cert)
	req.Status, req.CompletedAt, req.LeaseUntil, req.Values, req.Error, req.Identities = lethe.RequestCompleted, &now, nil, nil, "", nil
	if err := r.transition(ctx, &req, []lethe.RequestStatus{lethe.RequestRunning}, "system", "request.completed",
		map[string]string{"attempt": strconv.Itoa(req.Attempts), "already_erased_by": earlier.ID}); err != nil {
		r.log.Warn("store the outcome of a data subject request", "request", req.ID, "code", lethe.ErrorCode(err))
	}
	return req
}

// checkpointIdentities seals ids with ref's key into the request and
// stores the checkpoint (and the certificate, when given) before the run
// goes on.
func (r *Requests) checkpointIdentities(ctx context.Context, req *lethe.Request, ref lethe.SubjectRef, ids []lethe.Identity, progress string, cert *Certificate) error {
	if r.opts.Sealer == nil {
		return nil
	}
	box, err := r.seal(ctx, ref, req.ID, "identities", identityMap(ids))
	if err != nil {
		return err
	}
	next := *req
	next.Identities, next.Progress = box, progress
	if cert != nil {
		next.Result, _ = json.Marshal(cert)
	}
	if err := r.transition(ctx, &next, []lethe.RequestStatus{lethe.RequestRunning}, "", "", nil); err != nil {
		return fmt.Errorf("checkpoint request: %w", err)
	}
	*req = next
	return nil
}

// openRequest decrypts a stored request's identities and values.
func (r *Requests) openRequest(ctx context.Context, req lethe.Request) ([]lethe.Identity, map[string]string, error) {
	if r.opts.Sealer == nil || len(req.Identities) == 0 {
		return nil, nil, lethe.Errorf(lethe.EINVALID, "the request's identities were not kept, so it cannot run again")
	}
	ref := req.SubjectRef
	if req.Progress == ProgressShredding {
		ref = noticeRef(req.ID)
	}
	var m map[string][]string
	if err := r.open(ctx, ref, req.ID, "identities", req.Identities, &m); err != nil {
		return nil, nil, err
	}
	var values map[string]string
	if len(req.Values) > 0 {
		if err := r.open(ctx, req.SubjectRef, req.ID, "values", req.Values, &values); err != nil {
			return nil, nil, err
		}
	}
	return identitiesOf(m), values, nil
}

// transition stores req's new state if the stored request is in one of
// from (and not leased to another worker), with an audit entry unless
// action is empty. It sets UpdatedAt.
func (r *Requests) transition(ctx context.Context, req *lethe.Request, from []lethe.RequestStatus, actor, action string, details map[string]string) error {
	req.UpdatedAt = r.clock.Now().UTC()
	if req.LeaseUntil != nil {
		// The worker is alive now: a transition that keeps the lease
		// extends it from now, never back to an expiry the heartbeat has
		// since moved on from (another worker could then take it over).
		until := req.UpdatedAt.Add(r.opts.Lease)
		req.LeaseUntil = &until
	}
	var rec *lethe.AuditRecord
	if action != "" {
		rec = &lethe.AuditRecord{Actor: cmp.Or(actor, "system"), Action: action, SubjectRef: req.SubjectRef, Object: req.ID, Details: details}
	}
	return r.opts.Store.RequestTransition(ctx, *req, from, rec)
}

// heartbeat renews the request's lease every third of it until stop;
// when the lease is lost (another worker took the request over after a
// stall) it cancels the run.
func (r *Requests) heartbeat(ctx context.Context, cancel context.CancelFunc, req lethe.Request) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(r.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := r.opts.Store.RequestRenew(ctx, req.ID, req.Lease, r.clock.Now().UTC().Add(r.opts.Lease))
			if lethe.ErrorCode(err) == lethe.ECONFLICT {
				r.log.Warn("lost the lease of a data subject request; stopping it", "request", req.ID)
				cancel()
				return
			}
			if err != nil && ctx.Err() == nil {
				r.log.Warn("renew the lease of a data subject request", "request", req.ID, "code", lethe.ErrorCode(err))
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// notify queues a notice to the request's e-mail identity, sealed with
// the subject's key.
func (r *Requests) notify(ctx context.Context, req lethe.Request, ids []lethe.Identity, event, template string, data map[string]any) {
	r.notifyAs(ctx, req.SubjectRef, req, ids, event, template, data)
}

// notifyAs queues a notice sealed with ref's key. The message id is the
// request's and the event's, so a notice queued before a crash is not
// queued again. Failures are logged: the request's outcome stands, and
// the operator sees the outbox.
func (r *Requests) notifyAs(ctx context.Context, ref lethe.SubjectRef, req lethe.Request, ids []lethe.Identity, event, template string, data map[string]any) {
	if r.opts.Notices == nil || ref.IsZero() {
		return
	}
	i := slices.IndexFunc(ids, func(id lethe.Identity) bool { return id.Type == lethe.IdentityEmail })
	if i < 0 {
		return
	}
	d := map[string]any{"request_id": req.ID, "request_type": string(req.Type)}
	if r.opts.Controller != "" {
		d["controller"] = r.opts.Controller
	}
	for k, v := range data {
		if v != nil && v != "" {
			d[k] = v
		}
	}
	err := r.opts.Notices.EnqueueID(ctx, NoticeID(req.ID, event), ref, ids[i].Value, template, d)
	if err != nil && lethe.ErrorCode(err) != lethe.ECONFLICT {
		r.log.Error("queue a request notice", "request", req.ID, "notice", event, "code", lethe.ErrorCode(err))
	}
}

// NoticeID is the outbox id of a request's notice (received, extended,
// rejected, completed).
func NoticeID(requestID, event string) string { return "mail_" + requestID + "_" + event }

// noticeRef is the reference a request's own key is kept under: it seals
// what must outlive the subject's key (the completion notice of an
// erasure) and is shredded in turn by Purge.
func noticeRef(requestID string) lethe.SubjectRef {
	return lethe.SubjectRef(sha256.Sum256([]byte("lethe request notice key:" + requestID)))
}

// completionDetails summarises the outcome for the person, without
// personal data.
func completionDetails(req lethe.Request) string {
	switch req.Type {
	case lethe.RequestErasure:
		return "Your personal data has been erased from our systems, except where the law requires us to keep it."
	case lethe.RequestRectification:
		return "The personal data you asked us to correct has been corrected."
	default:
		return "Your copy of your personal data is ready; we will tell you how to receive it securely."
	}
}

func identitiesOf(m map[string][]string) []lethe.Identity {
	var out []lethe.Identity
	types := make([]string, 0, len(m))
	for t := range m {
		types = append(types, t)
	}
	slices.Sort(types)
	for _, t := range types {
		for _, v := range m[t] {
			out = append(out, lethe.Identity{Type: lethe.IdentityType(t), Value: v})
		}
	}
	return out
}

func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("lease token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

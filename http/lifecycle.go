package http

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/lethe-privacy/lethe"
)

// The operator's side of the request lifecycle (package dsr): list with
// the deadlines, reject, cancel, extend, retry. Each is one transition in
// the store with its audit entry; a transition the request's status does
// not allow is 409 naming the status.

type requestListInput struct {
	Status    string `query:"status" enum:"unverified,verified,running,completed,partially_completed,failed,rejected,cancelled" doc:"Only requests in this status."`
	Overdue   bool   `query:"overdue" doc:"Only open requests past their deadline (the extended one once extended)."`
	DueWithin string `query:"due_within" maxLength:"16" doc:"Only open requests due within this period, e.g. 7d."`
	Limit     int    `query:"limit" minimum:"1" maximum:"10000" default:"100" doc:"At most this many requests, newest first."`
}

type requestListOutput struct {
	Body struct {
		Requests []RequestResponse `json:"requests"`
	}
}

type requestReasonInput struct {
	ID string `path:"id" maxLength:"64" doc:"A request id."`
	// Body is optional: retry and cancel need no reason.
	Body *struct {
		Reason string `json:"reason,omitempty" maxLength:"1000" doc:"Told to the person and kept in the record: no personal data. Required to reject and extend."`
	}
}

func (s *Server) registerLifecycle() {
	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "request-list", Method: http.MethodGet, Path: "/v1/requests", Tags: []string{"requests"},
		Summary:     "Data subject requests, newest first, with their deadlines",
		Description: "Filter by status, or the urgent ones: overdue=true, due_within=7d (open requests only).",
	}, lethe.ScopeRequestsRead, http.StatusUnprocessableEntity), s.listRequests)
	step := func(id, summary, desc string, fn func(ctx context.Context, id, reason string) (lethe.Request, error)) {
		huma.Register(s.api, s.secured(huma.Operation{
			OperationID: "request-" + id, Method: http.MethodPost, Path: "/v1/requests/{id}/" + id, Tags: []string{"requests"},
			Summary: summary, Description: desc, MaxBodyBytes: MaxBodyBytes + 1,
		}, lethe.ScopeRequestsWrite, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity),
			func(ctx context.Context, in *requestReasonInput) (*requestOutput, error) {
				if s.requests == nil {
					return nil, s.problemFor(ctx, errNoRequests, nil)
				}
				reason := ""
				if in.Body != nil {
					reason = in.Body.Reason
				}
				r, err := fn(ctx, in.ID, reason)
				if err != nil {
					return nil, s.problemFor(ctx, err, inBody)
				}
				return &requestOutput{Body: requestResponse(r, time.Now())}, nil
			})
	}
	step("reject", "Reject a request",
		"Refuses a request that is not running, with the reason; the person is told it and their right to complain to a supervisory authority (Art. 12(4)). 409 once it runs or finished.",
		func(ctx context.Context, id, reason string) (lethe.Request, error) {
			return s.requests.Reject(ctx, id, reason, actor(ctx))
		})
	step("cancel", "Cancel a request",
		"Withdraws a request that is not running (the person withdrew it, or it was made in error). 409 once it runs or finished.",
		func(ctx context.Context, id, reason string) (lethe.Request, error) {
			return s.requests.Cancel(ctx, id, reason, actor(ctx))
		})
	step("extend", "Extend a request's deadline",
		"Records an extension with its reason, which the person is told: GDPR two further months, only within the first month and once; CCPA 45 days; LGPD none (409).",
		func(ctx context.Context, id, reason string) (lethe.Request, error) {
			return s.requests.Extend(ctx, id, reason, actor(ctx))
		})
	step("retry", "Retry a failed or partially completed request",
		"Runs the request again: the steps an earlier run applied are verified, not applied again; the failed ones run. The body's reason is ignored.",
		func(ctx context.Context, id, _ string) (lethe.Request, error) {
			return s.requests.Retry(ctx, id, actor(ctx))
		})
}

func (s *Server) listRequests(ctx context.Context, in *requestListInput) (*requestListOutput, error) {
	if s.opts.Store == nil {
		return nil, s.problemFor(ctx, errNoRequests, nil)
	}
	var within lethe.Duration
	if in.DueWithin != "" {
		d, err := lethe.ParseDuration(in.DueWithin)
		if err != nil {
			return nil, s.problemFor(ctx, lethe.FieldErrorf("query.due_within", "%q is not a duration like 7d", in.DueWithin), nil)
		}
		within = d
	}
	scan := in.Limit
	if in.Status != "" || in.Overdue || in.DueWithin != "" {
		// The requests that match are often old ones: look at them all,
		// and answer limit of them.
		scan = 1_000_000
	}
	all, err := s.opts.Store.RequestList(ctx, scan)
	if err != nil {
		return nil, s.problemFor(ctx, err, nil)
	}
	now := time.Now()
	out := &requestListOutput{}
	out.Body.Requests = []RequestResponse{}
	for _, r := range all {
		due := r.Due()
		late := r.Open() && !due.IsZero() && now.After(due)
		switch {
		case in.Status != "" && string(r.Status) != in.Status:
			continue
		case in.Overdue && !late:
			continue
		case in.DueWithin != "" && !(r.Open() && !late && !due.IsZero() && !within.AddTo(now).Before(due)):
			continue
		}
		if len(out.Body.Requests) == in.Limit {
			break
		}
		out.Body.Requests = append(out.Body.Requests, requestResponse(r, now))
	}
	return out, nil
}

package http

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/retention"
)

type retentionOutput struct {
	Body struct {
		// Schedule is the daily run's state shared by every node: when it
		// last completed, and which node holds it now.
		Schedule *lethe.Schedule `json:"schedule,omitempty"`
		// Node is this node's scheduler: its run under way with its
		// progress, and its last run's counts per collection.
		Node retention.State `json:"node"`
	}
}

var errNoRetention = lethe.Errorf(lethe.EUNAVAILABLE, "retention is not scheduled on this server (no retention rule, or retention.off)")

func (s *Server) registerRetention() {
	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "retention-status", Method: http.MethodGet, Path: "/v1/retention", Tags: []string{"retention"},
		Summary: "The retention schedule and the progress of its run",
		Description: "When the daily retention run last completed and which node holds it; on this node, whether it runs now " +
			"(collection, rows done of the total, rate, time left) and its last run's counts per collection. Counts only, no personal data.",
	}, lethe.ScopeRetentionRead, http.StatusServiceUnavailable), s.getRetention)
}

func (s *Server) getRetention(ctx context.Context, _ *struct{}) (*retentionOutput, error) {
	if s.opts.Retention == nil {
		return nil, s.problemFor(ctx, errNoRetention, nil)
	}
	out := &retentionOutput{}
	out.Body.Node = s.opts.Retention.State()
	sc, err := s.opts.Store.ScheduleGet(ctx, retention.ScheduleName)
	switch {
	case err == nil:
		out.Body.Schedule = &sc
	case lethe.ErrorCode(err) != lethe.ENOTFOUND:
		return nil, s.problemFor(ctx, err, nil)
	}
	return out, nil
}

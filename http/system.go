package http

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/lethe-privacy/lethe"
)

// Health is the body of /healthz.
type Health struct {
	Status  string `json:"status" example:"ok" doc:"Always ok: the process answers."`
	Version string `json:"version" doc:"The Lethe version serving."`
}

type healthOutput struct {
	Body Health
}

// Readiness is the body of /readyz when ready.
type Readiness struct {
	Status string `json:"status" example:"ready" doc:"ready when the server can serve requests."`
}

type readyOutput struct {
	Body Readiness
}

// GPCSupport is the GPC support resource, /.well-known/gpc.json.
type GPCSupport struct {
	GPC        bool   `json:"gpc" doc:"Whether the site honours Global Privacy Control signals."`
	LastUpdate string `json:"lastUpdate" format:"date" doc:"When this file last changed (YYYY-MM-DD)."`
}

type gpcOutput struct {
	CacheControl string `header:"Cache-Control"`
	Body         GPCSupport
}

// registerSystem registers the unauthenticated endpoints: liveness,
// readiness and the GPC support resource.
func (s *Server) registerSystem() {
	huma.Register(s.api, s.documented(huma.Operation{
		OperationID: "healthz", Method: http.MethodGet, Path: "/healthz", Tags: []string{"system"},
		Summary:     "Liveness",
		Description: "Answers 200 while the process runs. It does not check dependencies: use /readyz for that. No authentication.",
	}), func(context.Context, *struct{}) (*healthOutput, error) {
		out := &healthOutput{}
		out.Body.Status, out.Body.Version = "ok", s.opts.Version
		return out, nil
	})

	huma.Register(s.api, s.documented(huma.Operation{
		OperationID: "readyz", Method: http.MethodGet, Path: "/readyz", Tags: []string{"system"},
		Summary:     "Readiness",
		Description: "Answers 200 when the store answers, 503 (a problem) when it does not. No authentication.",
	}, http.StatusServiceUnavailable), func(ctx context.Context, _ *struct{}) (*readyOutput, error) {
		if s.opts.Ready != nil {
			if err := s.opts.Ready(ctx); err != nil {
				// Whatever the cause, not ready is 503; the cause is logged.
				if lethe.ErrorCode(err) != lethe.EUNAVAILABLE {
					err = &lethe.Error{Code: lethe.EUNAVAILABLE, Message: "not ready: the store does not answer", Err: err}
				}
				return nil, s.problemFor(ctx, err, nil)
			}
		}
		out := &readyOutput{}
		out.Body.Status = "ready"
		return out, nil
	})

	huma.Register(s.api, s.documented(huma.Operation{
		OperationID: "gpc-support", Method: http.MethodGet, Path: "/.well-known/gpc.json", Tags: []string{"system"},
		Summary: "Global Privacy Control support",
		Description: "The GPC support resource (https://privacycg.github.io/gpc-spec/). gpc is true when at least one " +
			"declared purpose is marked gpc: a request carrying Sec-GPC: 1 then records opt-outs for those purposes. No authentication.",
	}), func(context.Context, *struct{}) (*gpcOutput, error) {
		out := &gpcOutput{CacheControl: "public, max-age=86400"}
		out.Body.GPC = len(s.gpcPurposes) > 0
		out.Body.LastUpdate = s.opts.GPCLastUpdate.UTC().Format("2006-01-02")
		return out, nil
	})
}

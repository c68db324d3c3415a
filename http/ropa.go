package http

import (
	"context"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/ropa"
)

type ropaInput struct {
	Format string `query:"format" enum:"json,csv,html" doc:"json, csv or html. Defaults to what Accept asks for (text/csv, text/html), else json."`
	Accept string `header:"Accept"`
}

var errNoConfig = lethe.Errorf(lethe.EUNAVAILABLE, "the records of processing need the config, which this server was not given")

func (s *Server) registerROPA() {
	schema := s.api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[ropa.Record](), true, "")
	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "ropa-get", Method: http.MethodGet, Path: "/v1/ropa", Tags: []string{"records"},
		Summary: "The records of processing activities (Art. 30)",
		Description: "The controller's record built from lethe.yaml: controller, DPO and representative (a), and for each " +
			"purpose its description (b), categories of data subjects and personal data (c), recipients (d), " +
			"third-country transfers with safeguards (e), time limits for erasure (f) and security measures (g). " +
			"findings lists what is missing: (a)-(e) as errors, (f)-(g) as warnings. As JSON, CSV (one row per purpose) " +
			"or a self-contained HTML page, by ?format= or the Accept header.",
		Responses: map[string]*huma.Response{"200": {Description: "The record", Content: map[string]*huma.MediaType{
			"application/json": {Schema: schema}, "text/csv": {}, "text/html": {},
		}}},
	}, lethe.ScopeROPARead, http.StatusUnprocessableEntity, http.StatusServiceUnavailable), s.getROPA)
}

func (s *Server) getROPA(ctx context.Context, in *ropaInput) (*huma.StreamResponse, error) {
	if s.opts.Config == nil {
		return nil, s.problemFor(ctx, errNoConfig, nil)
	}
	f := negotiateROPA(in.Format, in.Accept)
	rec := ropa.Build(s.opts.Config, time.Now())
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		hctx.SetHeader("Content-Type", f.ContentType())
		if f == ropa.FormatCSV {
			hctx.SetHeader("Content-Disposition", `attachment; filename="ropa.csv"`)
		}
		hctx.SetStatus(http.StatusOK)
		// The record is built and the status sent: a failure here is a
		// broken connection, which nobody is left to tell.
		_ = rec.Write(hctx.BodyWriter(), f)
	}}, nil
}

// negotiateROPA picks the format: ?format= wins (huma has checked it),
// then the first of text/csv and text/html the Accept header names, else
// JSON.
func negotiateROPA(format, accept string) ropa.Format {
	if format != "" {
		f, _ := ropa.ParseFormat(format)
		return f
	}
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "text/csv":
			return ropa.FormatCSV
		case "text/html":
			return ropa.FormatHTML
		case "application/json":
			return ropa.FormatJSON
		}
	}
	return ropa.FormatJSON
}

package http

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/dsr"
)

// RequestCreateBody is a data subject request as an API client sends it.
type RequestCreateBody struct {
	Type         string            `json:"type" enum:"access,portability,erasure,rectification" doc:"access (Art. 15: a ZIP package of everything held), portability (Art. 20: the data given under consent or contract, as JSON and CSV), erasure (Art. 17) or rectification (Art. 16, with values)."`
	Identities   map[string]string `json:"identities" minProperties:"1" maxProperties:"16" doc:"What the subject is known by: identity type -> value, e.g. {\"email\": \"jane@example.com\", \"user_id\": \"42\"}. Types are lower-case identifiers (user_id, email, phone or a custom type of the data map)."`
	Jurisdiction string            `json:"jurisdiction,omitempty" enum:"gdpr,ccpa,lgpd" doc:"The regime the request falls under, which sets its deadline: gdpr (one month, 1182/71 rules), ccpa (45 days), lgpd (15 days). Defaults to the config's jurisdiction."`
	Values       map[string]string `json:"values,omitempty" maxProperties:"64" doc:"rectification only: the corrected values, by field (datastore.collection.column) or data category (contact.address: every field of that category). Never stored: applied and forgotten."`
}

// RequestResponse is a data subject request as the API shows it. It holds
// no personal data: the identities are not repeated.
type RequestResponse struct {
	ID              string          `json:"id" doc:"The request id; the audit log names it too."`
	Type            string          `json:"type"`
	Status          string          `json:"status" enum:"unverified,verified,running,completed,partially_completed,failed,rejected,cancelled" doc:"unverified until the person enters the code e-mailed to them; verified until a worker takes it; running until every datastore answered (also while it waits for an automatic retry, see next_attempt_at); partially_completed when a datastore failed or verification found data left; rejected with the reason told to the person; cancelled."`
	Channel         string          `json:"channel" doc:"How the request arrived: api, web, cli, library."`
	Reason          string          `json:"reason,omitempty" doc:"Why it was rejected or cancelled."`
	VerifiedAt      *time.Time      `json:"verified_at,omitempty" doc:"When the person's identity was verified (for a trusted key: when the request was made)."`
	ExtendedAt      *time.Time      `json:"extended_at,omitempty" doc:"When the deadline was extended; extended_due_at then applies."`
	ExtensionReason string          `json:"extension_reason,omitempty"`
	Attempts        int             `json:"attempts" doc:"Runs started so far."`
	NextAttemptAt   *time.Time      `json:"next_attempt_at,omitempty" doc:"When the next automatic retry runs, after a datastore failed."`
	SubjectRef      string          `json:"subject_ref,omitempty" doc:"The pseudonymous subject reference (hex). Not shown to the person (requests made without an API key)."`
	Actor           string          `json:"actor,omitempty" doc:"Who made the request: api:<key name>, web (the person), cli."`
	CreatedAt       time.Time       `json:"created_at"`
	CompletedAt     *time.Time      `json:"completed_at,omitempty"`
	Jurisdiction    string          `json:"jurisdiction"`
	DueAt           time.Time       `json:"due_at" doc:"When the response is due by law: the last instant of the due day in the controller's time zone."`
	ExtendedDueAt   *time.Time      `json:"extended_due_at,omitempty" doc:"When it is due if the deadline is extended (GDPR: two further months, recorded within the first)."`
	Overdue         bool            `json:"overdue" doc:"True while the request is not finished and its due time has passed."`
	Result          json.RawMessage `json:"result,omitempty" doc:"access/portability: rows per collection and unreachable datastores; erasure: the certificate (steps per collection with rows, holds and status, verification, audit checkpoint)."`
	Export          string          `json:"export,omitempty" doc:"Where to download the package, once completed (access and portability)."`
	Error           string          `json:"error,omitempty"`
	CodeExpiresAt   *time.Time      `json:"code_expires_at,omitempty" doc:"Requests made without an API key: when the code just e-mailed expires."`
}

type requestCreateInput struct {
	Body RequestCreateBody
}

type requestOutput struct {
	Body RequestResponse
}

type requestIDInput struct {
	ID string `path:"id" maxLength:"64" doc:"A request id."`
}

var identityTypeRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

var errNoRequests = lethe.Errorf(lethe.EUNAVAILABLE, "data subject requests are not configured on this server")

// requestBodyFields locates request body fields: identity errors name the
// identity type.
func requestBodyFields(field string) string {
	switch field {
	case "", "type", "identities", "values":
		return inBody(field)
	}
	if strings.HasPrefix(field, "values.") {
		return inBody(field)
	}
	return "body.identities." + field
}

func (s *Server) registerRequests() {
	create := s.secured(huma.Operation{
		OperationID: "request-create", Method: http.MethodPost, Path: "/v1/requests", Tags: []string{"requests"},
		DefaultStatus: http.StatusAccepted, MaxBodyBytes: MaxBodyBytes + 1,
		Summary: "Make a data subject request",
		Description: "With an API key, records the request verified; the worker of lethe serve runs it at once, in the " +
			"background (and resumes it after a crash): the answer is 202 with the request; poll GET /v1/requests/{id} for its outcome. An access or portability request produces a ZIP package " +
			"at /v1/requests/{id}/export; an erasure deletes or anonymises the subject's rows everywhere the data map " +
			"says, honours holds, verifies, shreds the subject's keys and stores its certificate in the result. " +
			"The caller vouches for the requester's identity: give `requests:write` only to systems that verified it.\n\n" +
			"Without an Authorization header, the request comes from the person it is about: it must name an `email` " +
			"identity and no other, is recorded `unverified`, and a one-time code is e-mailed to the address; " +
			"POST /v1/requests/{id}/verify with the code makes it run. The answer (202) holds the request's id, status, " +
			"due date and when the code expires, never the identities nor whether the person is known. Rate limited per " +
			"address and per client address (429 with Retry-After). A wrong or revoked key is 401, never public.",
	}, lethe.ScopeRequestsWrite, http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge, http.StatusTooManyRequests)
	// Public as well as keyed: an empty security requirement makes the
	// key optional, and the middleware decides which it is.
	create.Security = append(create.Security, map[string][]string{})
	create.Middlewares = huma.Middlewares{s.authorizeOrPublic(lethe.ScopeRequestsWrite)}
	huma.Register(s.api, create, s.createRequest)

	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "request-get", Method: http.MethodGet, Path: "/v1/requests/{id}", Tags: []string{"requests"},
		Summary:     "A data subject request",
		Description: "The request's status and, once finished, its result: rows per collection, or the erasure certificate with the steps per collection.",
	}, lethe.ScopeRequestsRead, http.StatusNotFound), s.getRequest)

	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "request-export", Method: http.MethodGet, Path: "/v1/requests/{id}/export", Tags: []string{"requests"},
		Summary: "The export package of a request",
		Description: "The ZIP package of a completed access or portability request: data.json, one CSV per collection, " +
			"report.html and information.json. 409 while the request runs; 404 for an erasure. The package holds the " +
			"subject's personal data: deliver it to the subject only. Downloading it takes the scope that makes requests " +
			"(`requests:write`), not the one that reads their status.",
		Responses: map[string]*huma.Response{"200": {Description: "The package", Content: map[string]*huma.MediaType{"application/zip": {}}}},
	}, lethe.ScopeRequestsWrite, http.StatusNotFound, http.StatusConflict), s.requestExport)
}

func requestResponse(r lethe.Request, now time.Time) RequestResponse {
	out := RequestResponse{
		ID: r.ID, Type: string(r.Type), Status: string(r.Status), SubjectRef: r.SubjectRef.String(), Actor: r.Actor,
		CreatedAt: r.CreatedAt, CompletedAt: r.CompletedAt, Result: r.Result, Error: r.Error,
		Jurisdiction: string(r.Jurisdiction), DueAt: r.DueAt,
		Overdue: r.Open() && !r.Due().IsZero() && now.After(r.Due()),
		Channel: string(r.Channel), Reason: r.Reason, VerifiedAt: r.VerifiedAt, ExtendedAt: r.ExtendedAt, ExtensionReason: r.ExtensionReason,
		Attempts: r.Attempts, NextAttemptAt: r.NextAttemptAt,
	}
	if !r.ExtendedDueAt.IsZero() {
		t := r.ExtendedDueAt
		out.ExtendedDueAt = &t
	}
	if r.Export != "" {
		out.Export = "/v1/requests/" + r.ID + "/export"
	}
	return out
}

func (s *Server) createRequest(ctx context.Context, in *requestCreateInput) (*requestOutput, error) {
	if s.requests == nil {
		return nil, s.problemFor(ctx, errNoRequests, nil)
	}
	if _, ok := apiKeyFrom(ctx); !ok {
		return s.createPublicRequest(ctx, in)
	}
	types := make([]string, 0, len(in.Body.Identities))
	for t := range in.Body.Identities {
		types = append(types, t)
	}
	slices.Sort(types) // problems in a stable order
	ids := make([]lethe.Identity, 0, len(types))
	for _, t := range types {
		if !identityTypeRe.MatchString(t) {
			return nil, s.problemFor(ctx, lethe.FieldErrorf("identities", "identity types are lower-case letters, digits and underscores, starting with a letter (user_id, email, phone, or a custom type)"), inBody)
		}
		ids = append(ids, lethe.Identity{Type: lethe.IdentityType(t), Value: in.Body.Identities[t]})
	}
	if in.Body.Type != string(lethe.RequestRectification) && len(in.Body.Values) > 0 {
		return nil, s.problemFor(ctx, lethe.FieldErrorf("values", "only a rectification takes values"), inBody)
	}
	r, err := s.requests.Create(ctx, dsr.CreateParams{Type: lethe.RequestType(in.Body.Type), Identities: ids, Values: in.Body.Values,
		Jurisdiction: lethe.Jurisdiction(in.Body.Jurisdiction), Actor: actor(ctx), Channel: lethe.ChannelAPI, Verified: true})
	if err != nil {
		return nil, s.problemFor(ctx, err, requestBodyFields)
	}
	return &requestOutput{Body: requestResponse(r, time.Now())}, nil
}

func (s *Server) getRequest(ctx context.Context, in *requestIDInput) (*requestOutput, error) {
	if s.requests == nil {
		return nil, s.problemFor(ctx, errNoRequests, nil)
	}
	r, err := s.requests.Get(ctx, in.ID)
	if err != nil {
		return nil, s.problemFor(ctx, err, nil)
	}
	return &requestOutput{Body: requestResponse(r, time.Now())}, nil
}

func (s *Server) requestExport(ctx context.Context, in *requestIDInput) (*huma.StreamResponse, error) {
	if s.requests == nil {
		return nil, s.problemFor(ctx, errNoRequests, nil)
	}
	f, r, err := s.requests.OpenExport(ctx, in.ID)
	if err != nil {
		return nil, s.problemFor(ctx, err, nil)
	}
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		defer f.Close()
		hctx.SetHeader("Content-Type", "application/zip")
		hctx.SetHeader("Content-Disposition", `attachment; filename="`+r.ID+`.zip"`)
		hctx.SetHeader("Cache-Control", "no-store")
		if st, err := f.Stat(); err == nil {
			hctx.SetHeader("Content-Length", strconv.FormatInt(st.Size(), 10))
		}
		hctx.SetStatus(http.StatusOK)
		_, _ = io.Copy(hctx.BodyWriter(), f)
	}}, nil
}

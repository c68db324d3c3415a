package http

import (
	"context"
	"net/http"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/dsr"
	"github.com/lethe-privacy/lethe/intake"
)

// The public intake: people make requests about themselves without an
// API key. A request is recorded unverified, a one-time code is e-mailed
// to the address it names, and it runs once the code comes back. Every
// call counts against the client's rate limit, and every request or new
// code against the address's; the answers never repeat an identity nor
// tell whether the person is known.

// publicActor names the person in the audit log of what they do here.
const publicActor = "web"

var (
	errNoIntake = lethe.Errorf(lethe.EUNAVAILABLE, "requests without an API key are not accepted by this server")
	// errNoCode is the answer to a code for a request that waits for none.
	errNoCode = lethe.Errorf(lethe.ENOTFOUND, "no request waits for verification under this id; check the id, or make the request again")
	// errNotWaiting is the answer to a resend for an unknown request id
	// and for an address that is not the request's: the two are not told
	// apart.
	errNotWaiting = lethe.Errorf(lethe.ENOTFOUND, "no request made with this e-mail address waits for verification under this id; check both, or make the request again")
)

type clientAddrKey struct{}

// clientFrom returns the client address that publicCall found.
func clientFrom(ctx context.Context) netip.Addr {
	a, _ := ctx.Value(clientAddrKey{}).(netip.Addr)
	return a
}

// publicCall is the huma middleware of the public operations: it finds
// the client's address (see clientAddr) for the rate limits.
func (s *Server) publicCall(ctx huma.Context, next func(huma.Context)) {
	var forwarded []string
	ctx.EachHeader(func(name, value string) {
		if strings.EqualFold(name, "X-Forwarded-For") {
			forwarded = append(forwarded, value)
		}
	})
	next(huma.WithValue(ctx, clientAddrKey{}, clientAddr(ctx.RemoteAddr(), forwarded, s.opts.TrustedProxies)))
}

// authorizeOrPublic lets a call without an Authorization header through as
// a public one (when the server takes public requests), and authorizes
// every other call as authorize does: a wrong key is 401, never public.
func (s *Server) authorizeOrPublic(scope lethe.Scope) func(huma.Context, func(huma.Context)) {
	authorize := s.authorize(scope)
	return func(ctx huma.Context, next func(huma.Context)) {
		if s.intake != nil && ctx.Header("Authorization") == "" {
			s.publicCall(ctx, next)
			return
		}
		authorize(ctx, next)
	}
}

// public documents op as open to anyone and rate limited.
func (s *Server) public(op huma.Operation, statuses ...int) huma.Operation {
	op.Security = []map[string][]string{{}}
	op.Middlewares = append(op.Middlewares, s.publicCall)
	op.Description = strings.TrimSpace(op.Description + "\n\nNo API key: open to the people requests are about. " +
		"Rate limited per client address (429 with Retry-After).")
	return s.documented(op, append([]int{http.StatusTooManyRequests}, statuses...)...)
}

// publicRequestResponse is what the person sees of their request: no
// subject reference, no actor, no result, nothing that tells whether the
// controller holds data about them.
func publicRequestResponse(r lethe.Request, now time.Time, codeExpires time.Time) RequestResponse {
	out := RequestResponse{
		ID: r.ID, Type: string(r.Type), Status: string(r.Status), Channel: string(r.Channel),
		CreatedAt: r.CreatedAt, VerifiedAt: r.VerifiedAt, Jurisdiction: string(r.Jurisdiction), DueAt: r.DueAt,
		Overdue: r.Open() && !r.Due().IsZero() && now.After(r.Due()),
	}
	if !codeExpires.IsZero() {
		out.CodeExpiresAt = &codeExpires
	}
	return out
}

// intakeProblem is problemFor with the Retry-After header of a rate limit.
func (s *Server) intakeProblem(ctx context.Context, err error, loc locator) error {
	p := s.problemFor(ctx, err, loc)
	if wait, ok := intake.RetryAfter(err); ok && p.Status == http.StatusTooManyRequests {
		secs := int((wait + time.Second - 1) / time.Second)
		return huma.ErrorWithHeaders(p, http.Header{"Retry-After": {strconv.Itoa(secs)}})
	}
	return p
}

// createPublicRequest records a request from a person, unverified, and
// e-mails them the code that verifies it. The request names the e-mail
// address only: it is the one identity the code proves, and a request
// must not reach data under an identity nobody verified.
func (s *Server) createPublicRequest(ctx context.Context, in *requestCreateInput) (*requestOutput, error) {
	if err := s.intake.LimitClient(ctx, clientFrom(ctx)); err != nil {
		return nil, s.intakeProblem(ctx, err, nil)
	}
	types := make([]string, 0, len(in.Body.Identities))
	for t := range in.Body.Identities {
		types = append(types, t)
	}
	slices.Sort(types)
	var fields []lethe.FieldError
	for _, t := range types {
		switch {
		case !identityTypeRe.MatchString(t):
			fields = append(fields, lethe.FieldError{Path: "identities", Message: "identity types are lower-case letters, digits and underscores, starting with a letter"})
		case t != string(lethe.IdentityEmail):
			fields = append(fields, lethe.FieldError{Path: t, Message: "a request made without an API key names only the e-mail address the code is sent to; remove this identity"})
		}
	}
	email, ok := in.Body.Identities[string(lethe.IdentityEmail)]
	if !ok {
		fields = append(fields, lethe.FieldError{Path: string(lethe.IdentityEmail), Message: "required: the e-mail address to send the verification code to"})
	}
	if in.Body.Type != string(lethe.RequestRectification) && len(in.Body.Values) > 0 {
		fields = append(fields, lethe.FieldError{Path: "values", Message: "only a rectification takes values"})
	}
	if len(fields) > 0 {
		return nil, s.problemFor(ctx, &lethe.Error{Code: lethe.EINVALID, Message: "the request is invalid; see errors", Fields: fields}, requestBodyFields)
	}
	if err := s.intake.LimitIdentity(ctx, email); err != nil {
		return nil, s.intakeProblem(ctx, err, requestBodyFields)
	}
	r, err := s.requests.Create(ctx, dsr.CreateParams{Type: lethe.RequestType(in.Body.Type),
		Identities: []lethe.Identity{{Type: lethe.IdentityEmail, Value: email}}, Values: in.Body.Values,
		Jurisdiction: lethe.Jurisdiction(in.Body.Jurisdiction), Actor: publicActor, Channel: lethe.ChannelWeb})
	if err != nil {
		return nil, s.problemFor(ctx, err, requestBodyFields)
	}
	iss, err := s.intake.Issue(ctx, r.ID, r.SubjectRef, email)
	if err != nil {
		// The request stays unverified; the person may ask for a code
		// again (resend), or it is dropped unverified.
		return nil, s.intakeProblem(ctx, err, requestBodyFields)
	}
	return &requestOutput{Body: publicRequestResponse(r, time.Now(), iss.ExpiresAt)}, nil
}

// RequestVerifyBody carries the code e-mailed to the person.
type RequestVerifyBody struct {
	Code string `json:"code" maxLength:"64" pattern:"^[ \\t-]*([0-9][ \\t-]*){8}$" patternDescription:"the 8 digits of the e-mail (spaces and dashes are ignored)" doc:"The code from the e-mail: 8 digits; spaces and dashes are ignored."`
}

type requestVerifyInput struct {
	ID   string `path:"id" maxLength:"64" doc:"The request id the answer to POST /v1/requests gave."`
	Body RequestVerifyBody
}

// RequestResendBody names the address of the request again: it must be
// the one the request was made with.
type RequestResendBody struct {
	Email string `json:"email" minLength:"3" maxLength:"320" doc:"The e-mail address the request was made with."`
}

type requestResendInput struct {
	ID   string `path:"id" maxLength:"64" doc:"The request id the answer to POST /v1/requests gave."`
	Body RequestResendBody
}

// verifyProblem is the problem of a wrong code, with the attempts left as
// an extension member (RFC 9457 3.2) for a form to show.
type verifyProblem struct {
	*Problem
	// AttemptsLeft is a pointer so that 0 (locked) is shown, and a
	// malformed code, which did not count, has none.
	AttemptsLeft *int `json:"attempts_left,omitempty" doc:"After a wrong code: how many more tries it allows; at 0 it is locked: ask for a new one (/resend)."`
}

func (s *Server) registerIntake() {
	wrongCode := s.api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[verifyProblem](), true, "VerifyProblem")
	huma.Register(s.api, s.public(huma.Operation{
		Responses: map[string]*huma.Response{"422": {
			Description: "A wrong code (attempts_left says how many tries the code has left), or a malformed one",
			Content:     map[string]*huma.MediaType{"application/problem+json": {Schema: wrongCode}},
		}},
		OperationID: "request-verify", Method: http.MethodPost, Path: "/v1/requests/{id}/verify", Tags: []string{"requests"},
		MaxBodyBytes: MaxBodyBytes + 1,
		Summary:      "Verify a request with the e-mailed code",
		Description: "The person sends back the code e-mailed to them when they made the request without an API key. " +
			"The right code verifies the request (200, status verified) and a worker runs it. A wrong code is 422 on " +
			"body.code with attempts_left; a code that was used, expired or is locked after too many wrong tries is 409 " +
			"(ask for a new one with /resend); an unknown request id is 404.",
	}, http.StatusUnprocessableEntity, http.StatusNotFound, http.StatusConflict), s.verifyRequest)

	huma.Register(s.api, s.public(huma.Operation{
		OperationID: "request-resend", Method: http.MethodPost, Path: "/v1/requests/{id}/resend", Tags: []string{"requests"},
		DefaultStatus: http.StatusAccepted, MaxBodyBytes: MaxBodyBytes + 1,
		Summary: "E-mail a new verification code",
		Description: "Sends a new code for a request that is still unverified; it replaces the previous one. The body " +
			"names the request's e-mail address again; an id that is unknown and an address that is not the request's " +
			"are both 404. Once per resend wait (429 with Retry-After before), and counted against the address's limit. " +
			"409 once the request was verified.",
	}, http.StatusUnprocessableEntity, http.StatusNotFound, http.StatusConflict), s.resendCode)
}

func (s *Server) verifyRequest(ctx context.Context, in *requestVerifyInput) (*requestOutput, error) {
	if s.requests == nil {
		return nil, s.problemFor(ctx, errNoRequests, nil)
	}
	if s.intake == nil {
		return nil, s.problemFor(ctx, errNoIntake, nil)
	}
	if err := s.intake.LimitClient(ctx, clientFrom(ctx)); err != nil {
		return nil, s.intakeProblem(ctx, err, nil)
	}
	checked, err := s.intake.Check(ctx, in.ID, in.Body.Code)
	switch lethe.ErrorCode(err) {
	case "":
	case lethe.ENOTFOUND:
		return nil, s.problemFor(ctx, errNoCode, nil)
	case lethe.EINVALID:
		// The body's pattern refused malformed codes: this is a wrong one,
		// and it counted.
		p := s.problemFor(ctx, err, inBody)
		if fs := lethe.ErrorFields(err); len(fs) > 0 {
			p.Detail = fs[0].Message
		}
		return nil, &verifyProblem{Problem: p, AttemptsLeft: &checked.AttemptsLeft}
	default:
		return nil, s.problemFor(ctx, err, inBody)
	}
	r, err := s.requests.Verify(ctx, in.ID, publicActor)
	if err != nil {
		return nil, s.problemFor(ctx, err, nil)
	}
	return &requestOutput{Body: publicRequestResponse(r, time.Now(), time.Time{})}, nil
}

func (s *Server) resendCode(ctx context.Context, in *requestResendInput) (*requestOutput, error) {
	if s.requests == nil {
		return nil, s.problemFor(ctx, errNoRequests, nil)
	}
	if s.intake == nil || s.opts.SubjectRef == nil {
		return nil, s.problemFor(ctx, errNoIntake, nil)
	}
	if err := s.intake.LimitClient(ctx, clientFrom(ctx)); err != nil {
		return nil, s.intakeProblem(ctx, err, nil)
	}
	if err := s.intake.LimitIdentity(ctx, in.Body.Email); err != nil {
		return nil, s.intakeProblem(ctx, err, inBody)
	}
	r, err := s.requests.Get(ctx, in.ID)
	if lethe.ErrorCode(err) == lethe.ENOTFOUND {
		return nil, s.problemFor(ctx, errNotWaiting, nil)
	}
	if err != nil {
		return nil, s.problemFor(ctx, err, nil)
	}
	// The request keeps its address sealed; the reference of the address
	// given tells whether it is the same without opening it.
	ref, err := s.opts.SubjectRef(lethe.Identity{Type: lethe.IdentityEmail, Value: in.Body.Email})
	if err != nil {
		return nil, s.problemFor(ctx, lethe.FieldErrorf("email", "not an e-mail address"), inBody)
	}
	if r.SubjectRef.IsZero() || ref != r.SubjectRef || r.Channel != lethe.ChannelWeb {
		return nil, s.problemFor(ctx, errNotWaiting, nil)
	}
	if r.Status != lethe.RequestUnverified {
		return nil, s.problemFor(ctx, lethe.Errorf(lethe.ECONFLICT, "this request is %s: it needs no new code", r.Status), nil)
	}
	iss, err := s.intake.Issue(ctx, r.ID, r.SubjectRef, in.Body.Email)
	if err != nil {
		return nil, s.intakeProblem(ctx, err, inBody)
	}
	return &requestOutput{Body: publicRequestResponse(r, time.Now(), iss.ExpiresAt)}, nil
}

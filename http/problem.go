package http

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/lethe-privacy/lethe"
)

// statusByCode is the one table that maps Lethe's error codes to HTTP
// statuses. EINVALID is 422: the body was well-formed JSON but its content
// is wrong. Malformed bodies (bad JSON, invalid UTF-8) are 400 and come from
// the decoder, not from a lethe.Error.
var statusByCode = map[lethe.Code]int{
	lethe.EINVALID:      http.StatusUnprocessableEntity,
	lethe.ENOTFOUND:     http.StatusNotFound,
	lethe.ECONFLICT:     http.StatusConflict,
	lethe.EUNAUTHORIZED: http.StatusUnauthorized,
	lethe.EFORBIDDEN:    http.StatusForbidden,
	lethe.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	lethe.EUNAVAILABLE:  http.StatusServiceUnavailable,
	lethe.ESHREDDED:     http.StatusGone,
	lethe.ERATELIMITED:  http.StatusTooManyRequests,
	lethe.EINTERNAL:     http.StatusInternalServerError,
}

// StatusCode returns the HTTP status for a Lethe error code (500 for an
// unknown code).
func StatusCode(code lethe.Code) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// codeByStatus reverses statusByCode for problems that huma or the mux
// produce, so that every problem carries a code when one fits.
var codeByStatus = func() map[int]lethe.Code {
	m := make(map[int]lethe.Code, len(statusByCode)+2)
	for c, s := range statusByCode {
		m[s] = c
	}
	m[http.StatusBadRequest] = lethe.EINVALID
	m[http.StatusUnsupportedMediaType] = lethe.EINVALID
	return m
}()

// Problem is an RFC 9457 problem detail, the body of every error response
// (Content-Type application/problem+json). Code is Lethe's error code and
// Errors names the offending inputs. No field ever holds a value the client
// sent: the request may carry personal data.
type Problem struct {
	Type   string `json:"type,omitempty" doc:"A URI reference that identifies the problem type; absent means about:blank."`
	Title  string `json:"title" doc:"A short summary of the problem type (the HTTP status text)."`
	Status int    `json:"status" doc:"The HTTP status code."`
	Detail string `json:"detail,omitempty" doc:"What went wrong this time and how to fix it."`
	// Code is the lethe error code (invalid, not_found, unauthorized, ...).
	Code lethe.Code `json:"code,omitempty" doc:"Lethe's error code: invalid, not_found, conflict, unauthorized, forbidden, too_large, unavailable, shredded, rate_limited or internal."`
	// RequestID matches the X-Request-Id header and the server's log line.
	RequestID string         `json:"request_id,omitempty" doc:"The request's id, as in the X-Request-Id header and the server log."`
	Errors    []ProblemError `json:"errors,omitempty" doc:"The offending inputs, when the problem is about input."`
}

// ProblemError names one offending input: Location is a path such as
// body.purposes[0].purpose, path.subject_id or query.purpose.
type ProblemError struct {
	Location string `json:"location,omitempty" doc:"Where the problem is: body.purposes[0].purpose, path.subject_id, query.purpose, header.Authorization."`
	Message  string `json:"message" doc:"What is wrong there."`
}

// Error implements error (and huma.StatusError) so handlers can return a
// *Problem.
func (p *Problem) Error() string { return p.Detail }

// GetStatus implements huma.StatusError.
func (p *Problem) GetStatus() int { return p.Status }

// ContentType implements huma.ContentTypeFilter: problems are served as
// application/problem+json.
func (p *Problem) ContentType(string) string { return "application/problem+json" }

func newProblem(status int, detail string) *Problem {
	return &Problem{Title: http.StatusText(status), Status: status, Detail: detail, Code: codeByStatus[status]}
}

// writeProblem writes p outside huma (middleware, mux fallbacks).
func writeProblem(w http.ResponseWriter, p *Problem) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Del("Content-Length")
	w.WriteHeader(p.Status)
	b, err := json.Marshal(p)
	if err != nil {
		// Strings and ints only: Marshal cannot fail.
		return
	}
	_, _ = w.Write(append(b, '\n'))
}

// genericDetail is shown when an error carries no message of its own.
var genericDetail = map[lethe.Code]string{
	lethe.EINVALID:      "the request is invalid; see errors",
	lethe.ENOTFOUND:     "not found",
	lethe.ECONFLICT:     "the request conflicts with the current state",
	lethe.EUNAUTHORIZED: "missing, unknown or revoked API key; send Authorization: Bearer lethe_...",
	lethe.EFORBIDDEN:    "the API key lacks the scope this operation needs",
	lethe.ETOOLARGE:     "the request exceeds a limit",
	lethe.EUNAVAILABLE:  "a dependency of the server is unavailable; retry later",
	lethe.ESHREDDED:     "the subject's data was erased",
	lethe.ERATELIMITED:  "too many requests; retry after the time in the Retry-After header",
	lethe.EINTERNAL:     "internal error; the server logged the details under the request id",
}

// locator turns the path of a lethe.FieldError (subject_id,
// purposes[0].purpose) into a problem location (path.subject_id,
// body.purposes[0].purpose).
type locator func(field string) string

// inBody locates every field in the request body.
func inBody(field string) string {
	if field == "" {
		return "body"
	}
	return "body." + field
}

// inParams locates fields among path and query parameters; a field not
// named keeps its bare path.
func inParams(where map[string]string) locator {
	return func(field string) string {
		if loc, ok := where[field]; ok {
			return loc + "." + field
		}
		return field
	}
}

// problemFor turns an error from the engines into a problem. Coded errors
// keep their message and fields; anything else (and EINTERNAL) is logged
// with the request id and answered with a generic message, since its text
// may hold details a client must not see.
func (s *Server) problemFor(ctx interface{ Value(any) any }, err error, loc locator) *Problem {
	code := lethe.ErrorCode(err)
	status := StatusCode(code)
	info, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	p := &Problem{Title: http.StatusText(status), Status: status, Code: code}
	if info != nil {
		p.RequestID = info.id
	}
	var le *lethe.Error
	if code == lethe.EINTERNAL || !errors.As(err, &le) {
		s.log.Error("request failed", slog.String("request_id", p.RequestID), slog.Any("error", err))
		p.Code = lethe.EINTERNAL
		p.Detail = genericDetail[lethe.EINTERNAL]
		return p
	}
	if code == lethe.EUNAVAILABLE {
		// The cause (which database, which address) stays in the log.
		s.log.Warn("dependency unavailable", slog.String("request_id", p.RequestID), slog.Any("error", err))
	}
	p.Detail = le.Message
	if p.Detail == "" {
		p.Detail = genericDetail[code]
	}
	for _, f := range le.Fields {
		l := f.Path
		if loc != nil {
			l = loc(f.Path)
		}
		p.Errors = append(p.Errors, ProblemError{Location: l, Message: f.Message})
	}
	return p
}

// transformProblem is a huma transformer: huma's own errors (validation,
// malformed bodies, unsupported media types) become a Problem. The values
// huma would echo back are dropped, because a request may carry personal
// data. Required-property messages are moved onto the missing field.
func (s *Server) transformProblem(ctx huma.Context, _ string, v any) (any, error) {
	em, ok := v.(*huma.ErrorModel)
	if !ok {
		return v, nil
	}
	p := &Problem{Title: http.StatusText(em.Status), Status: em.Status, Detail: em.Detail, Code: codeByStatus[em.Status]}
	if info, ok := ctx.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		p.RequestID = info.id
	}
	if em.Status >= 500 {
		msgs := make([]string, 0, len(em.Errors))
		for _, d := range em.Errors {
			if d != nil {
				msgs = append(msgs, d.Message)
			}
		}
		s.log.Error("request failed", slog.String("request_id", p.RequestID), slog.String("error", em.Detail), slog.Any("details", msgs))
		p.Detail = genericDetail[lethe.EINTERNAL]
		return p, nil
	}
	switch {
	case em.Status == http.StatusBadRequest && em.Detail == "validation failed":
		p.Detail = "the request body is not valid JSON"
	case em.Status == http.StatusUnsupportedMediaType:
		p.Detail = "unsupported Content-Type; send application/json"
	case em.Status == http.StatusUnprocessableEntity && em.Detail == "validation failed":
		p.Detail = genericDetail[lethe.EINVALID]
	}
	for _, d := range em.Errors {
		if d == nil {
			continue
		}
		e := ProblemError{Location: d.Location, Message: d.Message}
		if name, ok := strings.CutPrefix(d.Message, "expected required property "); ok {
			if name, ok = strings.CutSuffix(name, " to be present"); ok {
				e.Location = name
				if d.Location != "" {
					e.Location = d.Location + "." + name
				}
				e.Message = "required"
			}
		}
		p.Errors = append(p.Errors, e)
	}
	return p, nil
}

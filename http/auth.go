package http

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/lethe-privacy/lethe"
)

type apiKeyKey struct{}

// apiKeyFrom returns the key that authenticated the request.
func apiKeyFrom(ctx context.Context) (lethe.APIKey, bool) {
	k, ok := ctx.Value(apiKeyKey{}).(lethe.APIKey)
	return k, ok
}

// actor is how the audit log and consent events name the caller.
func actor(ctx context.Context) string {
	if k, ok := apiKeyFrom(ctx); ok {
		return "api:" + k.Name
	}
	return "api"
}

// bearerToken extracts the token of an Authorization: Bearer header (the
// scheme is case-insensitive, RFC 9110 11.1).
func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// authorize is the huma middleware of every authenticated operation: it
// answers 401 (with WWW-Authenticate) for a missing, unknown or revoked
// key and 403 naming the scope for a key that lacks it. There is no
// anonymous access to these operations.
func (s *Server) authorize(scope lethe.Scope) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		if s.keys == nil {
			s.writeHumaProblem(ctx, s.problemFor(ctx.Context(), lethe.Errorf(lethe.EUNAVAILABLE, "API keys are not configured on this server"), nil))
			return
		}
		token, ok := bearerToken(ctx.Header("Authorization"))
		if !ok {
			ctx.SetHeader("WWW-Authenticate", `Bearer realm="lethe"`)
			s.writeHumaProblem(ctx, s.problemFor(ctx.Context(), lethe.Errorf(lethe.EUNAUTHORIZED, "missing API key; send Authorization: Bearer lethe_..."), nil))
			return
		}
		key, err := s.keys.Authenticate(ctx.Context(), token)
		if err != nil {
			if lethe.ErrorCode(err) == lethe.EUNAUTHORIZED {
				ctx.SetHeader("WWW-Authenticate", `Bearer realm="lethe", error="invalid_token"`)
			}
			s.writeHumaProblem(ctx, s.problemFor(ctx.Context(), err, nil))
			return
		}
		if info, ok := ctx.Context().Value(requestInfoKey{}).(*requestInfo); ok {
			info.keyID = key.ID
		}
		if !key.Allows(scope) {
			ctx.SetHeader("WWW-Authenticate", fmt.Sprintf(`Bearer realm="lethe", error="insufficient_scope", scope=%q`, scope))
			s.writeHumaProblem(ctx, s.problemFor(ctx.Context(),
				lethe.Errorf(lethe.EFORBIDDEN, "this API key lacks the scope %s (or admin); create a key with it", scope), nil))
			return
		}
		next(huma.WithValue(ctx, apiKeyKey{}, key))
	}
}

// writeHumaProblem writes p from a huma middleware.
func (s *Server) writeHumaProblem(ctx huma.Context, p *Problem) {
	ctx.SetHeader("Content-Type", "application/problem+json")
	ctx.SetStatus(p.Status)
	b, _ := json.Marshal(p)
	_, _ = ctx.BodyWriter().Write(append(b, '\n'))
}

// secured makes op require an API key with scope and documents it.
// Other statuses the operation can answer are listed in statuses.
func (s *Server) secured(op huma.Operation, scope lethe.Scope, statuses ...int) huma.Operation {
	op.Security = []map[string][]string{{"bearer": {string(scope)}}}
	op.Middlewares = append(op.Middlewares, s.authorize(scope))
	op.Description = strings.TrimSpace(op.Description + fmt.Sprintf("\n\nRequires an API key with scope `%s` (or `admin`).", scope))
	return s.documented(op, append([]int{http.StatusUnauthorized, http.StatusForbidden}, statuses...)...)
}

// documented adds problem responses for the given statuses (and a default
// one) to op, so that the OpenAPI document shows the Problem schema rather
// than huma's own error model.
func (s *Server) documented(op huma.Operation, statuses ...int) huma.Operation {
	reg := s.api.OpenAPI().Components.Schemas
	schema := reg.Schema(reflect.TypeFor[Problem](), true, "Problem")
	if op.Responses == nil {
		op.Responses = map[string]*huma.Response{}
	}
	add := func(key, desc string) {
		if _, ok := op.Responses[key]; ok {
			return
		}
		op.Responses[key] = &huma.Response{
			Description: desc,
			Content:     map[string]*huma.MediaType{"application/problem+json": {Schema: schema}},
		}
	}
	for _, st := range statuses {
		add(fmt.Sprint(st), http.StatusText(st))
	}
	add("default", "Error (RFC 9457 problem details)")
	return op
}

package http

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/audit"
)

// Checkpoint is a signed statement of the audit log's size and root.
type Checkpoint struct {
	Size      uint64     `json:"size" doc:"How many entries the tree had."`
	Root      audit.Hash `json:"root" doc:"The RFC 6962 tree root, hex."`
	CreatedAt time.Time  `json:"created_at"`
	Note      string     `json:"note" doc:"The signed note (golang.org/x/mod/sumdb/note format); verify it with the public key."`
}

func checkpointJSON(cp lethe.AuditCheckpoint) Checkpoint {
	return Checkpoint{Size: cp.Size, Root: audit.Hash(cp.Root), CreatedAt: cp.CreatedAt, Note: string(cp.Note)}
}

// CheckpointListResponse lists signed checkpoints.
type CheckpointListResponse struct {
	Checkpoints []Checkpoint `json:"checkpoints" doc:"Every signed checkpoint, smallest size first."`
}

// AuditPublicKey is the key that verifies the log's checkpoints.
type AuditPublicKey struct {
	VerifierKey string `json:"verifier_key" doc:"The ed25519 public key in note verifier-key format: <name>+<hash>+<key>."`
	Name        string `json:"name" doc:"The key's name, as it appears in checkpoint signatures."`
	Algorithm   string `json:"algorithm" example:"ed25519"`
}

type verifyOutput struct {
	Body audit.VerifyResult
}

type checkpointOutput struct {
	Body Checkpoint
}

type checkpointListOutput struct {
	Body CheckpointListResponse
}

type inclusionInput struct {
	Seq      uint64 `query:"seq" required:"true" doc:"The entry's sequence number (its 0-based leaf index)."`
	TreeSize uint64 `query:"tree_size" required:"true" doc:"The size of the tree to prove inclusion in; seq < tree_size <= the log's size."`
}

type inclusionOutput struct {
	Body audit.InclusionProof
}

type consistencyInput struct {
	From uint64 `query:"from" required:"true" doc:"The older tree size; 0 < from <= to."`
	To   uint64 `query:"to" required:"true" doc:"The newer tree size, at most the log's size."`
}

type consistencyOutput struct {
	Body audit.ConsistencyProof
}

type publicKeyOutput struct {
	Body AuditPublicKey
}

// verifyWriteTimeout replaces the server's WriteTimeout for a verification,
// which reads the whole log.
const verifyWriteTimeout = 15 * time.Minute

var errNoAudit = lethe.Errorf(lethe.EUNAVAILABLE, "the audit log is not configured on this server")

// registerAudit registers the audit log endpoints.
func (s *Server) registerAudit() {
	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "audit-verify", Method: http.MethodGet, Path: "/v1/audit/verify", Tags: []string{"audit"},
		Summary: "Verify the audit log",
		Description: "Recomputes the whole log from its entries (hash chain, Merkle tree, signed checkpoints, head) and " +
			"reports the first problem. A tampered log is a result: 200 with ok false, first_bad_seq and problem. " +
			"It reads every entry, so it takes time on a large log.",
		Middlewares: huma.Middlewares{extendWriteDeadline(verifyWriteTimeout)},
	}, lethe.ScopeAuditRead), s.auditVerify)

	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "audit-checkpoints-list", Method: http.MethodGet, Path: "/v1/audit/checkpoints", Tags: []string{"audit"},
		Summary: "List signed checkpoints",
	}, lethe.ScopeAuditRead), s.auditCheckpoints)

	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "audit-checkpoint-create", Method: http.MethodPost, Path: "/v1/audit/checkpoints", Tags: []string{"audit"},
		DefaultStatus: http.StatusCreated,
		Summary:       "Sign a checkpoint now",
		Description: "Signs the log's current size and root and stores the checkpoint. Idempotent: when the log has not " +
			"grown since the newest checkpoint, that checkpoint is returned. Refuses (409) to sign a log that no longer " +
			"extends the previous checkpoint.",
	}, lethe.ScopeAdmin, http.StatusConflict, http.StatusServiceUnavailable), s.auditCheckpointCreate)

	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "audit-checkpoint-latest", Method: http.MethodGet, Path: "/v1/audit/checkpoints/latest", Tags: []string{"audit"},
		Summary: "The newest signed checkpoint",
	}, lethe.ScopeAuditRead, http.StatusNotFound), s.auditCheckpointLatest)

	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "audit-proof-inclusion", Method: http.MethodGet, Path: "/v1/audit/proofs/inclusion", Tags: []string{"audit"},
		Summary: "Inclusion proof",
		Description: "Proves that entry seq is in the tree of size tree_size (RFC 6962 audit path, hex). Do not trust " +
			"leaf_hash and root as sent: recompute the leaf hash from the entry and take the root from a checkpoint you verified.",
	}, lethe.ScopeAuditRead, http.StatusUnprocessableEntity), s.auditInclusion)

	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "audit-proof-consistency", Method: http.MethodGet, Path: "/v1/audit/proofs/consistency", Tags: []string{"audit"},
		Summary:     "Consistency proof",
		Description: "Proves that the tree of size to extends the tree of size from: nothing in the first from entries changed (RFC 6962, hex).",
	}, lethe.ScopeAuditRead, http.StatusUnprocessableEntity), s.auditConsistency)

	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "audit-public-key", Method: http.MethodGet, Path: "/v1/audit/public-key", Tags: []string{"audit"},
		Summary:     "The checkpoint signing key",
		Description: "The public key that verifies the log's checkpoints. Publish it where the database's administrators cannot rewrite it.",
	}, lethe.ScopeAuditRead, http.StatusNotFound), s.auditPublicKey)
}

// extendWriteDeadline is a huma middleware that gives a long operation more
// time to write its answer than the server's WriteTimeout.
func extendWriteDeadline(d time.Duration) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		_, w := humago.Unwrap(ctx)
		// Unsupported writers (tests with a recorder) keep their deadline.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
		next(ctx)
	}
}

func (s *Server) auditVerify(ctx context.Context, _ *struct{}) (*verifyOutput, error) {
	if s.audit == nil {
		return nil, s.problemFor(ctx, errNoAudit, nil)
	}
	res, err := s.audit.Verify(ctx, audit.VerifyOptions{})
	if err != nil {
		return nil, s.problemFor(ctx, err, nil)
	}
	return &verifyOutput{Body: res}, nil
}

func (s *Server) auditCheckpoints(ctx context.Context, _ *struct{}) (*checkpointListOutput, error) {
	cps, err := s.checkpointList(ctx)
	if err != nil {
		return nil, s.problemFor(ctx, err, nil)
	}
	out := &checkpointListOutput{Body: CheckpointListResponse{Checkpoints: make([]Checkpoint, len(cps))}}
	for i, cp := range cps {
		out.Body.Checkpoints[i] = checkpointJSON(cp)
	}
	return out, nil
}

func (s *Server) auditCheckpointLatest(ctx context.Context, _ *struct{}) (*checkpointOutput, error) {
	cps, err := s.checkpointList(ctx)
	if err != nil {
		return nil, s.problemFor(ctx, err, nil)
	}
	if len(cps) == 0 {
		return nil, s.problemFor(ctx, lethe.Errorf(lethe.ENOTFOUND, "no checkpoint has been signed yet; POST /v1/audit/checkpoints signs one"), nil)
	}
	return &checkpointOutput{Body: checkpointJSON(cps[len(cps)-1])}, nil
}

// checkpointList reads the signed checkpoints from the store: package audit
// serves proofs and signing, the store keeps the list.
func (s *Server) checkpointList(ctx context.Context) ([]lethe.AuditCheckpoint, error) {
	if s.store == nil {
		return nil, lethe.Errorf(lethe.EUNAVAILABLE, "listing checkpoints needs the server's store (Options.Store), which is not configured")
	}
	cps, err := s.store.AuditCheckpointList(ctx)
	if err != nil {
		return nil, err
	}
	return cps, nil
}

func (s *Server) auditCheckpointCreate(ctx context.Context, _ *struct{}) (*checkpointOutput, error) {
	if s.audit == nil {
		return nil, s.problemFor(ctx, errNoAudit, nil)
	}
	if s.audit.VerifierKey() == "" {
		return nil, s.problemFor(ctx, lethe.Errorf(lethe.EUNAVAILABLE, "this server has no audit signing key: checkpoints cannot be signed"), nil)
	}
	cp, err := s.audit.Checkpoint(ctx)
	if err != nil {
		return nil, s.problemFor(ctx, err, nil)
	}
	return &checkpointOutput{Body: checkpointJSON(cp)}, nil
}

var proofParams = inParams(map[string]string{"seq": "query", "tree_size": "query", "from": "query", "to": "query"})

func (s *Server) auditInclusion(ctx context.Context, in *inclusionInput) (*inclusionOutput, error) {
	if s.audit == nil {
		return nil, s.problemFor(ctx, errNoAudit, nil)
	}
	p, err := s.audit.InclusionProof(ctx, in.Seq, in.TreeSize)
	if err != nil {
		return nil, s.problemFor(ctx, err, proofParams)
	}
	if p.Hashes == nil {
		p.Hashes = []audit.Hash{}
	}
	return &inclusionOutput{Body: p}, nil
}

func (s *Server) auditConsistency(ctx context.Context, in *consistencyInput) (*consistencyOutput, error) {
	if s.audit == nil {
		return nil, s.problemFor(ctx, errNoAudit, nil)
	}
	p, err := s.audit.ConsistencyProof(ctx, in.From, in.To)
	if err != nil {
		return nil, s.problemFor(ctx, err, proofParams)
	}
	if p.Hashes == nil {
		p.Hashes = []audit.Hash{}
	}
	return &consistencyOutput{Body: p}, nil
}

func (s *Server) auditPublicKey(ctx context.Context, _ *struct{}) (*publicKeyOutput, error) {
	if s.audit == nil {
		return nil, s.problemFor(ctx, errNoAudit, nil)
	}
	vkey := s.audit.VerifierKey()
	if vkey == "" {
		return nil, s.problemFor(ctx, lethe.Errorf(lethe.ENOTFOUND, "this server has no audit signing key"), nil)
	}
	name, _, _ := strings.Cut(vkey, "+")
	return &publicKeyOutput{Body: AuditPublicKey{VerifierKey: vkey, Name: name, Algorithm: "ed25519"}}, nil
}

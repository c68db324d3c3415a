package audit

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"

	"github.com/lethe-privacy/lethe"
)

// DefaultOrigin is the first line of every checkpoint a Log signs unless
// Options.Origin says otherwise. It names the log, so that a checkpoint of
// one log cannot be passed off as a checkpoint of another.
const DefaultOrigin = "lethe audit log"

// Signer signs checkpoints with an ed25519 key, in the signed-note format of
// golang.org/x/mod/sumdb/note. It is safe for concurrent use.
type Signer struct {
	signer   note.Signer
	verifier note.Verifier
	vkey     string
}

// NewSigner returns a signer that signs as name (the key's name in the
// note format: non-empty, no spaces, no '+'). It returns EINVALID for a bad
// name or a key that is not a 64-byte ed25519 private key.
func NewSigner(name string, key ed25519.PrivateKey) (*Signer, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, lethe.Errorf(lethe.EINVALID, "an audit signing key is a %d-byte ed25519 private key", ed25519.PrivateKeySize)
	}
	if name == "" || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsSpace) || strings.Contains(name, "+") {
		return nil, lethe.Errorf(lethe.EINVALID, "an audit signer name must be non-empty UTF-8 without spaces or '+'")
	}
	vkey, err := note.NewEd25519VerifierKey(name, key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("audit signer: %w", err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("audit signer: %w", err)
	}
	// The note package builds signers only from its own encoding
	// "PRIVATE+KEY+<name>+<hash>+<base64(alg || seed)>"; the hash is the
	// one it already computed for the verifier key.
	const algEd25519 = 1
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, verifier.KeyHash(),
		base64.StdEncoding.EncodeToString(append([]byte{algEd25519}, key.Seed()...)))
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("audit signer: %w", err)
	}
	return &Signer{signer: signer, verifier: verifier, vkey: vkey}, nil
}

// Name returns the key's name.
func (s *Signer) Name() string { return s.signer.Name() }

// VerifierKey returns the public key in note verifier-key format
// ("<name>+<hash>+<key>"). Publish it: anyone holding it can check that a
// checkpoint was signed by this log and compare logs over time.
func (s *Signer) VerifierKey() string { return s.vkey }

// Verifier returns the note verifier of the signer's public key.
func (s *Signer) Verifier() note.Verifier { return s.verifier }

// sign returns the signed note of a checkpoint of origin.
func (s *Signer) sign(origin string, size uint64, root [32]byte, at time.Time) ([]byte, error) {
	return note.Sign(&note.Note{Text: checkpointText(origin, size, root, at)}, s.signer)
}

// checkpointText is the checkpoint body: the C2SP tlog-checkpoint lines
// (origin, size, base64 root) followed by one extension line with the time,
// so a published checkpoint also says when the log had that size.
func checkpointText(origin string, size uint64, root [32]byte, at time.Time) string {
	return fmt.Sprintf("%s\n%d\n%s\ntime %s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]),
		at.UTC().Format(time.RFC3339Nano))
}

// OpenCheckpoint verifies a signed checkpoint note against the verifier keys
// (note verifier-key format, as Signer.VerifierKey returns) and returns what
// it states. It returns EINVALID when no key verifies the signature or the
// text is not a checkpoint of origin; an empty origin accepts any.
func OpenCheckpoint(msg []byte, origin string, verifierKeys ...string) (lethe.AuditCheckpoint, error) {
	var verifiers []note.Verifier
	for _, k := range verifierKeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return lethe.AuditCheckpoint{}, lethe.Errorf(lethe.EINVALID, "not a note verifier key: %v", err)
		}
		verifiers = append(verifiers, v)
	}
	return openCheckpoint(msg, origin, note.VerifierList(verifiers...))
}

func openCheckpoint(msg []byte, origin string, verifiers note.Verifiers) (lethe.AuditCheckpoint, error) {
	n, err := note.Open(msg, verifiers)
	if err != nil {
		var (
			unverified *note.UnverifiedNoteError
			invalid    *note.InvalidSignatureError
		)
		switch {
		case errors.As(err, &unverified):
			return lethe.AuditCheckpoint{}, lethe.Errorf(lethe.EINVALID, "checkpoint is not signed by a trusted audit key")
		case errors.As(err, &invalid):
			return lethe.AuditCheckpoint{}, lethe.Errorf(lethe.EINVALID, "checkpoint signature by key %s+%08x does not verify (forged or altered)", invalid.Name, invalid.Hash)
		default:
			return lethe.AuditCheckpoint{}, lethe.Errorf(lethe.EINVALID, "checkpoint is not a well-formed signed note")
		}
	}
	cp, gotOrigin, err := parseCheckpointText(n.Text)
	if err != nil {
		return lethe.AuditCheckpoint{}, err
	}
	if origin != "" && gotOrigin != origin {
		return lethe.AuditCheckpoint{}, lethe.Errorf(lethe.EINVALID, "checkpoint is of log %q, not %q", gotOrigin, origin)
	}
	cp.Note = msg
	return cp, nil
}

func parseCheckpointText(text string) (lethe.AuditCheckpoint, string, error) {
	bad := func(what string) (lethe.AuditCheckpoint, string, error) {
		return lethe.AuditCheckpoint{}, "", lethe.Errorf(lethe.EINVALID, "checkpoint text: %s", what)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return bad("want origin, size and root lines")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return bad("size line is not a number")
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return bad("root line is not a base64 SHA-256 hash")
	}
	cp := lethe.AuditCheckpoint{Size: size, Root: [32]byte(root)}
	for _, l := range lines[3:] {
		if t, ok := strings.CutPrefix(l, "time "); ok {
			at, err := time.Parse(time.RFC3339Nano, t)
			if err != nil {
				return bad("time line is not an RFC 3339 time")
			}
			cp.CreatedAt = at.UTC()
		}
	}
	return cp, lines[0], nil
}

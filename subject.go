package lethe

import (
	"encoding/hex"
	"log/slog"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// IdentityType names a kind of identity a subject is known by: user_id,
// email, phone, or a custom type declared by the organisation.
type IdentityType string

// Well-known identity types.
const (
	IdentityUserID IdentityType = "user_id"
	IdentityEmail  IdentityType = "email"
	IdentityPhone  IdentityType = "phone"
)

var identityTypeRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// MaxIdentityLen bounds an identity value in bytes.
const MaxIdentityLen = 512

// Identity is one way of knowing a subject: a type and a value. The value is
// personal data: Identity redacts itself in logs.
type Identity struct {
	Type  IdentityType
	Value string
}

// LogValue keeps the value out of logs.
func (id Identity) LogValue() slog.Value {
	return slog.GroupValue(slog.String("type", string(id.Type)), slog.String("value", "[redacted]"))
}

// String keeps the value out of formatted output.
func (id Identity) String() string { return string(id.Type) + ":[redacted]" }

// Normalise returns the identity in the canonical form that subject
// references are computed from, so that " Jane@Example.COM" and
// "jane@example.com" name the same subject. E-mails are trimmed and
// lower-cased; phone numbers keep a leading '+' and their digits; other types
// are trimmed. It returns EINVALID for an empty, over-long, non-UTF-8 or
// malformed value, with a message that does not repeat the value.
func (id Identity) Normalise() (Identity, error) {
	switch id.Type {
	case IdentityUserID, IdentityEmail, IdentityPhone:
		// Known types skip the pattern match: this runs on the consent-check
		// hot path.
	default:
		if !identityTypeRe.MatchString(string(id.Type)) {
			return Identity{}, FieldErrorf("type", "identity type must be lower-case letters, digits and underscores, starting with a letter")
		}
	}
	if !utf8.ValidString(id.Value) {
		return Identity{}, FieldErrorf(string(id.Type), "identity is not valid UTF-8")
	}
	v := strings.TrimSpace(id.Value)
	switch id.Type {
	case IdentityEmail:
		v = strings.ToLower(v)
		at := strings.LastIndexByte(v, '@')
		if at < 1 || at == len(v)-1 || strings.ContainsFunc(v, unicode.IsSpace) {
			return Identity{}, FieldErrorf(string(id.Type), "not an e-mail address")
		}
	case IdentityPhone:
		var b strings.Builder
		for i, r := range v {
			switch {
			case r >= '0' && r <= '9':
				b.WriteRune(r)
			case r == '+' && i == 0:
				b.WriteRune(r)
			case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '/':
			default:
				return Identity{}, FieldErrorf(string(id.Type), "a phone number holds digits, an optional leading '+', spaces, dashes, dots and parentheses")
			}
		}
		v = b.String()
		if len(strings.TrimPrefix(v, "+")) < 3 {
			return Identity{}, FieldErrorf(string(id.Type), "phone number too short")
		}
	}
	if v == "" {
		return Identity{}, FieldErrorf(string(id.Type), "identity is empty")
	}
	if len(v) > MaxIdentityLen {
		return Identity{}, FieldErrorf(string(id.Type), "identity longer than %d bytes", MaxIdentityLen)
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return Identity{}, FieldErrorf(string(id.Type), "identity holds control characters")
		}
	}
	return Identity{Type: id.Type, Value: v}, nil
}

// SubjectRef is the pseudonymous reference to a subject:
// HMAC-SHA256(secret, identity type + ":" + normalised value). It is what
// Lethe's store, audit log and metrics hold instead of an identity. Without
// the secret it cannot be linked back to the person; with the secret it can
// only be recomputed from an identity already known.
type SubjectRef [32]byte

// String returns the reference as lower-case hex.
func (r SubjectRef) String() string { return hex.EncodeToString(r[:]) }

// IsZero reports whether r is the zero reference (no subject).
func (r SubjectRef) IsZero() bool { return r == SubjectRef{} }

// MarshalText encodes the reference as hex.
func (r SubjectRef) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText decodes a hex reference.
func (r *SubjectRef) UnmarshalText(b []byte) error {
	ref, err := ParseSubjectRef(string(b))
	if err != nil {
		return err
	}
	*r = ref
	return nil
}

// ParseSubjectRef decodes a 64-character hex subject reference.
func ParseSubjectRef(s string) (SubjectRef, error) {
	var r SubjectRef
	if len(s) != 64 {
		return r, Errorf(EINVALID, "a subject reference is 64 hex characters")
	}
	if _, err := hex.Decode(r[:], []byte(s)); err != nil {
		return r, Errorf(EINVALID, "a subject reference is 64 hex characters")
	}
	return r, nil
}

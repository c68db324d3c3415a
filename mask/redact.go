package mask

import (
	"strings"
	"unicode/utf8"

	"github.com/lethe-privacy/lethe"
)

// redactMask keeps a hint of a text and hides the rest: strategy redact.
type redactMask struct{}

// redactStars replaces what redact hides. Its length is fixed, so the
// output does not tell the input's length.
const redactStars = "***"

func (redactMask) Name() string              { return nameRedact }
func (redactMask) Constant() (any, bool)     { return nil, false }
func (redactMask) PreservesUniqueness() bool { return false }
func (m redactMask) Fits(col lethe.ColumnSchema) error {
	return fitError(nameRedact, col, m.misfit(col))
}

// Apply takes text (string or []byte). An e-mail address keeps the first
// character of its local part and its domain (jane.doe@example.com
// becomes j***@example.com); other text keeps its first character
// (Jane Doe becomes J***). A value or local part of three characters or
// fewer becomes *** whole. []byte that is not UTF-8 becomes *** whole.
func (redactMask) Apply(v any) (any, error) {
	s, isBytes, ok := text(v)
	switch {
	case v == nil:
		return nil, nil
	case !ok:
		return nil, cannotMask(nameRedact, v, "redact writes text; choose null or fixed:<value> for other types")
	case s == "":
		return asInput("", isBytes), nil
	case !utf8.ValidString(s):
		return asInput(redactStars, isBytes), nil
	}
	if at := strings.LastIndexByte(s, '@'); at > 0 && at < len(s)-1 {
		return asInput(hint(s[:at])+s[at:], isBytes), nil
	}
	return asInput(hint(s), isBytes), nil
}

// hint returns the first character of s and ***, or *** alone when s is
// too short for its first character to be only a hint.
func hint(s string) string {
	if utf8.RuneCountInString(s) <= len(redactStars) {
		return redactStars
	}
	_, size := utf8.DecodeRuneInString(s)
	return s[:size] + redactStars
}

func (redactMask) misfit(col lethe.ColumnSchema) misfit {
	// The output is no longer than the input, except that a value of
	// fewer than three characters becomes *** (and an e-mail address
	// with a local part of one or two characters grows by as much).
	return textMisfit(nameRedact, col, len(redactStars), "*** (3 characters) for short values")
}

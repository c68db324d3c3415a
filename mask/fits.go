package mask

import (
	"fmt"
	"strings"

	"github.com/lethe-privacy/lethe"
)

// misfit says why a strategy's output cannot be written to a column; the
// zero misfit means it fits.
type misfit struct {
	why string
	// widen is set when a wider varchar would fit.
	widen bool
}

// fitError turns a misfit into the error Fits returns: why, and the
// strategies that do fit col.
func fitError(name string, col lethe.ColumnSchema, m misfit) error {
	if m.why == "" {
		return nil
	}
	msg := fmt.Sprintf("%s: choose %s instead", m.why, alternatives(col, name))
	if m.widen {
		msg += ", or widen the column"
	}
	return lethe.Errorf(lethe.EINVALID, "%s", msg)
}

// alternatives lists the strategies that fit col, other than the one
// named except, for a message ("null, blank or fixed:<text>"). Only the
// strategies that make sense for the column's kind are offered:
// truncate.ip for inet, truncate.date for dates and times.
func alternatives(col lethe.ColumnSchema, except string) string {
	type candidate struct {
		label string
		s     interface {
			misfit(lethe.ColumnSchema) misfit
		}
	}
	candidates := []candidate{
		{nameNull, nullMask{}},
		{nameBlank, blankMask{}},
		{nameRedact, redactMask{}},
		{nameHMAC, hmacMask{}},
		{prefixFake + "<kind>", fakeMask{kind: shortestFake()}},
	}
	switch col.Kind {
	case lethe.KindInet:
		candidates = append(candidates, candidate{nameIP, ipMask{}})
	case lethe.KindDate, lethe.KindTime:
		candidates = append(candidates,
			candidate{nameDateMonth, dateMask{}},
			candidate{nameDateYear, dateMask{year: true}})
	}
	var fit []string
	for _, c := range candidates {
		if c.label == except || (strings.HasPrefix(c.label, prefixFake) && strings.HasPrefix(except, prefixFake)) {
			continue
		}
		if c.s.misfit(col).why == "" {
			fit = append(fit, c.label)
		}
	}
	// A fixed value of the column's type always fits; it is offered even
	// when a fixed value was refused, since another value would do.
	fit = append(fit, prefixFixed+fixedPlaceholder(col.Kind))
	if len(fit) == 1 {
		return fit[0]
	}
	return strings.Join(fit[:len(fit)-1], ", ") + " or " + fit[len(fit)-1]
}

// fixedPlaceholder names what a fixed value for a column of kind k looks
// like.
func fixedPlaceholder(k lethe.ColumnKind) string {
	switch k {
	case lethe.KindInteger:
		return "<integer>"
	case lethe.KindFloat:
		return "<number>"
	case lethe.KindBool:
		return "false"
	case lethe.KindDate:
		return "<date>"
	case lethe.KindTime:
		return "<time>"
	case lethe.KindInet:
		return "<address>"
	case lethe.KindUUID:
		return "<uuid>"
	case lethe.KindJSON:
		return "<json>"
	}
	return "<text>"
}

// columnType names a column's type for a message: its database type when
// known, else its kind.
func columnType(col lethe.ColumnSchema) string {
	if col.Type != "" {
		return "a column of type " + col.Type
	}
	if col.Kind != "" {
		return "a column of kind " + string(col.Kind)
	}
	return "the column"
}

// holdsText reports whether a column of kind k can hold text. Kind other
// (or none) is not checked: the database has the last word.
func holdsText(k lethe.ColumnKind) bool {
	switch k {
	case lethe.KindText, lethe.KindBytes, lethe.KindOther, "":
		return true
	}
	return false
}

// textMisfit is the misfit of a strategy writing text of at most maxLen
// characters: what describes that text ("64 characters", "up to 30
// characters").
func textMisfit(name string, col lethe.ColumnSchema, maxLen int, what string) misfit {
	if !holdsText(col.Kind) {
		return misfit{why: fmt.Sprintf("%s writes text, which %s cannot hold", display(name), columnType(col))}
	}
	if col.MaxLength > 0 && maxLen > col.MaxLength {
		return misfit{
			why:   fmt.Sprintf("%s writes %s, but the column holds at most %d", display(name), what, col.MaxLength),
			widen: true,
		}
	}
	return misfit{}
}

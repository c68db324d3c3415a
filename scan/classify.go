package scan

import (
	"math"
	"slices"
	"strings"
	"time"
)

// Evidence is what a finding rests on: how many of the sampled non-null
// values matched. It never holds a value.
type Evidence struct {
	// Matched is how many sampled values the detector accepted.
	Matched int `json:"matched"`
	// Sampled is how many non-null values were sampled.
	Sampled int `json:"sampled"`
}

// Ratio is Matched / Sampled (0 for an empty sample).
func (e Evidence) Ratio() float64 {
	if e.Sampled == 0 {
		return 0
	}
	return float64(e.Matched) / float64(e.Sampled)
}

// ColumnResult is what the classifier makes of one column's sample.
type ColumnResult struct {
	Kind Kind `json:"kind"`
	// Detail narrows the kind: the national identifiers found (us.ssn,
	// fr.nir, nl.bsn, es.dni, it.cf; comma-separated), or for free text
	// the kinds it contains (email,phone...).
	Detail string `json:"detail,omitempty"`
	// Confidence is between 0 and 1: how sure the classifier is that the
	// column holds this kind of personal data.
	Confidence float64  `json:"confidence"`
	Evidence   Evidence `json:"evidence"`
	// NameHint is true when the column's name pointed at the kind too.
	NameHint bool `json:"name_hint,omitempty"`
}

// ColumnStats gathers one column's sampled values. Add the values, then
// ask Result. It keeps counts only, never a value. Not safe for
// concurrent use.
type ColumnStats struct {
	c   *Classifier
	col Column
	h   hints

	sampled int
	counts  [16]int // per kind bit index
	nids    map[string]int
	inText  [16]int
	// textLike counts values that read as prose (three words or more,
	// 20 bytes or more).
	textLike int
	// birthYears are the distinct years of values accepted as dates of
	// birth: a column of birthdays spreads over decades, one of recent
	// dates does not.
	birthYears map[int]struct{}
}

// Column starts the statistics of one column.
func (c *Classifier) Column(col Column) *ColumnStats {
	return &ColumnStats{c: c, col: col, h: columnHints(col.Name), nids: map[string]int{}, birthYears: map[int]struct{}{}}
}

// Add classifies one sampled value; nil (NULL) values are not counted.
func (s *ColumnStats) Add(v any) {
	if v == nil {
		return
	}
	s.sampled++
	m := s.c.match(&s.col, &s.h, v)
	for k := m.kinds; k != 0; k &= k - 1 {
		s.counts[bitIndex(k&-k)]++
	}
	if m.kinds&bitNationalID != 0 {
		s.nids[m.nid]++
	}
	if m.kinds&bitFreeText != 0 {
		for k := m.inText; k != 0; k &= k - 1 {
			s.inText[bitIndex(k&-k)]++
		}
	}
	if m.kinds&bitBirthDate != 0 {
		if y := s.c.yearOf(v); y != 0 {
			s.birthYears[y] = struct{}{}
		}
	}
	if str, ok := v.(string); ok && len(str) >= 20 && strings.Count(strings.TrimSpace(str), " ") >= 2 {
		s.textLike++
	}
}

func (c *Classifier) yearOf(v any) int {
	switch x := v.(type) {
	case time.Time:
		return x.Year()
	case string:
		for _, l := range dateLayouts {
			if t, err := time.Parse(l, strings.TrimSpace(x)); err == nil {
				return t.Year()
			}
		}
	}
	return 0
}

func bitIndex(b kindBit) int {
	i := 0
	for b > 1 {
		b >>= 1
		i++
	}
	return i
}

// minRatio is the share of a column's sampled values a detector must
// accept before the column is reported: most for detectors whose single
// matches can be chance (a BSN's 11-test, a date in the birth range),
// least for free text, where one comment in twenty holding an address is
// already a finding.
var minRatio = map[Kind]float64{
	KindEmail: 0.5, KindPhone: 0.5, KindIP: 0.5, KindIBAN: 0.5, KindCard: 0.5,
	KindBirthDate: 0.8, KindPostalCode: 0.6, KindNationalID: 0.6, KindPersonName: 0.5, KindFreeText: 0.02,
}

// base is the confidence of a column whose every sampled value matched:
// high where a checksum or a strict syntax backs a match, lower where
// the format is shared with things that are not personal data.
func (s *ColumnStats) base(k Kind, hinted bool) float64 {
	switch k {
	case KindIBAN, KindCard, KindEmail:
		return 0.98
	case KindNationalID:
		only := func(id string) bool { return len(s.nids) == 1 && s.nids[id] > 0 }
		switch {
		case hinted:
			return 0.95
		case only(nidUSSSN):
			return 0.8 // a format without a check digit
		case only(nidNLBSN):
			return 0.85 // nine digits passing a check one in eleven pass
		}
		return 0.95
	case KindIP:
		return 0.95
	case KindPhone:
		return 0.92
	case KindBirthDate:
		if hinted {
			return 0.95
		}
		return 0.7
	case KindPostalCode:
		if hinted {
			return 0.9
		}
		return 0.75
	case KindPersonName:
		if s.h.strongName {
			return 0.9
		}
		return 0.75
	case KindFreeText:
		return 0.85
	}
	return 0.5
}

// nidDetail names the identifiers found, sorted: those that make up at
// least a tenth of the matches (chance matches of another format left
// out).
func (s *ColumnStats) nidDetail() string {
	total := 0
	for _, c := range s.nids {
		total += c
	}
	var ids []string
	for id, c := range s.nids {
		if c*10 >= total {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

// Sampled is how many non-null values were added.
func (s *ColumnStats) Sampled() int { return s.sampled }

// Result returns the column's most confident finding, or ok false when
// no detector accepted enough of its values.
func (s *ColumnStats) Result() (r ColumnResult, ok bool) {
	if s.sampled == 0 {
		return r, false
	}
	var best ColumnResult
	for _, k := range Kinds {
		b := kindBits[k]
		m := s.counts[bitIndex(b)]
		if m == 0 {
			continue
		}
		ev := Evidence{Matched: m, Sampled: s.sampled}
		ratio := ev.Ratio()
		hinted := s.h.kinds&b != 0
		need := minRatio[k]
		switch k {
		case KindBirthDate:
			if hinted {
				need = 0.5
			} else if len(s.birthYears) < 15 {
				// Dates in the birth range but within a few years of each
				// other are events (a sign-up date), not birthdays.
				continue
			}
		case KindFreeText:
			if float64(s.textLike) < 0.3*float64(s.sampled) {
				continue
			}
		case KindPersonName:
			if !hinted && ratio < 0.6 {
				continue
			}
		}
		if ratio < need {
			continue
		}
		conf := s.base(k, hinted) * (0.6 + 0.4*ratio)
		if k == KindFreeText {
			// In prose, a few holding personal data is all it takes.
			conf = s.base(k, hinted) * math.Min(1, 0.6+2*ratio)
		}
		if hinted && k != KindFreeText {
			conf = math.Min(1, conf+0.05)
		}
		if s.sampled < 10 {
			conf *= 0.8 // too few values to be sure
		}
		conf = math.Round(conf*100) / 100
		if conf <= best.Confidence {
			continue
		}
		best = ColumnResult{Kind: k, Confidence: conf, Evidence: ev, NameHint: hinted}
		switch k {
		case KindNationalID:
			best.Detail = s.nidDetail()
		case KindFreeText:
			var in []string
			for _, kk := range Kinds {
				if s.inText[bitIndex(kindBits[kk])] > 0 {
					in = append(in, string(kk))
				}
			}
			slices.Sort(in)
			best.Detail = strings.Join(in, ",")
		}
	}
	return best, best.Kind != ""
}

// Classify returns the finding for a column from its values (nil values
// count as NULL), as Column, Add and Result would.
func (c *Classifier) Classify(col Column, values []any) (ColumnResult, bool) {
	s := c.Column(col)
	for _, v := range values {
		s.Add(v)
	}
	return s.Result()
}

// Matches reports which detectors accept one value in the context of its
// column, without the column-level thresholds: what the precision and
// recall figures in docs/scan.md measure per value.
func (c *Classifier) Matches(col Column, v any) []Kind {
	if v == nil {
		return nil
	}
	h := columnHints(col.Name)
	m := c.match(&col, &h, v)
	var out []Kind
	for _, k := range Kinds {
		if m.kinds&kindBits[k] != 0 {
			out = append(out, k)
		}
	}
	return out
}

package scan

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// Score is one detector's precision and recall.
type Score struct {
	TP, FP, FN int
}

func (s Score) Precision() float64 {
	if s.TP+s.FP == 0 {
		return 1
	}
	return float64(s.TP) / float64(s.TP+s.FP)
}

func (s Score) Recall() float64 {
	if s.TP+s.FN == 0 {
		return 1
	}
	return float64(s.TP) / float64(s.TP+s.FN)
}

// measure runs the classifier over the labelled table: per value
// (Matches, no column thresholds) and per column (Classify).
func measure(n int) (values, columns map[Kind]*Score, wrong []string) {
	c := NewClassifier(ClassifierOpts{Now: LabelledNow})
	rows, labels := LabelledRows(n)
	values, columns = map[Kind]*Score{}, map[Kind]*Score{}
	for _, k := range Kinds {
		values[k], columns[k] = &Score{}, &Score{}
	}
	for j, lc := range LabelledColumns {
		col := Column{Name: lc.Name, Kind: lc.Kind}
		vals := make([]any, n)
		for i := range n {
			vals[i] = rows[i][j]
			got := map[Kind]bool{}
			for _, k := range c.Matches(col, rows[i][j]) {
				got[k] = true
			}
			want := labels[i][j]
			for _, k := range Kinds {
				switch {
				case got[k] && want == k:
					values[k].TP++
				case got[k]:
					values[k].FP++
				case want == k:
					values[k].FN++
				}
			}
		}
		res, ok := c.Classify(col, vals)
		switch {
		case ok && res.Kind == lc.Label:
			columns[res.Kind].TP++
		case ok:
			columns[res.Kind].FP++
			if lc.Label != "" {
				columns[lc.Label].FN++
			}
			wrong = append(wrong, fmt.Sprintf("%s: found %s (%.2f, %d/%d), labelled %q", lc.Name, res.Kind, res.Confidence, res.Evidence.Matched, res.Evidence.Sampled, lc.Label))
		case lc.Label != "":
			columns[lc.Label].FN++
			wrong = append(wrong, fmt.Sprintf("%s: nothing found, labelled %s", lc.Name, lc.Label))
		}
	}
	return values, columns, wrong
}

// minimum figures per detector (value level): what docs/scan.md reports,
// rounded down, so that a change that makes a detector worse fails here.
var minimum = map[Kind][2]float64{ // precision, recall
	KindEmail:      {0.99, 0.99},
	KindPhone:      {0.99, 0.99},
	KindIP:         {0.99, 0.99},
	KindIBAN:       {0.99, 0.99},
	KindCard:       {0.88, 0.99}, // a 16-digit barcode passes Luhn one time in ten
	KindBirthDate:  {0.95, 0.99},
	KindPostalCode: {0.95, 0.99},
	KindNationalID: {0.9, 0.99}, // a 9-digit order number passes the BSN 11-test one time in eleven
	KindPersonName: {0.95, 0.9},
	KindFreeText:   {0.99, 0.99},
}

func TestPrecisionRecall(t *testing.T) {
	t.Parallel()
	const n = 2000
	values, columns, wrong := measure(n)
	for _, w := range wrong {
		t.Errorf("column %s", w)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| detector | value precision | value recall | TP | FP | FN | columns right |\n|---|---|---|---|---|---|---|\n")
	for _, k := range Kinds {
		v, c := values[k], columns[k]
		fmt.Fprintf(&b, "| %s | %.3f | %.3f | %d | %d | %d | %d of %d |\n", k, v.Precision(), v.Recall(), v.TP, v.FP, v.FN, c.TP, c.TP+c.FN)
		min := minimum[k]
		if v.Precision() < min[0] || v.Recall() < min[1] {
			t.Errorf("%s: precision %.3f recall %.3f, want at least %.2f and %.2f", k, v.Precision(), v.Recall(), min[0], min[1])
		}
		if c.FP > 0 || c.FN > 0 {
			t.Errorf("%s: column level %d false positive(s), %d false negative(s)", k, c.FP, c.FN)
		}
	}
	t.Logf("labelled table, %d rows x %d columns:\n%s", n, len(LabelledColumns), b.String())
	if os.Getenv("LETHE_SCAN_FIGURES") != "" {
		fmt.Print(b.String())
	}
}

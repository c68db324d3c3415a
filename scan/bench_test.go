package scan

import (
	"regexp"
	"testing"
	"time"
)

// Baselines for the classifier's hot path, over the same values: one
// e-mail regexp, and a naive scanner's set of one regexp per detector
// (formats only: no checksum, no libphonenumber, no column context).
var (
	emailRe  = regexp.MustCompile(`^[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$`)
	naiveSet = []*regexp.Regexp{
		emailRe,
		regexp.MustCompile(`^\+?[0-9 ()./-]{7,20}$`),                                // phone
		regexp.MustCompile(`^(\d{1,3}\.){3}\d{1,3}$|^[0-9a-fA-F:]+:[0-9a-fA-F:]+$`), // ip
		regexp.MustCompile(`^[A-Z]{2}\d{2}[A-Z0-9 ]{11,30}$`),                       // iban
		regexp.MustCompile(`^(\d[ -]?){12,18}\d$`),                                  // card
		regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$|^\d{2}[./]\d{2}[./]\d{4}$`),         // date
		regexp.MustCompile(`^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$|^\d{4,5}$`),          // postal code
		regexp.MustCompile(`^\d{3}-\d{2}-\d{4}$|^\d{8}[A-Z]$|^[A-Z]{6}\d{2}`),       // national id
		regexp.MustCompile(`^[A-Z][a-z]+( [A-Z][a-z]+){0,3}$`),                      // name
		regexp.MustCompile(`[\w.+-]+@[\w-]+\.[\w.]+|\+\d[\d ]{7,}`),                 // free text
	}
)

// BenchmarkClassify measures ColumnStats.Add over the labelled table's
// values (every column, 500 rows: personal data and look-alikes), against
// the two regexp baselines over the same values in the same iterations.
// It reports ns per value for each and the classifier's time as a
// multiple of each baseline's (x-email-regexp, x-regexp-set).
func BenchmarkClassify(b *testing.B) {
	const rows = 500
	values, _ := LabelledRows(rows)
	c := NewClassifier(ClassifierOpts{Now: LabelledNow})
	cols := make([]Column, len(LabelledColumns))
	var texts []string
	for j, lc := range LabelledColumns {
		cols[j] = Column{Name: lc.Name, Kind: lc.Kind}
		for i := range rows {
			if s, ok := values[i][j].(string); ok {
				texts = append(texts, s)
			} else if t, ok := text(values[i][j]); ok {
				texts = append(texts, t)
			} else if tm, ok := values[i][j].(time.Time); ok {
				texts = append(texts, tm.Format("2006-01-02"))
			}
		}
	}
	n := rows * len(cols)
	var tOne, tSet, tCls time.Duration
	matched := 0
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		for _, s := range texts {
			if emailRe.MatchString(s) {
				matched++
			}
		}
		t1 := time.Now()
		for _, s := range texts {
			for _, re := range naiveSet {
				if re.MatchString(s) {
					matched++
					break
				}
			}
		}
		t2 := time.Now()
		for j, col := range cols {
			st := c.Column(col)
			for i := range rows {
				st.Add(values[i][j])
			}
			if _, ok := st.Result(); ok {
				matched++
			}
		}
		t3 := time.Now()
		tOne, tSet, tCls = tOne+t1.Sub(t0), tSet+t2.Sub(t1), tCls+t3.Sub(t2)
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N*n) }
	b.ReportMetric(per(tCls), "classify-ns/value")
	b.ReportMetric(per(tOne), "email-regexp-ns/value")
	b.ReportMetric(per(tSet), "regexp-set-ns/value")
	b.ReportMetric(float64(tCls)/float64(tOne), "x-email-regexp")
	b.ReportMetric(float64(tCls)/float64(tSet), "x-regexp-set")
	if matched == 0 {
		b.Fatal("nothing matched")
	}
}

package scan_test

import (
	"fmt"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/scan"
)

// Classify a column from sampled values: the result says what the column
// holds and how many values matched, never which.
func ExampleClassifier_Classify() {
	c := scan.NewClassifier(scan.ClassifierOpts{})
	res, ok := c.Classify(scan.Column{Name: "contact", Kind: lethe.KindText}, []any{
		"+44 20 7946 0958", "+1 415 555 2671", nil, "+49 30 901820", "n/a",
	})
	fmt.Println(ok, res.Kind, res.Evidence.Matched, "of", res.Evidence.Sampled)

	_, ok = c.Classify(scan.Column{Name: "order_no", Kind: lethe.KindText}, []any{
		"100234567", "111222333", "482910573", "730019284",
	})
	fmt.Println(ok)
	// Output:
	// true phone 3 of 4
	// false
}

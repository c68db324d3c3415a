package mask_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/mask"
)

func Example() {
	// The mask key comes from Lethe's secrets; at least 16 bytes.
	key := []byte("0123456789abcdef0123456789abcdef")

	// Validate the names in a configuration before any key is at hand.
	if err := mask.Check("fake.emial"); err != nil {
		// The message goes on to list every valid name.
		msg, _, _ := strings.Cut(err.Error(), ": choose")
		fmt.Println(lethe.ErrorCode(err), "-", msg)
	}

	email, _ := mask.Parse("fake.email", key)
	ip, _ := mask.Parse("truncate.ip", key)
	born, _ := mask.Parse("truncate.date.year", key)
	hint, _ := mask.Parse("redact", key)

	out, _ := email.Apply("jane.doe@example.org")
	fmt.Println(out)
	again, _ := email.Apply("jane.doe@example.org") // in another table: the same
	fmt.Println(again == out, email.PreservesUniqueness())
	out, _ = ip.Apply("192.0.2.55")
	fmt.Println(out)
	out, _ = born.Apply(time.Date(1987, 6, 5, 0, 0, 0, 0, time.UTC))
	fmt.Println(out.(time.Time).Format(time.DateOnly))
	out, _ = hint.Apply("jane.doe@example.org")
	fmt.Println(out)

	// Fits says whether the output can be written to a column.
	col := lethe.ColumnSchema{Name: "email", Type: "varchar(32)", Kind: lethe.KindText, MaxLength: 32}
	fmt.Println(email.Fits(col))
	// Output:
	// invalid - unknown masking strategy "fake.emial" (did you mean fake.email?)
	// giulia.ryan.xfuwp32aj5@example.com
	// true true
	// 192.0.2.0
	// 1987-01-01
	// j***@example.org
	// fake.email writes up to 42 characters, but the column holds at most 32: choose blank, redact or fixed:<text> instead, or widen the column
}

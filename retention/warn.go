package retention

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/lethe-privacy/lethe"
)

// Notifier sends the notices of rules with warn: (app sends them through
// the mail outbox).
type Notifier interface {
	// RetentionWarning queues the notice of one row. Warning.ID is the
	// same for the same row and inactivity, so a notice queued by an
	// earlier run reports queued false, not an error: each person is told
	// once.
	RetentionWarning(ctx context.Context, w Warning) (queued bool, err error)
}

// Warning is the notice that a row is about to be deleted or anonymised.
// It carries the address to write to; it is never logged or audited.
type Warning struct {
	// ID is derived from the collection, the row's key and its age, and
	// holds no personal data.
	ID         string
	Email      string
	Collection string
	Action     lethe.EraseAction
	// At is the day the row reaches its limit.
	At time.Time
}

// warn notifies the rows whose age will reach the limit within the rule's
// warn.before: those older than cutoff+before and not yet older than the
// cutoff. The window is as wide as before, so a run missed for less than
// that still sends every notice, and the notifier's deterministic id keeps
// each to one.
func (e *Engine) warn(ctx context.Context, r *rule, res *CollectionResult) error {
	w := r.c.Retention.Warn
	sel := r.sel
	sel.Before = make([]lethe.Cutoff, len(r.sel.Before))
	for i, b := range r.sel.Before {
		sel.Before[i] = lethe.Cutoff{Column: b.Column, Time: w.Before.AddTo(b.Time)}
	}
	sel.NotBefore = &r.before
	span := r.before.Time.Sub(r.now) // negative: how far back the cutoff lies
	pk, age := r.c.PrimaryKeyColumn(), r.c.Retention.Column
	var after any
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		keys, err := r.src.RetentionKeys(ctx, sel, after, e.opts.BatchSize)
		if err != nil || len(keys) == 0 {
			return err
		}
		after = keys[len(keys)-1]
		err = r.conn.Find(ctx, lethe.FindParams{
			Collection: r.c, Matches: []lethe.Match{{Column: pk, Values: keys}}, Columns: []string{pk, w.Email, age},
		}, func(row lethe.Row) error {
			email, _ := row.Values[1].(string)
			at := asTime(row.Values[2])
			if email == "" || at.IsZero() {
				return nil
			}
			sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%v\x00%s", r.c.Path(), row.Values[0], at.Format(time.RFC3339Nano)))
			n := Warning{
				ID: "mail_retention_" + hex.EncodeToString(sum[:16]), Email: email, Collection: r.c.Path(), Action: res.Action,
				At: at.Add(-span).Truncate(24 * time.Hour).Add(24 * time.Hour),
			}
			queued, err := e.opts.Notifier.RetentionWarning(ctx, n)
			switch {
			case err != nil && lethe.ErrorCode(err) == lethe.EINVALID:
				// An address that is no address: nobody to tell, and no
				// reason to stop the others' notices.
				res.WarnFailed++
			case err != nil:
				return err
			case queued:
				res.Warned++
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(keys) < e.opts.BatchSize {
			return nil
		}
	}
}

// asTime reads an age as connectors return it: a time, or text in the
// layouts SQLite applications write.
func asTime(v any) time.Time {
	switch x := v.(type) {
	case time.Time:
		return x.UTC()
	case int64:
		return time.Unix(x, 0).UTC()
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02"} {
			if t, err := time.Parse(layout, x); err == nil {
				return t.UTC()
			}
		}
	}
	return time.Time{}
}

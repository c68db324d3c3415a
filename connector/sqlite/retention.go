package sqlite

import (
	"context"

	"github.com/lethe-privacy/lethe"
)

var _ lethe.RetentionSource = (*Connector)(nil)

// RetentionCount counts the rows a retention rule covers (see
// lethe.RetentionSource).
func (c *Connector) RetentionCount(ctx context.Context, sel lethe.RetentionSelection) (lethe.RetentionCount, error) {
	return c.e.RetentionCount(ctx, sel)
}

// RetentionKeys returns the next primary keys a retention rule covers.
func (c *Connector) RetentionKeys(ctx context.Context, sel lethe.RetentionSelection, after any, limit int) ([]any, error) {
	return c.e.RetentionKeys(ctx, sel, after, limit)
}

// RetentionDelete deletes the covered rows of one primary key range.
func (c *Connector) RetentionDelete(ctx context.Context, sel lethe.RetentionSelection, after, upTo any) (int64, error) {
	return c.e.RetentionDelete(ctx, sel, after, upTo)
}

package app

import (
	"context"

	"github.com/lethe-privacy/lethe/mask"
	"github.com/lethe-privacy/lethe/scan"
)

// Scan runs `lethe scan`: PII discovery over the data map's datastores,
// with erase suggestions checked against each column by package mask.
func (a *App) Scan(ctx context.Context, opts scan.Options) (*scan.Report, error) {
	opts.Strategy = func(name string) (scan.Strategy, error) {
		return mask.Parse(name, a.maskKey)
	}
	return scan.Run(ctx, a.Config, a.Datastores, opts)
}

package cairn

import (
	"context"

	"github.com/cairn-dev/cairn/check"
	"github.com/cairn-dev/cairn/internal/repolock"
)

// Check verifies the repository; with readData every chunk is read back
// and verified.
func (r *Repo) Check(ctx context.Context, readData bool) (*check.Report, error) {
	rl, err := r.lockRepo(ctx, repolock.Shared)
	if err != nil {
		return nil, err
	}
	defer rl.Release()
	return check.Run(ctx, r.DB, r.Store, readData)
}

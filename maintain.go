package cairn

import (
	"context"

	"github.com/cairn-dev/cairn/check"
	"github.com/cairn-dev/cairn/internal/repolock"
)

// CheckReport is what Check found: problems, the files and snapshots they
// affect, missing and unreferenced packs.
type CheckReport = check.Report

// Check verifies the repository; with readData every chunk is read back
// and verified.
func (r *Repo) Check(ctx context.Context, readData bool) (*CheckReport, error) {
	rl, err := r.lockRepo(ctx, repolock.Shared)
	if err != nil {
		return nil, err
	}
	defer rl.Release()
	return check.Run(ctx, r.db, r.store, readData)
}

// Checkpoint folds the catalog's write-ahead log into catalog.db, so that
// catalog.db alone is complete: before copying it, or measuring it.
func (r *Repo) Checkpoint(ctx context.Context) error {
	if r.readOnly {
		return r.errReadOnly()
	}
	return r.db.Checkpoint(ctx)
}

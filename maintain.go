package cairn

import (
	"context"
	"strings"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/check"
	"github.com/cairn-dev/cairn/internal/repolock"
)

// CheckReport is what Check found: problems, the files and snapshots they
// affect, missing and unreferenced packs.
type CheckReport = check.Report

// CheckOptions tune Check (ReadData, Progress).
type CheckOptions = check.Options

// Check verifies the repository; with readData every chunk is read back
// and verified.
func (r *Repo) Check(ctx context.Context, readData bool) (*CheckReport, error) {
	return r.CheckWith(ctx, CheckOptions{ReadData: readData})
}

// CheckWith is Check with options: a progress callback for a status line.
func (r *Repo) CheckWith(ctx context.Context, opts CheckOptions) (*CheckReport, error) {
	rl, err := r.lockRepo(ctx, repolock.Shared)
	if err != nil {
		return nil, err
	}
	defer rl.Release()
	opts.Codec = r.codec()
	rep, err := check.RunOptions(ctx, r.db, r.store, opts)
	if err != nil || r.log == nil {
		return rep, err
	}
	if !rep.OK() && strings.HasPrefix(rep.Problems[0], catalog.ErrCatalogDamaged.Error()) {
		return rep, nil // the file is damaged: comparing it with the log says no more
	}
	problems, err := r.verifyLog(ctx)
	if err != nil {
		return nil, err
	}
	rep.Problems = append(rep.Problems, problems...)
	return rep, nil
}

// Checkpoint folds the catalog's write-ahead log into catalog.db, so that
// catalog.db alone is complete: before copying it, or measuring it.
func (r *Repo) Checkpoint(ctx context.Context) error {
	if r.readOnly {
		return r.errReadOnly()
	}
	return r.db.Checkpoint(ctx)
}

package cairn

import (
	"context"

	"github.com/cairn-dev/cairn/gc"
	"github.com/cairn-dev/cairn/internal/repolock"
	"github.com/cairn-dev/cairn/snapshot"
)

// Garbage collection, as GC is asked and answers.
type (
	// GCOptions tune a collection (MaxUnused 0: DefaultMaxUnused; Grace 0:
	// orphan packs go at once, the command passes DefaultGrace).
	GCOptions = gc.Options
	// GCReport says what a collection reclaimed (or would).
	GCReport = gc.Report
)

// ErrGCUnsafe means GC found the catalog or the packs damaged and deleted
// nothing.
var ErrGCUnsafe = gc.ErrUnsafe

// GC reclaims the space of data no snapshot references. It waits for
// running snapshots and restores, and they wait for it.
func (r *Repo) GC(ctx context.Context, opts GCOptions) (*GCReport, error) {
	rl, err := r.lockRepo(ctx, repolock.Exclusive)
	if err != nil {
		return nil, err
	}
	defer rl.Release()
	opts.TmpDir = r.tmpDir()
	rep, err := gc.Run(ctx, r.db, r.store, opts)
	if err == nil && !opts.DryRun && rep.YoungOrphans > 0 {
		// gc cleared tmp/, with the markers of the interrupted snapshots
		// that left these packs: the next snapshot must still look.
		if err := snapshot.NoteOrphans(r.tmpDir()); err != nil {
			rep.Problems = append(rep.Problems, err.Error())
		}
	}
	return rep, err
}

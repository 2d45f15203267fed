package cairn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/snapshot"
)

// A snapshot, as Snapshot is asked and answers.
type (
	// SnapshotOptions tune a snapshot (label, tags, excludes, progress).
	SnapshotOptions = snapshot.Options
	// SnapshotResult says what a snapshot found, stored and warned about,
	// and which snapshots the retention run after it forgot.
	SnapshotResult = snapshot.Result
	// Progress is what SnapshotOptions.Progress is told as files are read.
	Progress = snapshot.Progress
	// Excludes are what a source leaves out besides its .cairnignore;
	// the source remembers them (SnapshotOptions.Filter).
	Excludes = snapshot.Excludes
	// Preview is what a dry-run snapshot found (SnapshotOptions.DryRun).
	Preview = snapshot.Preview
)

// ErrEmptySource refuses to snapshot an empty or missing directory as if it
// were a real state ("everything was wiped").
var ErrEmptySource = snapshot.ErrEmptySource

// ErrTimeOrder refuses a snapshot time (SnapshotOptions.Time) that is not
// after the source's newest snapshot: history is ordered by id, and a
// snapshot dated before the others would be ranked old by retention and
// could be forgotten by its own policy run while it holds the newest state.
var ErrTimeOrder = errors.New("snapshot time is not after the source's newest snapshot")

// Snapshot takes a snapshot of the directory source, then runs the
// source's retention policy.
func (r *Repo) Snapshot(ctx context.Context, source string, opts SnapshotOptions) (*SnapshotResult, error) {
	root, err := snapshot.CanonicalSource(source)
	if err != nil {
		return nil, err
	}
	release, err := r.lockForSource(ctx, root)
	if err != nil {
		return nil, err
	}
	defer func() {
		release()
		// Outside the locks: a long-running watch checkpoints its log
		// too, and no snapshot waits for it.
		r.checkpointIfDue(ctx)
	}()
	if opts.Now == nil {
		opts.Now = r.now
	}
	// A repository inside the source must not snapshot itself.
	opts.Skip = append(opts.Skip, r.skipDirs()...)
	// Excludes given once stay: the source remembers them, so the next
	// snapshot without them neither records the excluded files as new nor,
	// with one more, takes the files it leaves out for deletions.
	opts.Filter.Patterns = append(opts.Filter.Patterns, opts.Excludes...)
	opts.Excludes = nil
	given := opts.Filter
	remembered := Excludes{}
	if src, err := r.db.SourceByPath(ctx, root); err == nil {
		if opts.MassDeletion == 0 {
			opts.MassDeletion = src.MassDeletion
		}
		if remembered, err = snapshot.ParseExcludes(src.Excludes); err != nil {
			return nil, err
		}
		if !opts.Time.IsZero() {
			if err := r.checkSnapshotTime(ctx, src, opts.Time); err != nil {
				return nil, err
			}
		}
	}
	if !opts.ResetExcludes {
		opts.Filter = remembered.Union(given)
	}
	condemned, condemnedChunks, err := r.condemnedPacks(ctx)
	if err != nil {
		return nil, err
	}
	res, err := snapshot.Run(ctx, snapshot.Deps{DB: r.db, Store: r.store, TmpDir: r.tmpDir(), Params: r.Params, Codec: r.codec(), Condemned: condemned, CondemnedChunks: condemnedChunks}, root, opts)
	if err != nil {
		return nil, err
	}
	if opts.DryRun {
		return res, nil // nothing committed: no retention to run
	}
	if m := opts.Filter.Marshal(); m != remembered.Marshal() {
		if err := r.db.SetSourceSettings(ctx, root, catalog.SourceSettings{Excludes: &m}); err != nil {
			return res, fmt.Errorf("snapshot %d committed, but remembering its excludes failed: %w", res.ID, err)
		}
	}
	// Retention runs after every snapshot, by the source's policy, so
	// frequent snapshots stay cheap without a separate job.
	src, err := r.db.SourceByPath(ctx, root)
	if err != nil {
		return res, err
	}
	_, res.Forgotten, _, err = r.applyPolicy(ctx, src, nil, nil, false, false)
	if err != nil {
		return res, fmt.Errorf("snapshot %d committed, but applying the retention policy failed: %w", res.ID, err)
	}
	return res, nil
}

// checkSnapshotTime refuses a time that is not after src's newest snapshot.
func (r *Repo) checkSnapshotTime(ctx context.Context, src catalog.Source, t time.Time) error {
	snaps, err := r.db.Snapshots(ctx, src.ID)
	if err != nil || len(snaps) == 0 {
		return err
	}
	if newest := snaps[len(snaps)-1]; !t.After(newest.Started) {
		return fmt.Errorf("%s: %w (snapshot %d, %s)", t.UTC().Format(time.RFC3339), ErrTimeOrder, newest.ID, newest.Started.UTC().Format(time.RFC3339))
	}
	return nil
}

func snapshotOptions(label string) snapshot.Options {
	return snapshot.Options{Label: label, Tags: []string{label}}
}

package cairn

import (
	"context"
	"fmt"

	"github.com/cairn-dev/cairn/internal/repolock"
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
)

// ErrEmptySource refuses to snapshot an empty or missing directory as if it
// were a real state ("everything was wiped").
var ErrEmptySource = snapshot.ErrEmptySource

// Snapshot takes a snapshot of the directory source, then runs the
// source's retention policy.
func (r *Repo) Snapshot(ctx context.Context, source string, opts SnapshotOptions) (*SnapshotResult, error) {
	root, err := snapshot.CanonicalSource(source)
	if err != nil {
		return nil, err
	}
	rl, err := r.lockRepo(ctx, repolock.Shared)
	if err != nil {
		return nil, err
	}
	defer rl.Release()
	sl, err := r.lockSource(ctx, root)
	if err != nil {
		return nil, err
	}
	defer sl.Release()
	if opts.Now == nil {
		opts.Now = r.now
	}
	// A repository inside the source must not snapshot itself.
	opts.Skip = append(opts.Skip, r.Dir)
	if src, err := r.db.SourceByPath(ctx, root); err == nil && opts.MassDeletion == 0 {
		opts.MassDeletion = src.MassDeletion
	}
	res, err := snapshot.Run(ctx, snapshot.Deps{DB: r.db, Store: r.store, TmpDir: r.tmpDir(), Params: r.Params}, root, opts)
	if err != nil {
		return nil, err
	}
	// Retention runs after every snapshot, by the source's policy, so
	// frequent snapshots stay cheap without a separate job.
	src, err := r.db.SourceByPath(ctx, root)
	if err != nil {
		return res, err
	}
	_, res.Forgotten, _, err = r.applyPolicy(ctx, src, nil, false, false)
	if err != nil {
		return res, fmt.Errorf("snapshot %d committed, but applying the retention policy failed: %w", res.ID, err)
	}
	return res, nil
}

func snapshotOptions(label string) snapshot.Options {
	return snapshot.Options{Label: label, Tags: []string{label}}
}

package cairn

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/repolock"
	"github.com/cairn-dev/cairn/restore"
	"github.com/cairn-dev/cairn/snapshot"
)

// ErrNoSource means no snapshotted source contains the path.
var ErrNoSource = errors.New("not inside any snapshotted source")

// Locate finds the source that contains a path as the user typed it
// (absolute, or relative to the working directory; it need not exist any
// more) and returns the path relative to that source.
func (r *Repo) Locate(ctx context.Context, userPath string) (catalog.Source, string, error) {
	abs, err := filepath.Abs(userPath)
	if err != nil {
		return catalog.Source{}, "", err
	}
	sources, err := r.DB.Sources(ctx)
	if err != nil {
		return catalog.Source{}, "", err
	}
	for _, cand := range []string{abs, resolveExisting(abs)} {
		var best catalog.Source
		for _, s := range sources {
			if (cand == s.Path || strings.HasPrefix(cand, strings.TrimSuffix(s.Path, "/")+"/")) && len(s.Path) > len(best.Path) {
				best = s
			}
		}
		if best.ID != 0 {
			rel, err := filepath.Rel(best.Path, cand)
			if err != nil {
				return best, "", err
			}
			return best, filepath.ToSlash(rel), nil
		}
	}
	return catalog.Source{}, "", fmt.Errorf("%s: %w (cairn snapshots lists them)", userPath, ErrNoSource)
}

// resolveExisting resolves symlinks in the longest prefix of p that exists,
// so a path through a symlinked directory finds its source.
func resolveExisting(p string) string {
	rest := ""
	for cur := p; ; {
		if real, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(real, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return p
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// Resolve turns a user's path and an optional snapshot id (0: the newest
// that has the path) into a restore request. preferValid asks for what
// restore and cat take by default: a JSON file resolves to the newest
// snapshot whose copy is valid JSON, and a directory whose newest snapshot
// recorded a mass deletion to the snapshot before it (restoring the
// emptied state is never what "the newest" is asked for). note then says
// which snapshot was chosen and why. A listing passes false and sees the
// newest as it is.
func (r *Repo) Resolve(ctx context.Context, userPath string, snapID int64, preferValid bool) (req restore.Request, note string, err error) {
	src, rel, err := r.Locate(ctx, userPath)
	if err != nil {
		return req, "", err
	}
	req = restore.Request{Path: rel, UserPath: userPath, Runtime: src.Runtime}
	if snapID != 0 {
		s, err := r.DB.SnapshotByID(ctx, snapID)
		if err != nil {
			return req, "", err
		}
		if s.SourceID != src.ID {
			return req, "", fmt.Errorf("snapshot %d is of %s, not of %s, which holds %s", s.ID, s.Source, src.Path, userPath)
		}
		req.Snapshot = s
		return req, "", nil
	}
	if rel == "." {
		snaps, err := r.DB.Snapshots(ctx, src.ID)
		if err != nil {
			return req, "", err
		}
		if len(snaps) == 0 {
			return req, "", fmt.Errorf("%s has no snapshots: %w", src.Path, catalog.ErrNotFound)
		}
		req.Snapshot = snaps[len(snaps)-1]
		if preferValid {
			note, err = r.beforeMassDeletion(ctx, &req, userPath)
		}
		return req, note, err
	}
	history, err := r.DB.History(ctx, src.ID, rel)
	if err != nil {
		return req, "", err
	}
	skippedTorn := 0
	for _, v := range history {
		if preferValid && v.JSONValid.Valid && !v.JSONValid.Bool {
			skippedTorn++
			continue
		}
		_, last, err := r.DB.SnapshotRange(ctx, src.ID, v)
		if err != nil {
			return req, "", err
		}
		if last == 0 {
			continue
		}
		if req.Snapshot, err = r.DB.SnapshotByID(ctx, last); err != nil {
			return req, "", err
		}
		if skippedTorn > 0 {
			note = fmt.Sprintf("newer copies of %s are not valid JSON; using snapshot %d, the newest valid one", userPath, last)
		}
		if preferValid && v.Type == catalog.TypeDir {
			note, err = r.beforeMassDeletion(ctx, &req, userPath)
		}
		return req, note, err
	}
	if skippedTorn > 0 {
		return req, "", fmt.Errorf("%s: every stored copy is invalid JSON: %w", userPath, restore.ErrTornJSON)
	}
	return req, "", fmt.Errorf("%s is in no snapshot of %s: %w", userPath, src.Path, catalog.ErrNotFound)
}

// beforeMassDeletion moves a directory request off a snapshot that
// recorded a mass deletion, to the snapshot before it (when that one has
// the directory), and says so.
func (r *Repo) beforeMassDeletion(ctx context.Context, req *restore.Request, userPath string) (string, error) {
	mass, err := r.DB.HasWarning(ctx, req.Snapshot.ID, catalog.WarnMassDeletion)
	if err != nil || !mass {
		return "", err
	}
	snaps, err := r.DB.Snapshots(ctx, req.Snapshot.SourceID)
	if err != nil {
		return "", err
	}
	for i := len(snaps) - 1; i > 0; i-- {
		if snaps[i].ID != req.Snapshot.ID {
			continue
		}
		prev := snaps[i-1]
		if _, err := r.DB.VersionAt(ctx, prev, req.Path); err != nil {
			return "", nil
		}
		note := fmt.Sprintf("snapshot %d recorded a mass deletion; restoring %s from snapshot %d, the one before it (name snapshot %d to restore the emptied state)",
			req.Snapshot.ID, userPath, prev.ID, req.Snapshot.ID)
		req.Snapshot = prev
		return note, nil
	}
	return "", nil
}

// Restore plans the restore of reqs and carries the plan out. Before it
// replaces anything in place it takes a snapshot of each source it
// replaces things in (label "pre-restore"), holding exactly what the plan
// replaces, even files the source's excludes leave out; Result.Undo lists
// them. A path the undo snapshot could not record is not replaced. With
// opts.DryRun it only plans: Result.Items is the plan.
//
// The error joins every path that was refused or failed (errors.Is tells
// restore.ErrTornJSON, ErrDatabaseInUse, ... apart; the rest was restored)
// or is the one reason nothing could be.
func (r *Repo) Restore(ctx context.Context, reqs []restore.Request, opts restore.Options) (*restore.Result, error) {
	rl, err := r.lockRepo(ctx, repolock.Shared)
	if err != nil {
		return nil, err
	}
	defer func() { rl.Release() }()
	// Hold what the restore reads, so no retention run (its own undo
	// snapshot's, or a cron snap's) forgets it meanwhile.
	release, err := r.holdSnapshots(ctx, "restore", requestSnapshots(reqs)...)
	if err != nil {
		return nil, err
	}
	defer release()
	d := restore.Deps{DB: r.DB, Store: r.Store}
	// The repository inside a source is never deleted by --delete.
	opts.Skip = append(opts.Skip, r.Dir)
	plan, err := restore.NewPlan(ctx, d, reqs, opts)
	if err != nil {
		return nil, err
	}
	if opts.DryRun {
		return &restore.Result{Items: plan.Items, UndoNeeds: plan.UndoNeeds()}, plan.Err()
	}
	var undo []restore.UndoPoint
	if needs := plan.UndoNeeds(); len(needs) > 0 {
		// The undo snapshot takes its own locks; release ours meanwhile.
		rl.Release()
		undo, err = r.preRestore(ctx, plan, needs)
		if err != nil {
			return &restore.Result{Undo: undo}, err
		}
		if rl, err = r.lockRepo(ctx, repolock.Shared); err != nil {
			return &restore.Result{Undo: undo}, err
		}
	}
	if sources := plan.InPlaceSources(); len(sources) > 0 {
		// In place, a restore holds its sources' locks: no snapshot or
		// other restore writes there meanwhile, so the temp files of a
		// killed restore can be cleared.
		for _, src := range sources {
			sl, err := r.lockSource(ctx, src)
			if err != nil {
				return &restore.Result{Undo: undo}, err
			}
			defer sl.Release()
		}
		plan.CleanTemps()
	}
	res, err := plan.Execute(ctx)
	if res != nil {
		res.Undo = undo
	}
	return res, err
}

// preRestore snapshots each source the plan replaces things in, forcing
// in the replaced paths, and refuses what the snapshot still lacks.
func (r *Repo) preRestore(ctx context.Context, plan *restore.Plan, needs []restore.UndoNeed) ([]restore.UndoPoint, error) {
	var out []restore.UndoPoint
	for _, n := range needs {
		opts := snapshotOptions("pre-restore")
		opts.Include = n.Paths
		res, err := r.Snapshot(ctx, n.Source, opts)
		if errors.Is(err, snapshot.ErrEmptySource) {
			continue // nothing there to lose
		}
		if err != nil {
			return out, fmt.Errorf("snapshot %s before restoring (the undo point): %w", n.Source, err)
		}
		s, err := r.DB.SnapshotByID(ctx, res.ID)
		if err != nil {
			return out, err
		}
		if err := plan.CheckCovered(ctx, n.Source, s); err != nil {
			return out, err
		}
		out = append(out, restore.UndoPoint{Source: n.Source, Snapshot: res.ID})
	}
	return out, nil
}

// Cat writes one file of a snapshot to w.
func (r *Repo) Cat(ctx context.Context, req restore.Request, w interface{ Write([]byte) (int, error) }) error {
	rl, err := r.lockRepo(ctx, repolock.Shared)
	if err != nil {
		return err
	}
	defer rl.Release()
	return restore.Cat(ctx, restore.Deps{DB: r.DB, Store: r.Store}, req, w)
}

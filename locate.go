package cairn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
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
// that has the path) into a restore request. With preferValid, a JSON file
// resolves to the newest snapshot whose copy is valid JSON; note then says
// which snapshot was chosen and why.
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
		return req, "", nil
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
		return req, note, nil
	}
	if skippedTorn > 0 {
		return req, "", fmt.Errorf("%s: every stored copy is invalid JSON; pick one with --snapshot and --force", userPath)
	}
	return req, "", fmt.Errorf("%s is in no snapshot of %s: %w", userPath, src.Path, catalog.ErrNotFound)
}

// Restore puts paths back as the snapshot recorded them. Before it
// replaces anything in place with something different it takes a snapshot
// of the source labelled "pre-restore", so the restore can be undone; its
// id is returned (0 when none was needed).
func (r *Repo) Restore(ctx context.Context, reqs []restore.Request, opts restore.Options) (res *restore.Result, undo int64, err error) {
	// Hold what the restore reads, so no retention run (its own undo
	// snapshot's, or a cron snap's) forgets it meanwhile.
	release, err := r.holdSnapshots(ctx, "restore", requestSnapshots(reqs)...)
	if err != nil {
		return nil, 0, err
	}
	defer release()
	rl, err := r.lockRepo(ctx, repolock.Shared)
	if err != nil {
		return nil, 0, err
	}
	replaces := false
	if opts.To == "" && !opts.DryRun {
		if replaces, err = restore.Replaces(ctx, restore.Deps{DB: r.DB, Store: r.Store}, reqs, opts); err != nil {
			rl.Release()
			return nil, 0, err
		}
	}
	if replaces {
		// The undo snapshot takes its own locks; release ours meanwhile.
		rl.Release()
		undo, err = r.preRestore(ctx, reqs)
		if err != nil {
			return nil, 0, err
		}
		if rl, err = r.lockRepo(ctx, repolock.Shared); err != nil {
			return nil, undo, err
		}
	}
	defer rl.Release()
	if opts.To == "" && !opts.DryRun {
		// In place, a restore holds its sources' locks: no snapshot or
		// other restore writes there meanwhile, so the temp files of a
		// killed restore can be cleared.
		for _, src := range sourcesOf(reqs) {
			sl, err := r.lockSource(ctx, src)
			if err != nil {
				return nil, undo, err
			}
			defer sl.Release()
		}
		opts.CleanTemps = true
	}
	res, err = restore.Run(ctx, restore.Deps{DB: r.DB, Store: r.Store}, reqs, opts)
	return res, undo, err
}

// sourcesOf lists the distinct sources of reqs in a fixed order, so two
// processes take their locks in the same order.
func sourcesOf(reqs []restore.Request) []string {
	seen := map[string]bool{}
	var out []string
	for _, req := range reqs {
		if !seen[req.Snapshot.Source] {
			seen[req.Snapshot.Source] = true
			out = append(out, req.Snapshot.Source)
		}
	}
	sort.Strings(out)
	return out
}

// preRestore snapshots each source a restore writes into, when anything
// it would replace exists on disk.
func (r *Repo) preRestore(ctx context.Context, reqs []restore.Request) (int64, error) {
	var id int64
	done := map[string]bool{}
	for _, req := range reqs {
		src := req.Snapshot.Source
		if done[src] {
			continue
		}
		if _, err := os.Lstat(filepath.Join(src, filepath.FromSlash(req.Path))); err != nil {
			continue // nothing there to lose
		}
		done[src] = true
		res, err := r.Snapshot(ctx, src, snapshotOptions("pre-restore"))
		if errors.Is(err, snapshot.ErrEmptySource) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("snapshot before restoring (the undo point): %w", err)
		}
		id = res.ID
	}
	return id, nil
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

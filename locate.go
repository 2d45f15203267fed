package cairn

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/restore"
	"github.com/cairn-dev/cairn/snapshot"
)

// ErrNoSource means no snapshotted source contains the path.
var ErrNoSource = errors.New("not inside any snapshotted source")

// Locate finds the source that contains a path as the user typed it
// (absolute, or relative to the working directory; it need not exist any
// more) and returns the path relative to that source ("." for the source
// itself).
func (r *Repo) Locate(ctx context.Context, userPath string) (Source, string, error) {
	src, rel, err := r.locate(ctx, userPath)
	if err != nil {
		return Source{}, "", err
	}
	settings, err := parseSource(src)
	return settings, rel, err
}

func (r *Repo) locate(ctx context.Context, userPath string) (catalog.Source, string, error) {
	abs, err := filepath.Abs(userPath)
	if err != nil {
		return catalog.Source{}, "", err
	}
	sources, err := r.db.Sources(ctx)
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
	return catalog.Source{}, "", fmt.Errorf("%s: %w", userPath, ErrNoSource)
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
func (r *Repo) Resolve(ctx context.Context, userPath string, snapID int64, preferValid bool) (req Request, note string, err error) {
	src, rel, err := r.locate(ctx, userPath)
	if err != nil {
		return req, "", err
	}
	excludes, err := snapshot.ParseExcludes(src.Excludes)
	if err != nil {
		return req, "", err
	}
	req = restore.Request{Path: rel, UserPath: userPath, Runtime: src.Runtime, LeftOut: excludes.LeftOut}
	if snapID != 0 {
		s, err := r.db.SnapshotByID(ctx, snapID)
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
		snaps, err := r.db.Snapshots(ctx, src.ID)
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
	history, err := r.db.History(ctx, src.ID, rel)
	if err != nil {
		return req, "", err
	}
	skippedTorn := 0
	for _, v := range history {
		if preferValid && v.JSONValid.Valid && !v.JSONValid.Bool {
			skippedTorn++
			continue
		}
		_, last, err := r.db.SnapshotRange(ctx, src.ID, v)
		if err != nil {
			return req, "", err
		}
		if last == 0 {
			continue
		}
		if req.Snapshot, err = r.db.SnapshotByID(ctx, last); err != nil {
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
	mass, err := r.db.HasWarning(ctx, req.Snapshot.ID, catalog.WarnMassDeletion)
	if err != nil || !mass {
		return "", err
	}
	snaps, err := r.db.Snapshots(ctx, req.Snapshot.SourceID)
	if err != nil {
		return "", err
	}
	for i := len(snaps) - 1; i > 0; i-- {
		if snaps[i].ID != req.Snapshot.ID {
			continue
		}
		prev := snaps[i-1]
		if _, err := r.db.VersionAt(ctx, prev, req.Path); err != nil {
			return "", nil
		}
		note := fmt.Sprintf("snapshot %d recorded a mass deletion; restoring %s from snapshot %d, the one before it (name snapshot %d to restore the emptied state)",
			req.Snapshot.ID, userPath, prev.ID, req.Snapshot.ID)
		req.Snapshot = prev
		return note, nil
	}
	return "", nil
}

package cairn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"

	"github.com/cairn-dev/cairn/internal/textdiff"
)

// ErrDifferentSources refuses to compare snapshots of two sources: every
// path would be "added" and "removed" at once.
var ErrDifferentSources = errors.New("snapshots of different sources")

// ErrNoPredecessor means a snapshot is its source's first: there is
// nothing before it to compare with.
var ErrNoPredecessor = errors.New("is the first snapshot of its source")

// Previous returns the snapshot of the same source taken just before id.
func (r *Repo) Previous(ctx context.Context, id int64) (Snapshot, error) {
	s, err := r.db.SnapshotByID(ctx, id)
	if err != nil {
		return Snapshot{}, err
	}
	snaps, err := r.db.Snapshots(ctx, s.SourceID)
	if err != nil {
		return Snapshot{}, err
	}
	for i := len(snaps) - 1; i > 0; i-- {
		if snaps[i].ID == id {
			return snaps[i-1], nil
		}
	}
	return Snapshot{}, fmt.Errorf("snapshot %d %w (%s)", id, ErrNoPredecessor, s.Source)
}

// sameSource refuses two snapshots of different sources.
func (r *Repo) sameSource(ctx context.Context, a, b int64) error {
	sa, err := r.db.SnapshotByID(ctx, a)
	if err != nil {
		return err
	}
	sb, err := r.db.SnapshotByID(ctx, b)
	if err != nil {
		return err
	}
	if sa.SourceID != sb.SourceID {
		return fmt.Errorf("compare snapshot %d (%s) with snapshot %d (%s): %w", a, sa.Source, b, sb.Source, ErrDifferentSources)
	}
	return nil
}

// FileDiff is the difference of one file between two snapshots.
type FileDiff struct {
	Path   string // relative to the source
	Binary bool   // either side is binary: Unified is empty
	// Unified is the unified diff (diff -u) of the two copies; "" when
	// they are equal. A copy missing from a snapshot is empty.
	Unified string
	Equal   bool
}

// maxDiffSize bounds the copies DiffFile reads into memory.
const maxDiffSize = 64 << 20

// DiffFile compares the content of the file a user names (it need not
// exist any more) in snapshots a and b, both of its source.
func (r *Repo) DiffFile(ctx context.Context, userPath string, a, b int64) (*FileDiff, error) {
	if err := r.sameSource(ctx, a, b); err != nil {
		return nil, err
	}
	var copies [2][]byte
	var rel string
	found := 0
	for i, id := range []int64{a, b} {
		req, _, err := r.Resolve(ctx, userPath, id, false)
		if err != nil {
			return nil, err
		}
		rel = req.Path
		var buf limitedBuffer
		err = r.Cat(ctx, req, &buf)
		if errors.Is(err, ErrNotFound) {
			continue // absent: compared as empty
		}
		if err != nil {
			return nil, err
		}
		copies[i] = buf.Bytes()
		found++
	}
	if found == 0 {
		return nil, fmt.Errorf("%s is in neither snapshot %d nor %d: %w", userPath, a, b, ErrNotFound)
	}
	d := &FileDiff{Path: rel, Equal: bytes.Equal(copies[0], copies[1])}
	if d.Equal {
		return d, nil
	}
	if textdiff.IsBinary(copies[0]) || textdiff.IsBinary(copies[1]) {
		d.Binary = true
		return d, nil
	}
	d.Unified = textdiff.Unified(fmt.Sprintf("%d/%s", a, path.Clean(rel)), fmt.Sprintf("%d/%s", b, path.Clean(rel)), copies[0], copies[1], 3)
	return d, nil
}

// limitedBuffer refuses to grow past maxDiffSize.
type limitedBuffer struct{ bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.Len()+len(p) > maxDiffSize {
		return 0, fmt.Errorf("file larger than %d MiB: too large to compare in memory", maxDiffSize>>20)
	}
	return l.Buffer.Write(p)
}

// DiffLive compares snapshot id with its source directory as it is now,
// by a dry-run snapshot (walk and compare, files whose stat changed hashed;
// nothing stored). Against an older snapshot the two differences (id to
// the newest, the newest to now) are combined by presence: a path present
// at both ends that changed in between and back again is reported changed.
func (r *Repo) DiffLive(ctx context.Context, id int64) (*TreeDiff, error) {
	s, err := r.db.SnapshotByID(ctx, id)
	if err != nil {
		return nil, err
	}
	res, err := r.Snapshot(ctx, s.Source, SnapshotOptions{DryRun: true, DryRunHash: true})
	if err != nil {
		return nil, err
	}
	pv := res.Preview
	snaps, err := r.db.Snapshots(ctx, s.SourceID)
	if err != nil {
		return nil, err
	}
	newest := snaps[len(snaps)-1].ID
	if newest == id {
		return &TreeDiff{Added: pv.Added, Removed: pv.Removed, Changed: pv.Changed}, nil
	}
	old, err := r.Diff(ctx, id, newest)
	if err != nil {
		return nil, err
	}
	atID, err := r.db.Tree(ctx, s, ".")
	if err != nil {
		return nil, err
	}
	then := map[string]bool{}
	for _, v := range atID {
		then[v.Path] = true
	}
	// What exists now: the newest snapshot's paths, less those removed
	// since, plus those added since.
	newestSnap, err := r.db.SnapshotByID(ctx, newest)
	if err != nil {
		return nil, err
	}
	atNewest, err := r.db.Tree(ctx, newestSnap, ".")
	if err != nil {
		return nil, err
	}
	now := map[string]bool{}
	for _, v := range atNewest {
		now[v.Path] = true
	}
	for _, p := range pv.Removed {
		delete(now, p)
	}
	for _, p := range pv.Added {
		now[p] = true
	}
	touched := map[string]bool{}
	for _, l := range [][]string{old.Added, old.Removed, old.Changed, pv.Added, pv.Removed, pv.Changed} {
		for _, p := range l {
			touched[p] = true
		}
	}
	d := &TreeDiff{Added: []string{}, Removed: []string{}, Changed: []string{}}
	for p := range touched {
		switch {
		case then[p] && now[p]:
			d.Changed = append(d.Changed, p)
		case now[p]:
			d.Added = append(d.Added, p)
		case then[p]:
			d.Removed = append(d.Removed, p)
		}
	}
	slices.Sort(d.Added)
	slices.Sort(d.Removed)
	slices.Sort(d.Changed)
	return d, nil
}

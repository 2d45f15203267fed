package cairn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Match is one path a snapshot holds that matched Find's pattern.
type Match struct {
	SnapshotID int64
	Started    time.Time
	Source     string
	Path       string // relative to the source
	Type       string
	Size       int64
	Mtime      time.Time
}

// FindFilter narrows Find; the zero value searches every snapshot.
type FindFilter struct {
	Source   string // a source directory as the user names it
	Snapshot int64
}

// Find lists the paths matching a glob in every snapshot that holds them,
// newest snapshot first (restic's find). A pattern without "/" matches a
// base name anywhere; with one, the whole path relative to the source.
// The glob is SQLite's: * and ? match any characters, "/" included, and
// [...] a set. One query over the history's intervals answers it, not a
// walk of each snapshot.
func (r *Repo) Find(ctx context.Context, pattern string, f FindFilter) ([]Match, error) {
	if pattern == "" {
		return nil, errors.New("find: empty pattern")
	}
	var sourceID int64
	if f.Source != "" {
		src, err := r.namedSource(ctx, f.Source)
		if err != nil {
			return nil, err
		}
		sourceID = src.ID
	}
	found, err := r.db.Find(ctx, strings.TrimPrefix(pattern, "/"), sourceID, f.Snapshot)
	if err != nil {
		return nil, err
	}
	out := make([]Match, len(found))
	for i, m := range found {
		out[i] = Match{m.SnapshotID, time.Unix(0, m.Started).UTC(), m.Source, m.Path, m.Type, m.Size, time.Unix(0, m.MtimeNs).UTC()}
	}
	return out, nil
}

// Stats are a repository's sizes, from the catalog's numbers.
type Stats struct {
	Snapshots int64
	Packs     int64
	// DiskBytes is what the packs take on disk.
	DiskBytes int64
	// UniqueBytes is the deduplicated data, before compression.
	UniqueBytes int64
	// SnapshotBytes is the sum of every snapshot's files: what a full copy
	// of each would take.
	SnapshotBytes int64
	Sources       []SourceStats
}

// DedupRatio is SnapshotBytes over DiskBytes: how many times more the
// snapshots hold than the repository takes (deduplication and compression
// together); 0 for an empty repository.
func (s Stats) DedupRatio() float64 {
	if s.DiskBytes == 0 {
		return 0
	}
	return float64(s.SnapshotBytes) / float64(s.DiskBytes)
}

// SourceStats are one source's numbers.
type SourceStats struct {
	Source    string
	Snapshots int64
	Versions  int64
	// UniqueBytes are the distinct file contents its history holds.
	UniqueBytes int64
	// LatestBytes are the files of its newest snapshot.
	LatestBytes   int64
	SnapshotBytes int64
}

// Stats returns the repository's sizes, overall and per source; per
// snapshot numbers are in Snapshots (FileCount, TotalBytes, AddedBytes).
func (r *Repo) Stats(ctx context.Context) (*Stats, error) {
	rs, err := r.db.RepoStats(ctx)
	if err != nil {
		return nil, err
	}
	ss, err := r.db.SourceStats(ctx)
	if err != nil {
		return nil, err
	}
	st := &Stats{Snapshots: rs.Snapshots, Packs: rs.Packs, DiskBytes: rs.PackBytes, UniqueBytes: rs.ChunkBytes, SnapshotBytes: rs.SnapshotBytes,
		Sources: make([]SourceStats, len(ss))}
	for i, s := range ss {
		st.Sources[i] = SourceStats{s.Source, s.Snapshots, s.Versions, s.ContentBytes, s.LatestBytes, s.SnapshotBytes}
	}
	return st, nil
}

// TagChange says how Tag changes each snapshot's tags: Set replaces them
// (when not nil), then Add adds and Remove removes.
type TagChange struct {
	Set         []string
	Add, Remove []string
}

// ErrBadTag refuses a tag that is empty or holds a comma.
var ErrBadTag = errors.New("bad tag")

// Tag changes the tags of snapshots, all in one transaction, and returns
// them as they are after it.
func (r *Repo) Tag(ctx context.Context, ids []int64, c TagChange) ([]Snapshot, error) {
	if r.readOnly {
		return nil, r.errReadOnly()
	}
	for _, t := range slices.Concat(c.Set, c.Add, c.Remove) {
		if t == "" || strings.Contains(t, ",") {
			return nil, fmt.Errorf("%w %q: a tag is not empty and has no comma", ErrBadTag, t)
		}
	}
	tags := map[int64][]string{}
	for _, id := range ids {
		s, err := r.db.SnapshotByID(ctx, id)
		if err != nil {
			return nil, err
		}
		t := s.Tags
		if c.Set != nil {
			t = nil
			for _, x := range c.Set {
				if !slices.Contains(t, x) {
					t = append(t, x)
				}
			}
		}
		for _, x := range c.Add {
			if !slices.Contains(t, x) {
				t = append(t, x)
			}
		}
		t = slices.DeleteFunc(t, func(x string) bool { return slices.Contains(c.Remove, x) })
		tags[id] = t
	}
	if err := r.db.SetTags(ctx, tags); err != nil {
		return nil, err
	}
	out := make([]Snapshot, 0, len(ids))
	for _, id := range ids {
		s, err := r.db.SnapshotByID(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

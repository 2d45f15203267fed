package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Found is one path a snapshot holds that matched Find's pattern.
type Found struct {
	SnapshotID int64
	Started    int64 // the snapshot's start, Unix ns
	Source     string
	Path       string
	Type       string
	Size       int64
	MtimeNs    int64
}

// findQuery joins each matching version with the snapshots its interval
// covers: one pass over the versions of the path, however many snapshots.
// A pattern without '/' matches the base name too (restic's find).
const findQuery = `SELECT s.id, s.started_ns, src.path, v.path, v.type, v.size, v.mtime_ns
FROM version v
JOIN snapshot s ON s.source_id = v.source_id
               AND s.id >= v.first_snapshot_id
               AND (v.last_snapshot_id IS NULL OR s.id <= v.last_snapshot_id)
JOIN source src ON src.id = v.source_id
WHERE v.path != '.' AND (v.path GLOB ?1 OR (?2 AND v.path GLOB '*/' || ?1))
  AND (?3 = 0 OR v.source_id = ?3)
  AND (?4 = 0 OR s.id = ?4)
ORDER BY s.id DESC, v.path`

// Find lists the paths matching a glob (SQLite GLOB: *, ?, [...]) in every
// snapshot that holds them, newest snapshot first; sourceID and snapshotID
// narrow it when not 0.
func (db *DB) Find(ctx context.Context, pattern string, sourceID, snapshotID int64) ([]Found, error) {
	base := !strings.Contains(pattern, "/")
	rows, err := db.r.QueryContext(ctx, findQuery, pattern, base, sourceID, snapshotID)
	if err != nil {
		return nil, fmt.Errorf("find %q: %w", pattern, err)
	}
	defer rows.Close()
	var out []Found
	for rows.Next() {
		var f Found
		var size sql.NullInt64
		if err := rows.Scan(&f.SnapshotID, &f.Started, &f.Source, &f.Path, &f.Type, &size, &f.MtimeNs); err != nil {
			return nil, err
		}
		f.Size = size.Int64
		out = append(out, f)
	}
	return out, rows.Err()
}

// Stats are the catalog's numbers about the repository's size.
type Stats struct {
	Snapshots     int64
	Packs         int64
	PackBytes     int64 // on disk: what the repository takes
	ChunkBytes    int64 // the unique data, uncompressed
	StoredBytes   int64 // the unique data as stored (compressed)
	ContentBytes  int64 // the unique file contents, uncompressed
	SnapshotBytes int64 // the sum of every snapshot's files: what a full copy of each would take
}

// SourceStats are one source's numbers.
type SourceStats struct {
	SourceID      int64
	Source        string
	Snapshots     int64
	Versions      int64
	ContentBytes  int64 // unique contents its versions use
	LatestBytes   int64 // the newest snapshot's files
	SnapshotBytes int64 // the sum over its snapshots
}

// RepoStats returns the repository's numbers.
func (db *DB) RepoStats(ctx context.Context) (Stats, error) {
	var s Stats
	err := db.r.QueryRowContext(ctx, `SELECT
	    (SELECT count(*) FROM snapshot),
	    (SELECT count(*) FROM pack WHERE missing_ns IS NULL),
	    (SELECT coalesce(sum(size), 0) FROM pack WHERE missing_ns IS NULL),
	    (SELECT coalesce(sum(size), 0) FROM chunk),
	    (SELECT coalesce(sum(length), 0) FROM chunk),
	    (SELECT coalesce(sum(size), 0) FROM content),
	    (SELECT coalesce(sum(total_bytes), 0) FROM snapshot)`).Scan(
		&s.Snapshots, &s.Packs, &s.PackBytes, &s.ChunkBytes, &s.StoredBytes, &s.ContentBytes, &s.SnapshotBytes)
	if err != nil {
		return s, fmt.Errorf("read repository stats: %w", err)
	}
	return s, nil
}

// SourceStats returns each source's numbers, by path.
func (db *DB) SourceStats(ctx context.Context) ([]SourceStats, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT src.id, src.path,
	    (SELECT count(*) FROM snapshot WHERE source_id = src.id),
	    (SELECT count(*) FROM version WHERE source_id = src.id),
	    (SELECT coalesce(sum(c.size), 0) FROM content c WHERE c.id IN
	        (SELECT content_id FROM version WHERE source_id = src.id AND content_id IS NOT NULL)),
	    coalesce((SELECT total_bytes FROM snapshot WHERE source_id = src.id ORDER BY id DESC LIMIT 1), 0),
	    (SELECT coalesce(sum(total_bytes), 0) FROM snapshot WHERE source_id = src.id)
	FROM source src ORDER BY src.path`)
	if err != nil {
		return nil, fmt.Errorf("read source stats: %w", err)
	}
	defer rows.Close()
	var out []SourceStats
	for rows.Next() {
		var s SourceStats
		if err := rows.Scan(&s.SourceID, &s.Source, &s.Snapshots, &s.Versions, &s.ContentBytes, &s.LatestBytes, &s.SnapshotBytes); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// SetTags replaces the tags of snapshots, in one transaction.
func (db *DB) SetTags(ctx context.Context, tags map[int64][]string) error {
	_, err := db.mutate(ctx, func(tx *sql.Tx) (record, error) {
		rec := &tagsRecord{IDs: slices.Sorted(maps.Keys(tags))}
		for _, id := range rec.IDs {
			rec.Tags = append(rec.Tags, tags[id])
		}
		return rec, nil
	})
	return err
}

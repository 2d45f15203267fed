package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// An unchanged snapshot compares every live version with what stat says,
// and reading those rows was the longest part of it (at 1M files, 2.4 of
// 4 s, on one core while the walk used the other). Most of a row is not
// needed for that: the content hash (a join with content), the JSON and
// database-check columns and the snapshot range matter only for the few
// versions that changed. FingerprintStream reads just the columns the
// comparison looks at, and VersionsByID completes the versions it keeps.

// liveFingerprints lists a source's live versions in path order (the
// version_live index's order, as liveInOrder), without joining content.
const liveFingerprints = `SELECT v.id, v.path, v.type, v.mode, v.size, v.mtime_ns, coalesce(v.content_id, 0),
	coalesce(v.link_target, ''), coalesce(v.capture, ''), v.fp_ctime_ns, v.fp_ino, v.fp_extra,
	coalesce(v.uid, -1), coalesce(v.gid, -1)
	FROM version v WHERE v.source_id = ? AND v.last_snapshot_id IS NULL ORDER BY v.path`

// FingerprintStream reads a source's live versions in path order, as
// LiveStream does, with only ID, Path, Type, Mode, Size, MtimeNs,
// ContentID, LinkTarget, Capture, the fingerprint (FpCtimeNs, FpIno,
// FpExtra) and the owner filled in. A version whose content uses a chunk
// of a missing pack comes with FpCtimeNs -1.
type FingerprintStream struct{ *LiveStream }

// LiveFingerprints starts a FingerprintStream. The caller must Close it.
func (db *DB) LiveFingerprints(ctx context.Context, sourceID int64) (*FingerprintStream, error) {
	var ints [9]any // the stream's one reader reuses them
	s, err := db.liveStream(ctx, liveFingerprints, sourceID, func(rows *sql.Rows, v *Version) error {
		return scanFingerprint(rows, v, &ints)
	})
	if err != nil {
		return nil, err
	}
	return &FingerprintStream{s}, nil
}

// scanFingerprint scans one row of liveFingerprints. Integers go through
// *any: database/sql assigns an int64 to a *int64 by reflection, which
// was a fifth of the row's cost.
func scanFingerprint(rows *sql.Rows, v *Version, ints *[9]any) error {
	*v = Version{}
	if err := rows.Scan(&ints[0], &v.Path, &v.Type, &ints[1], &ints[2], &ints[3], &ints[4], &v.LinkTarget, &v.Capture,
		&ints[5], &ints[6], &v.FpExtra, &ints[7], &ints[8]); err != nil {
		return err
	}
	var n [9]int64
	for i, x := range ints {
		switch x := x.(type) {
		case int64:
			n[i] = x
		case nil:
		default:
			return fmt.Errorf("column %d: %T, want an integer", i, x)
		}
	}
	v.ID, v.Mode, v.Size, v.MtimeNs, v.ContentID = n[0], uint32(n[1]), n[2], n[3], n[4]
	v.FpCtimeNs, v.FpIno, v.UID, v.GID = n[5], uint64(n[6]), n[7], n[8]
	return nil
}

// byIDBatch is how many ids one query of VersionsByID names.
const byIDBatch = 500

// VersionsByID returns the versions with these ids, every column read, in
// no particular order; ids that name no version are left out.
func (db *DB) VersionsByID(ctx context.Context, ids []int64) ([]*Version, error) {
	var out []*Version
	for len(ids) > 0 {
		n := min(len(ids), byIDBatch)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		vs, err := db.versions(ctx, "WHERE v.id IN (?"+strings.Repeat(", ?", n-1)+")", args...)
		if err != nil {
			return nil, err
		}
		out = append(out, vs...)
		ids = ids[n:]
	}
	return out, nil
}

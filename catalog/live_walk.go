package catalog

import (
	"context"
	"database/sql/driver"
	"fmt"
	"io"
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
// Type and capture come as small integers (fingerprintType,
// fingerprintCapture), which the driver boxes without allocating, where a
// string column costs two allocations a row; anything else comes as the
// text it is.
const liveFingerprints = `SELECT v.id, v.path,
	CASE v.type WHEN 'file' THEN 1 WHEN 'dir' THEN 2 WHEN 'symlink' THEN 3 ELSE v.type END,
	v.mode, v.size, v.mtime_ns, v.content_id, v.link_target,
	CASE v.capture WHEN 'raw' THEN 1 WHEN 'sqlite' THEN 2 WHEN 'sqlite-raw' THEN 3 ELSE v.capture END,
	v.fp_ctime_ns, v.fp_ino, v.fp_extra, v.uid, v.gid
	FROM version v WHERE v.source_id = ? AND v.last_snapshot_id IS NULL ORDER BY v.path`

// The codes of liveFingerprints' type and capture columns, by value.
var (
	fingerprintType    = [...]string{1: TypeFile, 2: TypeDir, 3: TypeSymlink}
	fingerprintCapture = [...]string{1: CaptureRaw, 2: CaptureSQLite, 3: CaptureSQLiteRaw}
)

// fingerprintColumns is how many columns liveFingerprints selects.
const fingerprintColumns = 14

// FingerprintStream reads a source's live versions in path order, as
// LiveStream does, with only ID, Path, Type, Mode, Size, MtimeNs,
// ContentID, LinkTarget, Capture, the fingerprint (FpCtimeNs, FpIno,
// FpExtra) and the owner filled in. A version whose content uses a chunk
// of a missing pack comes with FpCtimeNs -1.
type FingerprintStream struct{ *LiveStream }

// LiveFingerprints starts a FingerprintStream. The caller must Close it.
//
// The rows are read from the driver itself (sql.Conn.Raw), not through
// database/sql: its Scan, locking and conversions of each value cost as
// much as SQLite stepping the row. Reading the 1,010,001 live versions
// of the bench's 1M-file tree took 1.53-1.65 CPU s this way, 1.89-2.03
// through database/sql (three alternating rounds, same catalog).
func (db *DB) LiveFingerprints(ctx context.Context, sourceID int64) (*FingerprintStream, error) {
	onMissing, err := db.contentsOnMissing(ctx, sourceID)
	if err != nil {
		return nil, fmt.Errorf("read live versions: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	conn, err := db.r.Conn(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("read live versions: %w", err)
	}
	// The query starts here, so that an error in it is returned by this
	// call, as LiveInOrder's is; the reader then owns the rows.
	started := make(chan error, 1)
	s := &LiveStream{full: make(chan []Version, liveBatches), free: make(chan []Version, liveBatches+2),
		cancel: cancel, done: make(chan struct{}), onMissing: onMissing}
	for i := 0; i < liveBatches+2; i++ {
		s.free <- make([]Version, 0, liveBatch)
	}
	go func() {
		defer close(s.done)
		defer close(s.full)
		defer conn.Close()
		running := false
		err := conn.Raw(func(dc any) error {
			q, ok := dc.(driver.QueryerContext)
			if !ok {
				return fmt.Errorf("driver %T cannot query", dc)
			}
			rows, err := q.QueryContext(ctx, liveFingerprints, []driver.NamedValue{{Ordinal: 1, Value: sourceID}})
			if err != nil {
				return err
			}
			defer rows.Close()
			running = true
			started <- nil
			return s.readFingerprints(ctx, rows)
		})
		switch {
		case !running:
			started <- err
		case err != nil:
			s.err = err // read by Next once full is closed
		}
	}()
	if err := <-started; err != nil {
		cancel()
		<-s.done
		return nil, fmt.Errorf("read live versions: %w", err)
	}
	return &FingerprintStream{s}, nil
}

// readFingerprints fills the stream's batches from rows of
// liveFingerprints.
func (s *LiveStream) readFingerprints(ctx context.Context, rows driver.Rows) error {
	dest := make([]driver.Value, fingerprintColumns)
	var batch []Version
	for end := false; !end; {
		select {
		case batch = <-s.free:
		case <-ctx.Done():
			return ctx.Err()
		}
		batch = batch[:0]
		for len(batch) < liveBatch {
			// Stepping a statement once more after its end would start it
			// again.
			err := rows.Next(dest)
			if err == io.EOF {
				end = true
				break
			}
			if err != nil {
				return fmt.Errorf("read live versions: %w", err)
			}
			batch = append(batch, Version{})
			v := &batch[len(batch)-1]
			if err := decodeFingerprint(dest, v); err != nil {
				return fmt.Errorf("read live versions: %w", err)
			}
			if s.onMissing[v.ContentID] {
				v.FpCtimeNs = -1
			}
		}
		if len(batch) == 0 {
			return nil
		}
		select {
		case s.full <- batch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// decodeFingerprint fills v from one row of liveFingerprints: integers
// where the schema has integers, text where it has text, NULL only where
// it allows NULL.
func decodeFingerprint(row []driver.Value, v *Version) error {
	ok := [fingerprintColumns]bool{}
	var id, mode, size, mtime, ctime, ino int64
	*v = Version{}
	id, ok[0] = row[0].(int64)
	v.Path, ok[1] = row[1].(string)
	v.Type, ok[2] = coded(row[2], fingerprintType[:], false)
	mode, ok[3] = row[3].(int64)
	size, ok[4] = row[4].(int64)
	mtime, ok[5] = row[5].(int64)
	v.ContentID, ok[6] = intOrNull(row[6], 0)
	v.LinkTarget, ok[7] = coded(row[7], nil, true)
	v.Capture, ok[8] = coded(row[8], fingerprintCapture[:], true)
	ctime, ok[9] = row[9].(int64)
	ino, ok[10] = row[10].(int64)
	v.FpExtra, ok[11] = row[11].(string)
	v.UID, ok[12] = intOrNull(row[12], -1)
	v.GID, ok[13] = intOrNull(row[13], -1)
	for i, good := range ok {
		if !good {
			return fmt.Errorf("column %d: unexpected %T %v", i, row[i], row[i])
		}
	}
	v.ID, v.Mode, v.Size, v.MtimeNs, v.FpCtimeNs, v.FpIno = id, uint32(mode), size, mtime, ctime, uint64(ino)
	return nil
}

// intOrNull is an integer column's value, or null for NULL.
func intOrNull(x driver.Value, null int64) (int64, bool) {
	switch x := x.(type) {
	case int64:
		return x, true
	case nil:
		return null, true
	}
	return 0, false
}

// coded is a text column's value, given as itself or as its index in
// codes; NULL is "" where nullable.
func coded(x driver.Value, codes []string, nullable bool) (string, bool) {
	switch x := x.(type) {
	case string:
		return x, true
	case int64:
		if x > 0 && x < int64(len(codes)) {
			return codes[x], true
		}
	case nil:
		return "", nullable
	}
	return "", false
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

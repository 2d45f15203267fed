package catalog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mattn/go-sqlite3"
)

// Pack is a pack file the catalog knows.
type Pack struct {
	ID   int64
	Name string
	Size int64
	// Missing: the pack was found missing from the store (see MarkPacksMissing).
	Missing bool
}

// Packs lists every recorded pack.
func (db *DB) Packs(ctx context.Context) ([]Pack, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT id, name, size, missing_ns IS NOT NULL FROM pack ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	defer rows.Close()
	var out []Pack
	for rows.Next() {
		var p Pack
		if err := rows.Scan(&p.ID, &p.Name, &p.Size, &p.Missing); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ChunksInPack lists the chunks recorded in one pack, in the order they
// are stored.
func (db *DB) ChunksInPack(ctx context.Context, packID int64) ([]ChunkLoc, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+chunkLocColumns+`
		FROM chunk c JOIN pack p ON p.id = c.pack_id WHERE c.pack_id = ? ORDER BY c.offset, c.plain_offset`, packID)
	if err != nil {
		return nil, fmt.Errorf("list chunks of pack %d: %w", packID, err)
	}
	defer rows.Close()
	var out []ChunkLoc
	for rows.Next() {
		l, err := scanChunkLoc(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// ChunkIDs returns the set of recorded chunk ids.
func (db *DB) ChunkIDs(ctx context.Context) (map[int64]bool, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT id FROM chunk")
	if err != nil {
		return nil, fmt.Errorf("list chunks: %w", err)
	}
	defer rows.Close()
	ids := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids[id] = true
	}
	return ids, rows.Err()
}

// ForEachContent calls fn with every content's id and decoded chunk list.
// A list that does not decode is reported to fn with err set.
func (db *DB) ForEachContent(ctx context.Context, fn func(id int64, chunks []int64, err error) error) error {
	rows, err := db.r.QueryContext(ctx, "SELECT id, chunks FROM content")
	if err != nil {
		return fmt.Errorf("list contents: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var list []byte
		if err := rows.Scan(&id, &list); err != nil {
			return err
		}
		ids, derr := DecodeChunkList(list)
		if err := fn(id, ids, derr); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Affected is a path in a range of snapshots that depends on damaged data.
type Affected struct {
	Source      string
	Path        string
	First, Last int64 // existing snapshots that have this version
}

// AffectedBy lists the versions whose content is one of contentIDs, with
// the snapshots that hold them.
func (db *DB) AffectedBy(ctx context.Context, contentIDs []int64) ([]Affected, error) {
	var out []Affected
	for _, cid := range contentIDs {
		rows, err := db.r.QueryContext(ctx, `SELECT src.path, v.path, v.source_id,
			(SELECT min(s.id) FROM snapshot s WHERE s.source_id = v.source_id AND s.id >= v.first_snapshot_id
				AND (v.last_snapshot_id IS NULL OR s.id <= v.last_snapshot_id)),
			(SELECT max(s.id) FROM snapshot s WHERE s.source_id = v.source_id AND s.id >= v.first_snapshot_id
				AND (v.last_snapshot_id IS NULL OR s.id <= v.last_snapshot_id))
			FROM version v JOIN source src ON src.id = v.source_id WHERE v.content_id = ? ORDER BY src.path, v.path`, cid)
		if err != nil {
			return nil, fmt.Errorf("find versions of content %d: %w", cid, err)
		}
		for rows.Next() {
			var a Affected
			var sid int64
			var first, last *int64
			if err := rows.Scan(&a.Source, &a.Path, &sid, &first, &last); err != nil {
				rows.Close()
				return nil, err
			}
			if first == nil {
				continue
			}
			a.First, a.Last = *first, *last
			out = append(out, a)
		}
		rows.Close()
	}
	return out, nil
}

// DanglingVersions counts versions whose content row is missing.
func (db *DB) DanglingVersions(ctx context.Context) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM version v WHERE v.content_id IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM content c WHERE c.id = v.content_id)`).Scan(&n)
	return n, err
}

// ErrCatalogDamaged means PRAGMA integrity_check found the catalog file
// damaged: pages, or indexes that disagree with their tables.
var ErrCatalogDamaged = errors.New("catalog: damaged")

// maxIntegrityProblems bounds what integrity_check reports: the first few
// problems say enough, and one bad page can produce thousands.
const maxIntegrityProblems = 10

// IntegrityCheck runs PRAGMA integrity_check, which reads every page and,
// unlike quick_check, compares every index with its table: a stale index
// page passes quick_check, and gc once trusted such an index to decide what
// was unreferenced. Damage gives an error wrapping ErrCatalogDamaged that
// names the first problems.
func (db *DB) IntegrityCheck(ctx context.Context) error {
	rows, err := db.r.QueryContext(ctx, fmt.Sprintf("PRAGMA integrity_check(%d)", maxIntegrityProblems))
	if err != nil {
		return integrityError(err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return integrityError(err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return integrityError(err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrCatalogDamaged, strings.Join(problems, "; "))
	}
	return nil
}

// integrityError classifies an error of the check itself: SQLite stopping
// on a page it cannot parse is damage too.
func integrityError(err error) error {
	if IsDamagedDatabase(err) {
		return fmt.Errorf("%w: %v", ErrCatalogDamaged, err)
	}
	return fmt.Errorf("check catalog: %w", err)
}

// IsDamagedDatabase reports whether SQLite failed on a damaged database
// file ("database disk image is malformed", "file is not a database").
func IsDamagedDatabase(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB)
}

// Auto-vacuum modes, as PRAGMA auto_vacuum reports them.
const (
	autoVacuumNone        = 0
	autoVacuumIncremental = 2
)

// Compaction says what CompactFile did.
type Compaction struct {
	Before, After int64 // bytes of catalog.db (its -wal folded in) before and after
	Converted     bool  // the catalog was switched to incremental auto-vacuum
	// Skipped says why a catalog that needed the switch was left as it
	// was (not enough free disk space for the VACUUM).
	Skipped string
}

// vacuumHeadroom is how many times the catalog's size must be free on
// its file system before the one VACUUM that switches it: the copy is
// written through the WAL (the whole file once) and to a temporary
// database (once more).
const vacuumHeadroom = 2

// CompactFile gives the catalog's free pages back to the file system, so
// catalog.db shrinks after forget and gc (it never did: 6.7 MB at 5,000
// snapshots stayed 6.7 MB). A catalog created before cairn set
// auto_vacuum=incremental is switched once with a full VACUUM, which
// rewrites the whole file: the caller holds the repository's exclusive
// lock, and the VACUUM runs only when there is room for it. Otherwise
// PRAGMA incremental_vacuum frees every free page. The WAL is folded back
// last, which is when the file actually shrinks.
func (db *DB) CompactFile(ctx context.Context) (*Compaction, error) {
	if db.w == nil {
		return nil, fmt.Errorf("compact %s: %w", db.path, ErrOpenedReadOnly)
	}
	if err := db.Checkpoint(ctx); err != nil {
		return nil, fmt.Errorf("compact catalog: %w", err)
	}
	c := &Compaction{Before: fileSize(db.path)}
	var mode int
	if err := db.w.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		return nil, fmt.Errorf("compact catalog: %w", err)
	}
	switch {
	case mode == autoVacuumNone:
		if free, ok := freeSpace(filepath.Dir(db.path)); ok && free < vacuumHeadroom*c.Before {
			c.Skipped = fmt.Sprintf("the catalog (%d bytes) needs %d bytes free to be compacted, %d are", c.Before, vacuumHeadroom*c.Before, free)
			break
		}
		// The mode is a property of the connection until VACUUM writes it
		// into the file; the writer pool holds a single connection.
		if _, err := db.w.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
			return nil, fmt.Errorf("compact catalog: %w", err)
		}
		if _, err := db.w.ExecContext(ctx, "VACUUM"); err != nil {
			return nil, fmt.Errorf("compact catalog: vacuum: %w", noSpace(err))
		}
		c.Converted = true
	default:
		// Each step of the pragma frees one page: read it to the end.
		rows, err := db.w.QueryContext(ctx, "PRAGMA incremental_vacuum")
		if err != nil {
			return nil, fmt.Errorf("compact catalog: %w", err)
		}
		for rows.Next() {
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("compact catalog: %w", noSpace(err))
		}
	}
	if err := db.Checkpoint(ctx); err != nil {
		return nil, fmt.Errorf("compact catalog: %w", err)
	}
	c.After = fileSize(db.path)
	return c, nil
}

func fileSize(path string) int64 {
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// freeSpace is the space an unprivileged writer may still use in dir.
func freeSpace(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * st.Bsize, true
}

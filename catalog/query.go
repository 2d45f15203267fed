package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/cairn-dev/cairn/blobstore"
)

func isUniqueViolation(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique
}

const sourceColumns = `id, path, coalesce(policy, ''), runtime, coalesce(mass_deletion, 0), coalesce(excludes, ''), writer, coalesce(replica, ''), coalesce(replica_endpoint, '')`

func scanSource(sc interface{ Scan(...any) error }) (Source, error) {
	var s Source
	var runtime string
	err := sc.Scan(&s.ID, &s.Path, &s.Policy, &runtime, &s.MassDeletion, &s.Excludes, &s.Writer, &s.Replica.Target, &s.Replica.Endpoint)
	if runtime != "" {
		s.Runtime = strings.Split(runtime, "\n")
	}
	return s, err
}

// SourceByPath returns this writer's source rooted at path: its own, or
// that of a writer it adopted.
func (db *DB) SourceByPath(ctx context.Context, path string) (Source, error) {
	s, err := scanSource(db.r.QueryRowContext(ctx, "SELECT "+sourceColumns+` FROM source WHERE path = ?1 AND (writer = 0
		OR writer IN (SELECT slot FROM writer WHERE adopted_by = 0)) ORDER BY writer <> 0, writer LIMIT 1`, path))
	if errors.Is(err, sql.ErrNoRows) {
		return s, ErrNotFound
	}
	return s, err
}

// Sources lists every source.
func (db *DB) Sources(ctx context.Context) ([]Source, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+sourceColumns+" FROM source ORDER BY path, writer")
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	defer rows.Close()
	var out []Source
	for rows.Next() {
		s, err := scanSource(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

const snapshotColumns = `s.id, s.source_id, src.path, s.started_ns, s.finished_ns, s.label, s.tags, s.file_count, s.total_bytes, s.added_bytes, s.unreadable, src.writer`

func scanSnapshot(sc interface{ Scan(...any) error }) (Snapshot, error) {
	var s Snapshot
	var started, finished int64
	var tags string
	err := sc.Scan(&s.ID, &s.SourceID, &s.Source, &started, &finished, &s.Label, &tags, &s.FileCount, &s.TotalBytes, &s.AddedBytes, &s.Unreadable, &s.Writer)
	s.Started, s.Finished, s.Tags = nsTime(started), nsTime(finished), splitTags(tags)
	return s, err
}

// Snapshots lists snapshots oldest first, of one source or (sourceID 0) all.
func (db *DB) Snapshots(ctx context.Context, sourceID int64) ([]Snapshot, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+snapshotColumns+` FROM snapshot s JOIN source src ON src.id = s.source_id
		WHERE ? = 0 OR s.source_id = ? ORDER BY s.id`, sourceID, sourceID)
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	defer rows.Close()
	var out []Snapshot
	for rows.Next() {
		s, err := scanSnapshot(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// NoSnapshotError says which snapshot id does not exist; it matches
// ErrNotFound, and lets a caller name the id in its own words.
type NoSnapshotError struct{ ID int64 }

func (e *NoSnapshotError) Error() string        { return fmt.Sprintf("snapshot %d: %v", e.ID, ErrNotFound) }
func (e *NoSnapshotError) Is(target error) bool { return target == ErrNotFound }

// SnapshotByID returns one snapshot (a *NoSnapshotError, which matches
// ErrNotFound, if there is none).
func (db *DB) SnapshotByID(ctx context.Context, id int64) (Snapshot, error) {
	s, err := scanSnapshot(db.r.QueryRowContext(ctx, `SELECT `+snapshotColumns+` FROM snapshot s
		JOIN source src ON src.id = s.source_id WHERE s.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, &NoSnapshotError{ID: id}
	}
	return s, err
}

const versionColumns = `v.id, v.path, v.type, v.mode, v.size, v.mtime_ns, coalesce(v.content_id, 0), c.hash,
	coalesce(v.link_target, ''), coalesce(v.capture, ''), v.json_valid, v.json_entries, coalesce(v.db_check, ''),
	v.fp_ctime_ns, v.fp_ino, v.fp_extra, coalesce(v.uid, -1), coalesce(v.gid, -1), v.first_snapshot_id, coalesce(v.last_snapshot_id, 0)`

const versionFrom = ` FROM version v LEFT JOIN content c ON c.id = v.content_id `

func scanVersion(sc interface{ Scan(...any) error }) (*Version, error) {
	v := new(Version)
	return v, scanVersionInto(sc, v)
}

func scanVersionInto(sc interface{ Scan(...any) error }, v *Version) error {
	var ino int64
	err := sc.Scan(&v.ID, &v.Path, &v.Type, &v.Mode, &v.Size, &v.MtimeNs, &v.ContentID, &v.ContentHash,
		&v.LinkTarget, &v.Capture, &v.JSONValid, &v.JSONEntries, &v.DBCheck, &v.FpCtimeNs, &ino, &v.FpExtra, &v.UID, &v.GID, &v.First, &v.Last)
	v.FpIno = uint64(ino)
	return err
}

func (db *DB) versions(ctx context.Context, query string, args ...any) ([]*Version, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+versionColumns+versionFrom+query, args...)
	if err != nil {
		return nil, fmt.Errorf("query versions: %w", err)
	}
	defer rows.Close()
	var out []*Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// LiveVersions returns the live (newest) version of every path of a source,
// keyed by path: the baseline a new snapshot is compared with. A version
// whose content uses a chunk of a missing pack comes with FpCtimeNs -1, so
// that the snapshot reads it again (see missing.go).
func (db *DB) LiveVersions(ctx context.Context, sourceID int64) (map[string]*Version, error) {
	vs, err := db.versions(ctx, "WHERE v.source_id = ? AND v.last_snapshot_id IS NULL", sourceID)
	if err != nil {
		return nil, err
	}
	m := make(map[string]*Version, len(vs))
	for _, v := range vs {
		m[v.Path] = v
	}
	if err := db.markOnMissing(ctx, sourceID, m); err != nil {
		return nil, err
	}
	return m, nil
}

// inSnapshot restricts versions to those seen by snapshot ? of source ?.
const inSnapshot = ` v.source_id = ? AND v.first_snapshot_id <= ? AND (v.last_snapshot_id IS NULL OR v.last_snapshot_id >= ?) `

// VersionAt returns the version of path in a snapshot (ErrNotFound if the
// snapshot has no such path).
func (db *DB) VersionAt(ctx context.Context, snap Snapshot, path string) (*Version, error) {
	vs, err := db.versions(ctx, "WHERE"+inSnapshot+"AND v.path = ?", snap.SourceID, snap.ID, snap.ID, path)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, ErrNotFound
	}
	return vs[0], nil
}

// Tree returns path and everything below it in a snapshot, sorted by path
// (parents before children). path "." is the whole source.
func (db *DB) Tree(ctx context.Context, snap Snapshot, path string) ([]*Version, error) {
	if path == "." {
		return db.versions(ctx, "WHERE"+inSnapshot+"ORDER BY v.path", snap.SourceID, snap.ID, snap.ID)
	}
	return db.versions(ctx, treeWhere, snap.SourceID, snap.ID, snap.ID, path, path+"0", path, path+"/")
}

// treeWhere selects path ?4 and what is below it. Children of p sort
// between "p/" and "p0" ('0' follows '/'). The bounds p <= path < p0 stand
// outside the OR, so that version_by_path is searched on them: with the OR
// alone SQLite searched it on source_id only and read every path of the
// source (for a one-file restore of the agent-state corpus, 21,000 index
// entries: 1.9 MB of a cold catalog instead of 0.2 MB).
const treeWhere = "WHERE" + inSnapshot + "AND v.path >= ? AND v.path < ? AND (v.path = ? OR v.path > ?) ORDER BY v.path"

// History returns every version of one path, newest first.
func (db *DB) History(ctx context.Context, sourceID int64, path string) ([]*Version, error) {
	return db.versions(ctx, "WHERE v.source_id = ? AND v.path = ? ORDER BY v.first_snapshot_id DESC", sourceID, path)
}

// SnapshotRange returns the first and last existing snapshots that saw v
// (0, 0 when none do).
func (db *DB) SnapshotRange(ctx context.Context, sourceID int64, v *Version) (first, last int64, err error) {
	last = v.Last
	if last == 0 {
		last = 1<<63 - 1
	}
	var f, l sql.NullInt64
	err = db.r.QueryRowContext(ctx, "SELECT min(id), max(id) FROM snapshot WHERE source_id = ? AND id BETWEEN ? AND ?",
		sourceID, v.First, last).Scan(&f, &l)
	return f.Int64, l.Int64, err
}

// ChunkID looks up a stored chunk by hash on the read pool; see FindChunk.
func (db *DB) ChunkID(ctx context.Context, hash []byte) (int64, bool, error) {
	id, _, found, err := db.FindChunk(ctx, hash)
	return id, found, err
}

// HasChunks reports whether any chunk is stored (an empty repository needs
// no lookups).
func (db *DB) HasChunks(ctx context.Context) (bool, error) {
	var n int
	err := db.r.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM chunk)").Scan(&n)
	return n == 1, err
}

// ChunkLoc is where a chunk lives: its stored blob, and where in the
// blob's plaintext the chunk starts (a blob can hold several chunks).
type ChunkLoc struct {
	ID             int64
	Hash           [32]byte
	Pack           string
	Offset, Length int64
	Size           int64
	PlainOffset    int64
	// Missing: the pack was found missing from the store (pack.missing_ns).
	Missing bool
}

// Entry is l as the blobstore names it.
func (l ChunkLoc) Entry() blobstore.Entry {
	return blobstore.Entry{ID: l.Hash, Offset: l.Offset, Length: l.Length, Size: l.Size, PlainOffset: l.PlainOffset}
}

// Content is a file's bytes as a list of chunk locations.
type Content struct {
	ID       int64
	Hash     [32]byte
	Size     int64
	Chunking string
	Chunks   []ChunkLoc
}

// ContentByID loads a content and the location of each of its chunks.
func (db *DB) ContentByID(ctx context.Context, id int64) (*Content, error) {
	l, err := db.ContentList(ctx, id)
	if err != nil {
		return nil, err
	}
	c := &Content{ID: id, Hash: l.Hash, Size: l.Size, Chunking: l.Chunking}
	if c.Chunks, err = db.chunkLocs(ctx, l.ChunkIDs); err != nil {
		return nil, fmt.Errorf("content %d: %w", id, err)
	}
	return c, nil
}

// ContentsByID loads many contents and their chunk locations with a few
// queries for the lot instead of two per content; a restore of thousands
// of small files spent a quarter of its time on those. Contents missing
// from the catalog are missing from the map.
func (db *DB) ContentsByID(ctx context.Context, ids []int64) (map[int64]*Content, error) {
	out := make(map[int64]*Content, len(ids))
	lists := map[int64][]int64{}
	const batch = 500 // well under SQLite's limit on bound parameters
	for start := 0; start < len(ids); start += batch {
		part := ids[start:min(start+batch, len(ids))]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		q := "SELECT id, hash, size, chunking, chunks FROM content WHERE id IN (?" + strings.Repeat(",?", len(part)-1) + ")"
		rows, err := db.r.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("read contents: %w", err)
		}
		for rows.Next() {
			c := &Content{}
			var hash, list []byte
			if err := rows.Scan(&c.ID, &hash, &c.Size, &c.Chunking, &list); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read contents: %w", err)
			}
			copy(c.Hash[:], hash)
			if lists[c.ID], err = DecodeChunkList(list); err != nil {
				rows.Close()
				return nil, fmt.Errorf("content %d: %w", c.ID, err)
			}
			out[c.ID] = c
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read contents: %w", err)
		}
	}
	var all []int64
	for _, l := range lists {
		all = append(all, l...)
	}
	byID, err := db.chunksAmong(ctx, all)
	if err != nil {
		return nil, err
	}
	for id, list := range lists {
		c := out[id]
		c.Chunks = make([]ChunkLoc, len(list))
		for i, chunk := range list {
			l, ok := byID[chunk]
			if !ok {
				return nil, fmt.Errorf("content %d: chunk %d missing from the catalog: %w", id, chunk, ErrNotFound)
			}
			c.Chunks[i] = l
		}
	}
	return out, nil
}

// chunkBatch is how many chunk ids one lookup query names: well under
// SQLite's limit on bound parameters.
const chunkBatch = 500

// chunkQueries holds the prepared lookups of one chunksAmong call: by a
// list of ids (IN, one rowid search each) and by a run of consecutive ids
// (BETWEEN, one range of the table).
type chunkQueries struct {
	db    *DB
	in    map[int]*sql.Stmt // by number of ids
	run   *sql.Stmt
	packs map[int64]packRef
}

// packRef is what a chunk location needs of its pack.
type packRef struct {
	name    string
	missing bool
}

// chunkRow is a chunk's row, its pack known by id until packRefs names it.
type chunkRow struct {
	ChunkLoc
	packID int64
}

// chunkRowColumns are what scanChunkRow reads, from chunk c alone: joining
// pack made SQLite read a pack row, and Go allocate its 64-byte name, for
// every chunk; a lookup of thousands of chunks meets a few packs.
const chunkRowColumns = `c.id, c.hash, c.pack_id, c.offset, c.length, c.size, c.plain_offset`

// chunkByIDs and chunkRun are the lookups: their plans are pinned in
// TestChunkLookupPlans (rowid searches, never a scan of the table).
const (
	chunkByIDs = `SELECT ` + chunkRowColumns + ` FROM chunk c WHERE c.id IN (?` // + ",?"... + ")"
	chunkRun   = `SELECT ` + chunkRowColumns + ` FROM chunk c WHERE c.id BETWEEN ? AND ?`
)

func (q *chunkQueries) close() {
	for _, st := range q.in {
		st.Close()
	}
	if q.run != nil {
		q.run.Close()
	}
}

// scan reads the chunk rows of a query into out.
func (q *chunkQueries) scan(ctx context.Context, st *sql.Stmt, args []any, out func(chunkRow)) error {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("read chunks: %w", err)
	}
	defer rows.Close()
	var hash sql.RawBytes
	for rows.Next() {
		var r chunkRow
		if err := rows.Scan(&r.ID, &hash, &r.packID, &r.Offset, &r.Length, &r.Size, &r.PlainOffset); err != nil {
			return fmt.Errorf("read chunks: %w", err)
		}
		copy(r.Hash[:], hash)
		out(r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read chunks: %w", err)
	}
	return nil
}

// byIDs reads the chunks of sorted, distinct ids: a run of consecutive ids
// with one range query, the rest chunkBatch at a time by rowid, so that no
// row is read that is not wanted.
func (q *chunkQueries) byIDs(ctx context.Context, ids []int64, out func(chunkRow)) error {
	var loose []int64
	flush := func() error {
		for len(loose) > 0 {
			part := loose[:min(chunkBatch, len(loose))]
			loose = loose[len(part):]
			st := q.in[len(part)]
			if st == nil {
				var err error
				if st, err = q.db.r.PrepareContext(ctx, chunkByIDs+strings.Repeat(",?", len(part)-1)+")"); err != nil {
					return fmt.Errorf("read chunks: %w", err)
				}
				if q.in == nil {
					q.in = map[int]*sql.Stmt{}
				}
				q.in[len(part)] = st
			}
			args := make([]any, len(part))
			for i, id := range part {
				args[i] = id
			}
			if err := q.scan(ctx, st, args, out); err != nil {
				return err
			}
		}
		return nil
	}
	for i := 0; i < len(ids); {
		j := i + 1
		for j < len(ids) && ids[j] == ids[j-1]+1 {
			j++
		}
		if j-i < chunkRunMin {
			loose = append(loose, ids[i:j]...)
			i = j
			continue
		}
		if q.run == nil {
			var err error
			if q.run, err = q.db.r.PrepareContext(ctx, chunkRun); err != nil {
				return fmt.Errorf("read chunks: %w", err)
			}
		}
		if err := q.scan(ctx, q.run, []any{ids[i], ids[j-1]}, out); err != nil {
			return err
		}
		i = j
	}
	return flush()
}

// chunkRunMin is the length from which a run of consecutive ids is read
// as a range rather than id by id.
const chunkRunMin = 16

// resolve names the packs of rows (one query for the packs not met yet)
// and fills in each location's pack.
func (q *chunkQueries) resolve(ctx context.Context, rows []chunkRow) error {
	var want []int64
	for _, r := range rows {
		if _, ok := q.packs[r.packID]; !ok {
			want = append(want, r.packID)
		}
	}
	slices.Sort(want)
	want = slices.Compact(want)
	if q.packs == nil {
		q.packs = map[int64]packRef{}
	}
	for start := 0; start < len(want); start += chunkBatch {
		part := want[start:min(start+chunkBatch, len(want))]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		res, err := q.db.r.QueryContext(ctx, "SELECT id, name, missing_ns IS NOT NULL FROM pack WHERE id IN (?"+strings.Repeat(",?", len(part)-1)+")", args...)
		if err != nil {
			return fmt.Errorf("read packs: %w", err)
		}
		for res.Next() {
			var id int64
			var p packRef
			if err := res.Scan(&id, &p.name, &p.missing); err != nil {
				res.Close()
				return fmt.Errorf("read packs: %w", err)
			}
			q.packs[id] = p
		}
		err = res.Err()
		res.Close()
		if err != nil {
			return fmt.Errorf("read packs: %w", err)
		}
	}
	for i := range rows {
		p, ok := q.packs[rows[i].packID]
		if !ok {
			return fmt.Errorf("chunk %d: pack %d missing from the catalog: %w", rows[i].ID, rows[i].packID, ErrNotFound)
		}
		rows[i].Pack, rows[i].Missing = p.name, p.missing
	}
	return nil
}

// chunksAmong looks up the chunks with the given ids (in any order, repeats
// allowed), reading only their rows: consecutive runs as ranges, the rest
// by rowid (the range queries over clusters of nearby ids it replaced read
// up to 64 unwanted rows per wanted one, a tenth of a restore's CPU).
func (db *DB) chunksAmong(ctx context.Context, ids []int64) (map[int64]ChunkLoc, error) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	out := make(map[int64]ChunkLoc, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	q := &chunkQueries{db: db}
	defer q.close()
	rows := make([]chunkRow, 0, len(ids))
	if err := q.byIDs(ctx, ids, func(r chunkRow) { rows = append(rows, r) }); err != nil {
		return nil, err
	}
	if err := q.resolve(ctx, rows); err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.ID] = r.ChunkLoc
	}
	return out, nil
}

// chunkLocs resolves ids in order (a content's chunk list: chunks written
// together have consecutive ids, so most come in long runs).
func (db *DB) chunkLocs(ctx context.Context, ids []int64) ([]ChunkLoc, error) {
	byID, err := db.chunksAmong(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]ChunkLoc, len(ids))
	for i, id := range ids {
		l, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("chunk %d missing from the catalog: %w", id, ErrNotFound)
		}
		out[i] = l
	}
	return out, nil
}

// chunkLocColumns are what scanChunkLoc reads, from chunk c JOIN pack p.
const chunkLocColumns = `c.id, c.hash, p.name, c.offset, c.length, c.size, c.plain_offset, p.missing_ns IS NOT NULL`

// scanChunkLoc reads a row of chunkLocColumns.
func scanChunkLoc(rows *sql.Rows) (ChunkLoc, error) {
	var l ChunkLoc
	var hash []byte
	err := rows.Scan(&l.ID, &hash, &l.Pack, &l.Offset, &l.Length, &l.Size, &l.PlainOffset, &l.Missing)
	copy(l.Hash[:], hash)
	return l, err
}

// Seen is a version of a path with the existing snapshots that saw it.
type Seen struct {
	*Version
	FirstSnapshot, LastSnapshot int64
	FirstSeen, LastSeen         time.Time
}

// HistoryRanges returns every version of one path that some existing
// snapshot saw, newest first, with those snapshots: one query, however
// long the history.
func (db *DB) HistoryRanges(ctx context.Context, sourceID int64, path string) ([]Seen, error) {
	rows, err := db.r.QueryContext(ctx, `WITH v AS (
			SELECT version.*,
				(SELECT min(s.id) FROM snapshot s WHERE s.source_id = version.source_id AND s.id >= version.first_snapshot_id
					AND (version.last_snapshot_id IS NULL OR s.id <= version.last_snapshot_id)) AS seen_first,
				(SELECT max(s.id) FROM snapshot s WHERE s.source_id = version.source_id AND s.id >= version.first_snapshot_id
					AND (version.last_snapshot_id IS NULL OR s.id <= version.last_snapshot_id)) AS seen_last
			FROM version WHERE source_id = ? AND path = ?)
		SELECT `+versionColumns+`, v.seen_first, v.seen_last, sf.started_ns, sl.started_ns
		FROM v LEFT JOIN content c ON c.id = v.content_id
		JOIN snapshot sf ON sf.id = v.seen_first JOIN snapshot sl ON sl.id = v.seen_last
		ORDER BY v.first_snapshot_id DESC`, sourceID, path)
	if err != nil {
		return nil, fmt.Errorf("query history: %w", err)
	}
	defer rows.Close()
	var out []Seen
	for rows.Next() {
		v := new(Version)
		var s Seen
		var ino, fs, ls int64
		err := rows.Scan(&v.ID, &v.Path, &v.Type, &v.Mode, &v.Size, &v.MtimeNs, &v.ContentID, &v.ContentHash,
			&v.LinkTarget, &v.Capture, &v.JSONValid, &v.JSONEntries, &v.DBCheck, &v.FpCtimeNs, &ino, &v.FpExtra, &v.UID, &v.GID, &v.First, &v.Last,
			&s.FirstSnapshot, &s.LastSnapshot, &fs, &ls)
		if err != nil {
			return nil, err
		}
		v.FpIno = uint64(ino)
		s.Version, s.FirstSeen, s.LastSeen = v, nsTime(fs), nsTime(ls)
		out = append(out, s)
	}
	return out, rows.Err()
}

package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// NewPack is a sealed, durable pack to record.
type NewPack struct {
	Name string
	Size int64
}

// NewChunk is a chunk written by this snapshot into Packs[Pack].
type NewChunk struct {
	Hash           [32]byte
	Pack           int
	Offset, Length int64
	Size           int64
	PlainOffset    int64 // where the chunk starts in its blob's plaintext
}

// ChunkRef names a chunk in a content's list: > 0 is an existing chunk id,
// < 0 is NewChunks[-ref-1] of the same commit.
type ChunkRef int64

// NewContent is file content read by this snapshot.
type NewContent struct {
	Hash     [32]byte
	Size     int64
	Chunking string
	Chunks   []ChunkRef
}

// NewVersion is a path that is new or changed in this snapshot: the
// fields of a Version the record carries (the commit assigns the row's
// id and interval, and Content names its content). Content indexes
// Contents; -1 for dirs and symlinks.
//
// It holds those fields itself rather than a whole Version: a commit
// holds one per new path, and at 1M files the 64 bytes a Version's id,
// content id and hash, and interval added to each (240 bytes, now 176)
// were 64 MB of the heap at the moment the snapshot holds the most (the
// commit's rows beside what was read). Peak RSS of a first snapshot of
// 300k small files went from 354 to 317 MB (medians of 3 alternated
// runs); at 1M from 1,099 to 1,050 MB, within the spread of one binary.
type NewVersion struct {
	Path        string
	Type        string
	LinkTarget  string
	Capture     string
	DBCheck     string
	FpExtra     string
	Size        int64
	MtimeNs     int64
	FpCtimeNs   int64
	FpIno       uint64
	JSONEntries sql.NullInt64
	// UID and GID owned the entry at capture; -1 when not recorded.
	UID, GID  int64
	Mode      uint32
	JSONValid sql.NullBool
	Content   int
}

// Refresh updates the stat fingerprint of a live version whose bytes and
// metadata were read again and found equal.
type Refresh struct {
	ID        int64
	FpCtimeNs int64
	FpIno     uint64
	FpExtra   string
}

// Warning is something a person should know about a snapshot.
type Warning struct {
	Path    string
	Kind    string // one of the Warn* constants
	Message string // one line, no CLI vocabulary (the CLI renders hints)
	// RefSnapshotID is the snapshot to restore from, if any; it is held
	// against retention for WarningHoldFor.
	RefSnapshotID int64
}

// Commit is everything one snapshot adds, applied in one transaction.
type Commit struct {
	Source            string
	Started, Finished time.Time
	Label             string
	Tags              []string
	FileCount         int64
	TotalBytes        int64
	AddedBytes        int64
	Unreadable        int64 // paths that could not be read: the snapshot is incomplete
	Packs             []NewPack
	NewChunks         []NewChunk
	Contents          []NewContent
	Versions          []NewVersion
	Close             []int64 // live versions that changed or vanished
	Refresh           []Refresh
	Warnings          []Warning
	// Condemned are the pack files gc plans condemn (the snapshot's view
	// of gc/). A stored content whose chunks lie in one is not reused by
	// hash: its rows may be gone already from the catalog of the writer
	// whose gc condemned it, and the next gc deletes the file. Not part
	// of the record: the content ids the commit chose are.
	Condemned map[string]bool
	// CondemnedChunks are chunks gc plans condemn: the same.
	CondemnedChunks map[[32]byte]bool
}

// ErrAdopted means another writer adopted this one's sources (cairn
// adopt): their history goes on there, not here.
var ErrAdopted = errors.New("catalog: another host adopted this host's sources")

// ErrConflict means the live versions changed under a snapshot (another
// process snapshotted the same source without holding its lock).
var ErrConflict = errors.New("catalog: live versions changed during the snapshot")

// CommitSnapshot records c atomically and returns the new snapshot id.
// Every pack must already be durable in the blob store. It may reorder
// c.NewChunks and rewrite the contents' chunk lists to match
// (orderForInsert); c means the same afterwards.
func (db *DB) CommitSnapshot(ctx context.Context, c *Commit) (int64, error) {
	if rows := len(c.NewChunks) + len(c.Contents) + len(c.Versions); db.w != nil && rows >= bigCommitRows {
		// A big first snapshot inserts its content hashes into a unique
		// index in random order (its chunks go in hash order,
		// orderForInsert), and with SQLite's default 2 MiB page cache
		// nearly every insert missed it: the commit of 1M small files
		// (BenchmarkCommitFirstSnapshot, alternating runs) took 26.3 and
		// 25.4 CPU s with it, 18.0 and 16.2 with 32 MiB (64 MiB gained no
		// more). Only big commits get it: the cache fills as pages are
		// touched, and on the agent-state corpus (90k rows) it raised a
		// first snapshot's peak RSS from 43 to 55 MiB for no measurable
		// gain. Its size follows the commit, 32 bytes a row: at 100k small
		// files (300k rows) 8 MiB cost the commit what 32 did (1.30-1.34
		// CPU s against 1.37-1.39) and the benchmark's peak RSS went from
		// 199-214 to 159 MB; at 1M 8 MiB took 23.7 CPU s, 32 MiB 20.3.
		// The writer has one connection, so the pragma holds for this
		// commit.
		kib := min(32<<10, max(8<<10, rows/32))
		if _, err := db.w.ExecContext(ctx, "PRAGMA cache_size = -"+strconv.Itoa(kib)); err == nil {
			defer db.w.ExecContext(context.WithoutCancel(ctx), "PRAGMA cache_size = -2000")
		}
	}
	if db.w != nil {
		// Statement journals in memory: multi-row inserts in a long
		// transaction each open one, and in a temp file they cost 3 of the
		// 5 system calls per file of a first snapshot of small files
		// (30,882 pwrite calls for 10k files). A journal lives for one
		// statement of at most rowsPerInsert rows, so memory stays small;
		// only the commit gets it (a VACUUM's temp copy must stay on disk).
		if _, err := db.w.ExecContext(ctx, "PRAGMA temp_store = MEMORY"); err == nil {
			defer db.w.ExecContext(context.WithoutCancel(ctx), "PRAGMA temp_store = DEFAULT")
		}
	}
	orderForInsert(c)
	rec, err := db.mutate(ctx, func(tx *sql.Tx) (record, error) {
		// The snapshot continues the source's history in the source's
		// writer slot: this writer's own, or one it adopted.
		var slot int64
		if src, err := sourceFor(ctx, tx, 0, c.Source, false); err == nil {
			slot = SlotOf(src)
		} else if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		// A writer another one adopted (it was taken for lost) must not go
		// on numbering snapshots in the slot the adopter continues.
		var by sql.NullInt64
		if err := tx.QueryRowContext(ctx, "SELECT adopted_by FROM writer WHERE slot = ?", slot).Scan(&by); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		if by.Valid && by.Int64 != 0 {
			return nil, ErrAdopted
		}
		id, err := nextSnapshotID(ctx, tx, slot)
		if err != nil {
			return nil, err
		}
		if recordWriteVersion == 1 {
			return &snapshotRecord{ID: id, Commit: c}, nil // ids assigned as applied
		}
		ids, err := assignIDs(ctx, tx, c, 0, false)
		return &snapshotRecord{ID: id, Commit: c, IDs: ids}, err
	})
	if err != nil {
		return 0, fmt.Errorf("commit snapshot of %s: %w", c.Source, err)
	}
	return rec.(*snapshotRecord).ID, nil
}

// bigCommitRows is the size of a commit (new chunks, contents and
// versions) from which it gets a page cache of 8-32 MiB.
const bigCommitRows = 200_000

// nextSnapshotID is the id the next snapshot gets. Snapshot ids never
// repeat, even after the newest snapshots were forgotten (SQLite alone
// would hand out max(id)+1 again): version intervals that survived the
// forget still reach up to the old ids, and a reused id would make such a
// version part of the new snapshot.
func nextSnapshotID(ctx context.Context, tx *sql.Tx, slot int64) (int64, error) {
	next, err := nextInSlot(ctx, tx, "snapshot", slot)
	if err != nil {
		return 0, err
	}
	highest, err := highestSnapshot(ctx, tx, slot)
	if err != nil {
		return 0, err
	}
	if highest >= next {
		next = highest + 1
	}
	if SlotOf(next) != slot {
		return 0, fmt.Errorf("next snapshot id: writer slot %d is full", slot)
	}
	return next, nil
}

// assignIDs gives the rows a commit creates their ids in the writer's
// slot: new packs, chunks, contents and versions take consecutive ids from
// the next free one, and a content whose hash is stored already takes the
// lowest such row's id. reuseChunks gives a chunk whose hash is stored
// already that row too (a version 1 record's meaning).
func assignIDs(ctx context.Context, tx *sql.Tx, c *Commit, slot int64, reuseChunks bool) (*commitIDs, error) {
	ids := &commitIDs{reuseChunks: reuseChunks}
	for _, b := range []struct {
		table string
		id    *int64
	}{{"pack", &ids.PackBase}, {"chunk", &ids.ChunkBase}, {"content", &ids.ContentBase}, {"version", &ids.VersionBase}} {
		var err error
		if *b.id, err = nextIn(ctx, tx, b.table, slot, !reuseChunks); err != nil {
			return nil, err
		}
	}
	if len(c.Contents) == 0 {
		return ids, nil
	}
	ids.ContentIDs = make([]int64, len(c.Contents))
	hashes := make([][32]byte, len(c.Contents))
	for i := range c.Contents {
		hashes[i] = c.Contents[i].Hash
	}
	stored, err := storedContents(ctx, tx, hashes)
	if err != nil {
		return nil, err
	}
	if !reuseChunks && len(c.Condemned)+len(c.CondemnedChunks) > 0 {
		if err := dropCondemned(ctx, tx, stored, c.Condemned, c.CondemnedChunks); err != nil {
			return nil, err
		}
	}
	seen := make(map[[32]byte]int64, len(c.Contents))
	var reused []int
	for i := range c.Contents {
		h := c.Contents[i].Hash
		if id, ok := seen[h]; ok {
			ids.ContentIDs[i] = id
			continue
		}
		id, ok := stored[h]
		if !ok {
			seen[h] = ids.ContentBase + int64(i)
			continue
		}
		ids.ContentIDs[i] = id
		seen[h] = id
		reused = append(reused, i)
	}
	if reuseChunks || len(reused) == 0 {
		return ids, nil // a version 1 record: the rows stay as they are
	}
	// The record names a reused row with the row's own chunk list: a
	// catalog that lost the row (forgotten meanwhile) inserts it as every
	// other catalog has it.
	st, err := tx.PrepareContext(ctx, "SELECT chunks FROM content WHERE id = ?")
	if err != nil {
		return nil, err
	}
	defer st.Close()
	for _, i := range reused {
		ct := &c.Contents[i]
		var list []byte
		if err := st.QueryRowContext(ctx, ids.ContentIDs[i]).Scan(&list); err != nil {
			return nil, fmt.Errorf("read content %d: %w", ids.ContentIDs[i], err)
		}
		chunks, err := DecodeChunkList(list)
		if err != nil {
			return nil, fmt.Errorf("content %d: %w", ids.ContentIDs[i], err)
		}
		ct.Chunks = ct.Chunks[:0]
		for _, ch := range chunks {
			ct.Chunks = append(ct.Chunks, ChunkRef(ch))
		}
	}
	return ids, nil
}

// storedContents maps each of hashes the content table holds to its
// lowest id. The first snapshot into a new repository asks about every
// file and finds none: at 1M small files the 2,000 lookups cost 0.7-1.0
// CPU s, where one look at the table tells it is empty.
func storedContents(ctx context.Context, tx *sql.Tx, hashes [][32]byte) (map[[32]byte]int64, error) {
	var some bool
	if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM content)").Scan(&some); err != nil {
		return nil, fmt.Errorf("look up content: %w", err)
	}
	if !some {
		return map[[32]byte]int64{}, nil
	}
	return lowestByHash(ctx, tx, "content", hashes)
}

// dropCondemned removes from stored (content hash -> row id) the contents
// whose chunks lie in condemned packs or are condemned chunks: such a
// content is stored again, a new row of its own.
func dropCondemned(ctx context.Context, tx *sql.Tx, stored map[[32]byte]int64, condemned map[string]bool, chunksOut map[[32]byte]bool) error {
	st, err := tx.PrepareContext(ctx, "SELECT chunks FROM content WHERE id = ?")
	if err != nil {
		return err
	}
	defer st.Close()
	for h, id := range stored {
		var list []byte
		if err := st.QueryRowContext(ctx, id).Scan(&list); err != nil {
			return fmt.Errorf("read content %d: %w", id, err)
		}
		out, err := inCondemned(ctx, tx, list, condemned, chunksOut)
		if err != nil {
			return err
		}
		if out {
			delete(stored, h)
		}
	}
	return nil
}

// inCondemned reports whether a chunk of an encoded chunk list lies in a
// condemned pack (or is gone: then the content cannot be reused either).
func inCondemned(ctx context.Context, tx *sql.Tx, list []byte, condemned map[string]bool, chunksOut map[[32]byte]bool) (bool, error) {
	chunks, err := DecodeChunkList(list)
	if err != nil {
		return true, nil
	}
	st, err := tx.PrepareContext(ctx, "SELECT p.name, c.hash FROM chunk c JOIN pack p ON p.id = c.pack_id WHERE c.id = ?")
	if err != nil {
		return false, err
	}
	defer st.Close()
	for _, ch := range chunks {
		var name string
		var hash []byte
		err := st.QueryRowContext(ctx, ch).Scan(&name, &hash)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && (condemned[name] || chunksOut[[32]byte(hash)])) {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("look up chunk %d: %w", ch, err)
		}
	}
	return false, nil
}

// commit applies a snapshot record: c as snapshot snapID.
// slot is the record's writer, whose rows the new ones are; the snapshot
// id's slot is the writer whose source it continues.
func commit(ctx context.Context, tx *sql.Tx, snapID int64, c *Commit, ids *commitIDs, slot int64) error {
	sourceID, err := sourceFor(ctx, tx, SlotOf(snapID), c.Source, true)
	if err != nil {
		return err
	}
	if SlotOf(snapID) == 0 {
		_, err = tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES ('highest_snapshot_id', ?)
		ON CONFLICT(key) DO UPDATE SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))`, strconv.FormatInt(snapID, 10))
	} else {
		_, err = tx.ExecContext(ctx, "UPDATE writer SET highest_snapshot = max(highest_snapshot, ?) WHERE slot = ?", snapID, SlotOf(snapID))
	}
	if err != nil {
		return fmt.Errorf("record snapshot id: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO snapshot(id, source_id, started_ns, finished_ns, label, tags, file_count, total_bytes, added_bytes, unreadable)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, snapID, sourceID, c.Started.UnixNano(), c.Finished.UnixNano(), c.Label, joinTags(c.Tags),
		c.FileCount, c.TotalBytes, c.AddedBytes, c.Unreadable)
	if err != nil {
		return fmt.Errorf("insert snapshot: %w", err)
	}

	packIDs := make([]int64, len(c.Packs))
	for i, p := range c.Packs {
		if packIDs[i], err = upsertReturningID(ctx, tx,
			"INSERT INTO pack(id, name, size, created_ns) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO NOTHING",
			"SELECT id FROM pack WHERE name = ?", []any{ids.PackBase + int64(i), p.Name, p.Size, c.Finished.UnixNano()}, p.Name); err != nil {
			return fmt.Errorf("insert pack %s: %w", p.Name, err)
		}
	}
	if err := repointMissing(ctx, tx, c.NewChunks, packIDs); err != nil {
		return err
	}
	for _, h := range []struct {
		table string
		base  int64
		n     int
	}{{"pack", ids.PackBase, len(c.Packs)}, {"chunk", ids.ChunkBase, len(c.NewChunks)}, {"content", ids.ContentBase, len(c.Contents)}} {
		if h.n > 0 && !ids.reuseChunks { // a version 1 record never did
			if err := raiseHigh(ctx, tx, h.table, h.base+int64(h.n)-1); err != nil {
				return err
			}
		}
	}
	chunkIDs, err := insertChunks(ctx, tx, c.NewChunks, packIDs, ids)
	if err != nil {
		return err
	}
	contentIDs, err := insertContents(ctx, tx, c.Contents, chunkIDs, ids)
	if err != nil {
		return err
	}
	if err := closeVersions(ctx, tx, c.Close, snapID-1); err != nil {
		return err
	}
	if err := insertVersions(ctx, tx, sourceID, snapID, c.Versions, contentIDs, ids.VersionBase); err != nil {
		return err
	}
	for _, r := range c.Refresh {
		if _, err := tx.ExecContext(ctx, "UPDATE version SET fp_ctime_ns = ?, fp_ino = ?, fp_extra = ? WHERE id = ?",
			r.FpCtimeNs, int64(r.FpIno), r.FpExtra, r.ID); err != nil {
			return fmt.Errorf("refresh version: %w", err)
		}
	}
	for _, w := range c.Warnings {
		if err := insertWarning(ctx, tx, snapID, c.Started, w, slot); err != nil {
			return err
		}
	}
	if err := recordState(ctx, tx, sourceID, snapID, len(c.Versions) > 0 || len(c.Close) > 0); err != nil {
		return err
	}
	return nil
}

// upsertReturningID inserts a row unless its unique key exists and returns
// the row's id either way: the key may have been added by a concurrent
// snapshot that committed first.
func upsertReturningID(ctx context.Context, tx *sql.Tx, insert, lookup string, args []any, key any) (int64, error) {
	res, err := tx.ExecContext(ctx, insert, args...)
	if err != nil {
		return 0, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return res.LastInsertId()
	}
	var id int64
	err = tx.QueryRowContext(ctx, lookup, key).Scan(&id)
	return id, err
}

func insertChunks(ctx context.Context, tx *sql.Tx, chunks []NewChunk, packIDs []int64, ids *commitIDs) ([]int64, error) {
	out := make([]int64, len(chunks))
	tail := ""
	if ids.reuseChunks {
		// A version 1 record: a chunk another snapshot stored first kept
		// its row, and ours was dead space in our pack that gc reclaims.
		hashes := make([][32]byte, len(chunks))
		for i := range chunks {
			hashes[i] = chunks[i].Hash
		}
		stored, err := lowestByHash(ctx, tx, "chunk", hashes)
		if err != nil {
			return nil, err
		}
		for i := range chunks {
			out[i] = stored[chunks[i].Hash]
		}
		tail = " ON CONFLICT(id) DO NOTHING"
	}
	// Two writers may store one chunk: each keeps its row (lookups take
	// the lowest id), and gc reclaims the spare.
	err := insertMany(ctx, tx, "INSERT INTO chunk(id, hash, pack_id, offset, length, size, plain_offset) VALUES", tail, 7, len(chunks),
		func(i int, args []any) []any {
			ch := &chunks[i]
			id := ids.ChunkBase + int64(i)
			if out[i] != 0 {
				id = out[i] // exists: the insert is skipped
			} else {
				out[i] = id
			}
			return append(args, id, ch.Hash[:], packIDs[ch.Pack], ch.Offset, ch.Length, ch.Size, ch.PlainOffset)
		}, nil)
	if err != nil {
		return nil, fmt.Errorf("insert chunks: %w", err)
	}
	return out, nil
}

// lowestByHash maps each hash table holds to its lowest id, with a
// statement per few hundred hashes: one per hash cost more in database/sql
// and cgo than the lookups themselves (a first snapshot of 100k files).
func lowestByHash(ctx context.Context, tx *sql.Tx, table string, hashes [][32]byte) (map[[32]byte]int64, error) {
	const per = 500
	out := map[[32]byte]int64{}
	args := make([]any, 0, per)
	for start := 0; start < len(hashes); start += per {
		end := min(start+per, len(hashes))
		args = args[:0]
		for i := start; i < end; i++ {
			args = append(args, hashes[i][:])
		}
		rows, err := tx.QueryContext(ctx, "SELECT hash, min(id) FROM "+table+" WHERE hash IN (?"+strings.Repeat(",?", end-start-1)+") GROUP BY hash", args...)
		if err != nil {
			return nil, fmt.Errorf("look up %s: %w", table, err)
		}
		for rows.Next() {
			var h []byte
			var id int64
			if err := rows.Scan(&h, &id); err != nil {
				rows.Close()
				return nil, err
			}
			var k [32]byte
			copy(k[:], h)
			out[k] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// insertContents inserts the contents a commit names, each under the id
// the record gives it unless a row holds that id already (a content this
// catalog has, or a content another writer's record inserted first with
// the same id and bytes), and returns their ids.
func insertContents(ctx context.Context, tx *sql.Tx, contents []NewContent, chunkIDs []int64, ids *commitIDs) ([]int64, error) {
	rebuild, err := dropHashIndex(ctx, tx, len(contents))
	if err != nil {
		return nil, err
	}
	var list []int64
	out := make([]int64, len(contents))
	err = insertMany(ctx, tx, "INSERT INTO content(id, hash, size, chunking, chunks) VALUES", " ON CONFLICT(id) DO NOTHING", 5, len(contents),
		func(i int, args []any) []any {
			ct := &contents[i]
			out[i] = ids.ContentBase + int64(i)
			if i < len(ids.ContentIDs) && ids.ContentIDs[i] != 0 {
				out[i] = ids.ContentIDs[i]
			}
			list = list[:0]
			for _, ref := range ct.Chunks {
				if ref > 0 {
					list = append(list, int64(ref))
				} else {
					list = append(list, chunkIDs[-ref-1])
				}
			}
			return append(args, out[i], ct.Hash[:], ct.Size, ct.Chunking, EncodeChunkList(list))
		}, nil)
	if err != nil {
		return nil, fmt.Errorf("insert contents: %w", err)
	}
	if rebuild {
		if _, err := tx.ExecContext(ctx, createContentByHash); err != nil {
			return nil, fmt.Errorf("index contents: %w", err)
		}
	}
	return out, nil
}

// createContentByHash is the index of migrations/0010_writers.sql, word
// for word (the schema's golden dump holds it to that).
const createContentByHash = "CREATE INDEX content_by_hash ON content(hash, id)"

// bulkIndexMin is the number of contents from which a commit into an
// empty content table builds content_by_hash after the rows rather than
// with them.
const bulkIndexMin = 10_000

// dropHashIndex drops content_by_hash when n contents are about to go
// into an empty content table, and reports whether it did: the caller
// then creates it again in the same transaction. Content hashes come in
// path order, which is random in hash order, so each insert into the
// index touched a random page; CREATE INDEX sorts once and writes the
// pages in order. A first snapshot (or a rebuild's first record) is such
// a commit. A failure rolls the whole transaction back, the drop with it.
func dropHashIndex(ctx context.Context, tx *sql.Tx, n int) (bool, error) {
	if n < bulkIndexMin {
		return false, nil
	}
	var empty bool
	if err := tx.QueryRowContext(ctx, "SELECT NOT EXISTS (SELECT 1 FROM content)").Scan(&empty); err != nil {
		return false, fmt.Errorf("look up content: %w", err)
	}
	if !empty {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, "DROP INDEX content_by_hash"); err != nil {
		return false, fmt.Errorf("index contents: %w", err)
	}
	return true, nil
}

func closeVersions(ctx context.Context, tx *sql.Tx, ids []int64, last int64) error {
	st, err := tx.PrepareContext(ctx, "UPDATE version SET last_snapshot_id = ? WHERE id = ? AND last_snapshot_id IS NULL")
	if err != nil {
		return err
	}
	defer st.Close()
	for _, id := range ids {
		res, err := st.ExecContext(ctx, last, id)
		if err != nil {
			return fmt.Errorf("close version: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrConflict
		}
	}
	return nil
}

func insertVersions(ctx context.Context, tx *sql.Tx, sourceID, snapID int64, vs []NewVersion, contentIDs []int64, base int64) error {
	err := insertMany(ctx, tx, `INSERT INTO version(id, source_id, path, type, mode, size, mtime_ns, content_id,
		link_target, capture, json_valid, json_entries, db_check, fp_ctime_ns, fp_ino, fp_extra, uid, gid, first_snapshot_id) VALUES`,
		"", 19, len(vs),
		func(i int, args []any) []any {
			v := &vs[i]
			var content, link, capture, dbCheck, uid, gid any
			if v.Content >= 0 {
				content = contentIDs[v.Content]
			}
			if v.Type == TypeSymlink {
				link = v.LinkTarget
			}
			if v.Capture != "" {
				capture = v.Capture
			}
			if v.DBCheck != "" {
				dbCheck = v.DBCheck
			}
			if v.UID >= 0 && v.GID >= 0 {
				uid, gid = v.UID, v.GID
			}
			return append(args, base+int64(i), sourceID, v.Path, v.Type, v.Mode, v.Size, v.MtimeNs, content, link, capture,
				v.JSONValid, v.JSONEntries, dbCheck, v.FpCtimeNs, int64(v.FpIno), v.FpExtra, uid, gid, snapID)
		}, nil)
	if isUniqueViolation(err) {
		return ErrConflict
	}
	var be *batchError
	if errors.As(err, &be) {
		return fmt.Errorf("insert versions %s .. %s: %w", vs[be.start].Path, vs[be.end-1].Path, be.err)
	}
	if err != nil {
		return fmt.Errorf("insert versions: %w", err)
	}
	return nil
}

package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
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

// NewVersion is a path that is new or changed in this snapshot. Content
// indexes Contents; -1 for dirs and symlinks.
type NewVersion struct {
	Version
	Content int
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
}

// ErrConflict means the live versions changed under a snapshot (another
// process snapshotted the same source without holding its lock).
var ErrConflict = errors.New("catalog: live versions changed during the snapshot")

// CommitSnapshot records c atomically and returns the new snapshot id.
// Every pack must already be durable in the blob store.
func (db *DB) CommitSnapshot(ctx context.Context, c *Commit) (int64, error) {
	if db.w != nil && len(c.NewChunks)+len(c.Contents)+len(c.Versions) >= bigCommitRows {
		// A big first snapshot inserts its chunk and content hashes into
		// two unique indexes in random order, and with SQLite's default
		// 2 MiB page cache nearly every insert missed it: the commit of 1M
		// small files (BenchmarkCommitFirstSnapshot, alternating runs) took
		// 26.3 and 25.4 CPU s with it, 18.0 and 16.2 with 32 MiB (64 MiB
		// gained no more). Only big commits get it: the cache fills as
		// pages are touched, and on the agent-state corpus (90k rows) it
		// raised a first snapshot's peak RSS from 43 to 55 MiB for no
		// measurable gain. The writer has one connection, so the pragma
		// holds for this commit.
		if _, err := db.w.ExecContext(ctx, "PRAGMA cache_size = -32768"); err == nil {
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
	rec, err := db.mutate(ctx, func(tx *sql.Tx) (record, error) {
		id, err := nextSnapshotID(ctx, tx)
		return &snapshotRecord{ID: id, Commit: c}, err
	})
	if err != nil {
		return 0, fmt.Errorf("commit snapshot of %s: %w", c.Source, err)
	}
	return rec.(*snapshotRecord).ID, nil
}

// bigCommitRows is the size of a commit (new chunks, contents and
// versions) from which it gets a 32 MiB page cache.
const bigCommitRows = 200_000

// nextSnapshotID is the id the next snapshot gets. Snapshot ids never
// repeat, even after the newest snapshots were forgotten (SQLite alone
// would hand out max(id)+1 again): version intervals that survived the
// forget still reach up to the old ids, and a reused id would make such a
// version part of the new snapshot.
func nextSnapshotID(ctx context.Context, tx *sql.Tx) (int64, error) {
	var snapID int64
	if err := tx.QueryRowContext(ctx, `SELECT max(coalesce((SELECT max(id) FROM snapshot), 0),
		coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'highest_snapshot_id'), 0)) + 1`).Scan(&snapID); err != nil {
		return 0, fmt.Errorf("next snapshot id: %w", err)
	}
	return snapID, nil
}

// commit applies a snapshot record: c as snapshot snapID.
func commit(ctx context.Context, tx *sql.Tx, snapID int64, c *Commit) error {
	sourceID, err := ensureSource(ctx, tx, c.Source)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES ('highest_snapshot_id', ?)
		ON CONFLICT(key) DO UPDATE SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))`, strconv.FormatInt(snapID, 10)); err != nil {
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
			"INSERT INTO pack(name, size, created_ns) VALUES (?, ?, ?) ON CONFLICT(name) DO NOTHING",
			"SELECT id FROM pack WHERE name = ?", []any{p.Name, p.Size, c.Finished.UnixNano()}, p.Name); err != nil {
			return fmt.Errorf("insert pack %s: %w", p.Name, err)
		}
	}
	if err := repointMissing(ctx, tx, c.NewChunks, packIDs); err != nil {
		return err
	}
	chunkIDs, err := insertChunks(ctx, tx, c.NewChunks, packIDs)
	if err != nil {
		return err
	}
	contentIDs, err := insertContents(ctx, tx, c.Contents, chunkIDs)
	if err != nil {
		return err
	}
	if err := closeVersions(ctx, tx, c.Close, snapID-1); err != nil {
		return err
	}
	if err := insertVersions(ctx, tx, sourceID, snapID, c.Versions, contentIDs); err != nil {
		return err
	}
	for _, r := range c.Refresh {
		if _, err := tx.ExecContext(ctx, "UPDATE version SET fp_ctime_ns = ?, fp_ino = ?, fp_extra = ? WHERE id = ?",
			r.FpCtimeNs, int64(r.FpIno), r.FpExtra, r.ID); err != nil {
			return fmt.Errorf("refresh version: %w", err)
		}
	}
	for _, w := range c.Warnings {
		if err := insertWarning(ctx, tx, snapID, c.Started, w); err != nil {
			return err
		}
	}
	if err := recordState(ctx, tx, sourceID, snapID, len(c.Versions) > 0 || len(c.Close) > 0); err != nil {
		return err
	}
	return nil
}

func ensureSource(ctx context.Context, tx *sql.Tx, path string) (int64, error) {
	id, err := upsertReturningID(ctx, tx, "INSERT INTO source(path) VALUES (?) ON CONFLICT(path) DO NOTHING",
		"SELECT id FROM source WHERE path = ?", []any{path}, path)
	if err != nil {
		return 0, fmt.Errorf("insert source %s: %w", path, err)
	}
	return id, nil
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

func insertChunks(ctx context.Context, tx *sql.Tx, chunks []NewChunk, packIDs []int64) ([]int64, error) {
	// A chunk another snapshot stored first keeps its row; ours is dead
	// space in our pack that gc reclaims.
	ids, err := insertByHash(ctx, tx, "chunk", "hash, pack_id, offset, length, size, plain_offset", 6, len(chunks),
		func(i int, args []any) []any {
			ch := &chunks[i]
			return append(args, ch.Hash[:], packIDs[ch.Pack], ch.Offset, ch.Length, ch.Size, ch.PlainOffset)
		},
		func(i int) []byte { return chunks[i].Hash[:] })
	if err != nil {
		return nil, fmt.Errorf("insert chunks: %w", err)
	}
	return ids, nil
}

func insertContents(ctx context.Context, tx *sql.Tx, contents []NewContent, chunkIDs []int64) ([]int64, error) {
	// A content already stored (a file went back to earlier bytes, or a
	// concurrent snapshot added them) keeps its row.
	var list []int64
	ids, err := insertByHash(ctx, tx, "content", "hash, size, chunking, chunks", 4, len(contents),
		func(i int, args []any) []any {
			ct := &contents[i]
			list = list[:0]
			for _, ref := range ct.Chunks {
				if ref > 0 {
					list = append(list, int64(ref))
				} else {
					list = append(list, chunkIDs[-ref-1])
				}
			}
			return append(args, ct.Hash[:], ct.Size, ct.Chunking, EncodeChunkList(list))
		},
		func(i int) []byte { return contents[i].Hash[:] })
	if err != nil {
		return nil, fmt.Errorf("insert contents: %w", err)
	}
	return ids, nil
}

// insertByHash inserts n rows into table, whose unique key is hash (the
// first of cols), and returns their ids. Rows are given ids up front; a row
// whose hash the table already holds is not inserted, and its id is the
// existing row's.
func insertByHash(ctx context.Context, tx *sql.Tx, table, cols string, ncols, n int,
	row func(i int, args []any) []any, hash func(i int) []byte) ([]int64, error) {
	first, err := nextID(ctx, tx, table)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, n)
	err = insertMany(ctx, tx, "INSERT INTO "+table+"(id, "+cols+") VALUES", " ON CONFLICT(hash) DO NOTHING", ncols+1, n,
		func(i int, args []any) []any {
			ids[i] = first + int64(i)
			return row(i, append(args, ids[i]))
		},
		func(start, end int, inserted int64) error {
			if inserted == int64(end-start) {
				return nil
			}
			for i := start; i < end; i++ {
				if err := tx.QueryRowContext(ctx, "SELECT id FROM "+table+" WHERE hash = ?", hash(i)).Scan(&ids[i]); err != nil {
					return fmt.Errorf("look up %s: %w", table, err)
				}
			}
			return nil
		})
	return ids, err
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

func insertVersions(ctx context.Context, tx *sql.Tx, sourceID, snapID int64, vs []NewVersion, contentIDs []int64) error {
	err := insertMany(ctx, tx, `INSERT INTO version(source_id, path, type, mode, size, mtime_ns, content_id,
		link_target, capture, json_valid, json_entries, db_check, fp_ctime_ns, fp_ino, fp_extra, uid, gid, first_snapshot_id) VALUES`,
		"", 18, len(vs),
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
			return append(args, sourceID, v.Path, v.Type, v.Mode, v.Size, v.MtimeNs, content, link, capture,
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

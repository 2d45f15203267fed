package catalog

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/blake3"
)

// A checkpoint is every replicated row, generic so that a column added by
// a migration is carried without new code (checkpoint format 1):
//
//	"cairn checkpoint" (16 bytes), byte 1 (the format version)
//	one zstd stream of:
//	  uvarint  schema version of the catalog that wrote it (user_version)
//	  uvarint  seq: the last record the rows reflect
//	  tables, each: name, uvarint column count, column names, then rows,
//	    each a byte 1 and one value per column; a byte 0 ends the table
//	  an empty name ends the tables, then uvarint: the number of rows
//	values: a tag byte, then 0 NULL, 1 INTEGER (zigzag varint), 2 REAL (8
//	bytes, little endian), 3 TEXT or 4 BLOB (uvarint length, bytes)
//	strings (names) are uvarint length + bytes
//
// Rows are in rowid order (meta: by key) and load with their ids, so
// records replayed after a checkpoint get the ids the live catalog gave
// (warning holds are the exception, see checkpointTables).
// A checkpoint loads into a catalog of the same or a newer schema (a
// column it lacks takes its default); one naming a column this cairn does
// not know is refused.
const (
	checkpointMagic   = "cairn checkpoint"
	checkpointVersion = 1
)

// checkpointTables are the tables a checkpoint holds, in the order they
// load. hold is local, except for the holds a snapshot's warnings place
// (holder NULL): replay of the snapshot record makes them, so a
// checkpoint carries them too, without their ids (process holds, which
// are local, take ids between them) and in an order of their own, so that
// the checkpoint of a rebuilt catalog is byte for byte the live one's.
// log_applied is local, but for the other writers' seqs, which go with
// the rows they produced.
var checkpointTables = []checkpointTable{
	{"meta", "*", "", "key"},
	// The slots the ids below use, and how far the other writers' logs
	// were applied (a rebuild from the checkpoint catches them up from
	// there): first, so that a catalog loading another writer's
	// checkpoint maps every id as the rows stream past.
	{"writer", "*", "", "slot"},
	{"id_high", "*", "", "slot, tbl"},
	{"log_applied", "*", "writer <> ''", "writer"},
	{"source", "*", "", "rowid"},
	{"snapshot", "*", "", "rowid"},
	{"pack", "*", "", "rowid"},
	{"chunk", "*", "", "rowid"},
	{"content", "*", "", "rowid"},
	{"version", "*", "", "rowid"},
	{"warning", "*", "", "rowid"},
	{"hold", "snapshot_id, reason, holder, pid, created_ns, expires_ns", "holder IS NULL", "snapshot_id, reason, created_ns, expires_ns, rowid"},
}

type checkpointTable struct{ name, cols, where, order string }

// ErrCheckpoint means a checkpoint does not decode or does not load.
var ErrCheckpoint = errors.New("catalog: bad checkpoint")

// DumpState writes a checkpoint of every replicated row to w, from one read
// transaction, and returns the seq of the last record the rows reflect (0
// for a catalog without a log: the checkpoint then stands for all its
// history, and the log starts at 1).
func (db *DB) DumpState(ctx context.Context, w io.Writer) (seq int64, err error) {
	if _, err := io.WriteString(w, checkpointMagic+"\x01"); err != nil {
		return 0, fmt.Errorf("write checkpoint: %w", err)
	}
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return 0, err
	}
	defer zw.Close()
	if seq, err = db.dump(ctx, zw); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, fmt.Errorf("write checkpoint: %w", err)
	}
	return seq, nil
}

// StateDigest is a BLAKE3 digest of every replicated row (of the stream a
// checkpoint compresses), from one read transaction, and the seq they
// reflect: a catalog rebuilt from checkpoint and log has the digest of the
// live catalog at the same seq. Cheaper than comparing two DumpStates,
// which are equal byte for byte too.
func (db *DB) StateDigest(ctx context.Context) (seq int64, digest [32]byte, err error) {
	h := blake3.New()
	if seq, err = db.dump(ctx, h); err != nil {
		return 0, digest, err
	}
	h.Sum(digest[:0])
	return seq, digest, nil
}

// dump writes the stream a checkpoint compresses.
func (db *DB) dump(ctx context.Context, w io.Writer) (seq int64, err error) {
	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("dump catalog: %w", err)
	}
	defer tx.Rollback() // read only
	var version int64
	if err := tx.QueryRowContext(ctx, "SELECT (SELECT user_version FROM pragma_user_version), "+strings.TrimPrefix(selectApplied, "SELECT ")).Scan(&version, &seq); err != nil {
		return 0, fmt.Errorf("dump catalog: %w", err)
	}
	var e encoder
	flush := func() error {
		_, err := w.Write(e.b)
		e.b = e.b[:0]
		return err
	}
	e.uvarint(uint64(version))
	e.uvarint(uint64(seq))
	var total uint64
	for _, t := range checkpointTables {
		q := "SELECT " + t.cols + " FROM " + t.name
		if t.where != "" {
			q += " WHERE " + t.where
		}
		q += " ORDER BY " + t.order
		rows, err := tx.QueryContext(ctx, q)
		if err != nil {
			return 0, fmt.Errorf("dump %s: %w", t.name, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			rows.Close()
			return 0, err
		}
		e.str(t.name)
		e.strs(cols)
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return 0, fmt.Errorf("dump %s: %w", t.name, err)
			}
			e.byte(1)
			for _, v := range vals {
				if err := appendValue(&e, v); err != nil {
					rows.Close()
					return 0, fmt.Errorf("dump %s: %w", t.name, err)
				}
			}
			total++
			if len(e.b) >= 256<<10 {
				if err := flush(); err != nil {
					rows.Close()
					return 0, fmt.Errorf("write checkpoint: %w", err)
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, fmt.Errorf("dump %s: %w", t.name, err)
		}
		e.byte(0)
	}
	e.str("")
	e.uvarint(total)
	if err := flush(); err != nil {
		return 0, fmt.Errorf("write checkpoint: %w", err)
	}
	return seq, nil
}

const (
	valNull = iota
	valInt
	valReal
	valText
	valBlob
)

func appendValue(e *encoder, v any) error {
	switch v := v.(type) {
	case nil:
		e.byte(valNull)
	case int64:
		e.byte(valInt)
		e.varint(v)
	case float64:
		e.byte(valReal)
		e.float(v)
	case string:
		e.byte(valText)
		e.str(v)
	case []byte:
		e.byte(valBlob)
		e.uvarint(uint64(len(v)))
		e.b = append(e.b, v...)
	case bool: // go-sqlite3 reports a column declared BOOLEAN so
		e.byte(valInt)
		if v {
			e.varint(1)
		} else {
			e.varint(0)
		}
	default:
		return fmt.Errorf("value of type %T", v)
	}
	return nil
}

// streamDecoder reads a checkpoint's stream; the first failure sticks.
type streamDecoder struct {
	r   *bufio.Reader
	err error
}

func (d *streamDecoder) fail(err error) {
	if d.err == nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		d.err = err
	}
}

func (d *streamDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(d.r)
	d.fail(err)
	return v
}

func (d *streamDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(d.r)
	d.fail(err)
	return v
}

func (d *streamDecoder) byte() byte {
	if d.err != nil {
		return 0
	}
	c, err := d.r.ReadByte()
	d.fail(err)
	return c
}

// maxCheckpointValue bounds one value (a content's chunk list of a 64 GiB
// file in 4 KiB pages is about 16 MiB).
const maxCheckpointValue = 1 << 30

func (d *streamDecoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > maxCheckpointValue {
		d.fail(fmt.Errorf("value of %d bytes", n))
		return nil
	}
	if n <= 64<<10 {
		b := make([]byte, n)
		_, err := io.ReadFull(d.r, b)
		d.fail(err)
		return b
	}
	// A damaged length must not allocate what the stream does not hold:
	// grow with the bytes that arrive.
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(d.r, int64(n))); err != nil {
		d.fail(err)
		return nil
	}
	if uint64(buf.Len()) != n {
		d.fail(io.ErrUnexpectedEOF)
		return nil
	}
	return buf.Bytes()
}

func (d *streamDecoder) value() any {
	switch d.byte() {
	case valNull:
		return nil
	case valInt:
		return d.varint()
	case valReal:
		var b [8]byte
		_, err := io.ReadFull(d.r, b[:])
		d.fail(err)
		return math.Float64frombits(binary.LittleEndian.Uint64(b[:]))
	case valText:
		return string(d.bytes())
	case valBlob:
		return d.bytes()
	default:
		d.fail(errors.New("bad value tag"))
		return nil
	}
}

// loadCheckpoint fills an empty catalog from a checkpoint and sets its
// applied seq to the checkpoint's.
func (db *DB) loadCheckpoint(ctx context.Context, r io.Reader) (seq int64, err error) {
	return db.loadCheckpointOf(ctx, r, "")
}

// loadCheckpointOf loads the checkpoint of writer ("": this catalog's
// own): another writer's has its ids in that writer's slots, which are
// mapped into this catalog's as the rows load (foreignLoad).
func (db *DB) loadCheckpointOf(ctx context.Context, r io.Reader, writer string) (seq int64, err error) {
	head := make([]byte, len(checkpointMagic)+1)
	if _, err := io.ReadFull(r, head); err != nil || string(head[:len(checkpointMagic)]) != checkpointMagic {
		return 0, fmt.Errorf("%w: not a checkpoint", ErrCheckpoint)
	}
	if head[len(checkpointMagic)] != checkpointVersion {
		return 0, fmt.Errorf("%w: format %d, this cairn knows %d (written by a newer cairn?)", ErrCheckpoint, head[len(checkpointMagic)], checkpointVersion)
	}
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	defer zr.Close()
	d := &streamDecoder{r: bufio.NewReaderSize(zr, 256<<10)}
	version := d.uvarint()
	seq = int64(d.uvarint())
	if d.err == nil && (version > uint64(latestVersion()) || seq < 0) {
		return 0, fmt.Errorf("%w: schema version %d, this cairn knows up to %d", ErrCheckpoint, version, latestVersion())
	}
	// Rows load in the checkpoint's order, and a damaged catalog (a chunk
	// in a pack it lost) must still load: the references are not checked
	// here.
	if _, err := db.w.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
		return 0, err
	}
	defer db.w.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = ON")
	err = db.Write(ctx, func(tx *sql.Tx) error {
		var total uint64
		var done []string
		var fl *foreignLoad
		if writer != "" {
			if fl, err = newForeignLoad(ctx, tx, writer, db.self); err != nil {
				return err
			}
		}
		for {
			name := string(d.bytes())
			if d.err != nil {
				return d.err
			}
			if name == "" {
				break
			}
			i := slices.IndexFunc(checkpointTables, func(t checkpointTable) bool { return t.name == name })
			if i < 0 || slices.Contains(done, name) {
				return fmt.Errorf("unexpected table %q", name)
			}
			done = append(done, name)
			n, err := loadTable(ctx, tx, d, name, fl)
			if err != nil {
				return fmt.Errorf("table %s: %w", name, err)
			}
			total += n
		}
		if want := d.uvarint(); d.err != nil || want != total {
			return fmt.Errorf("%d rows, the checkpoint says %d (%v)", total, want, d.err)
		}
		if _, err := d.r.ReadByte(); err != io.EOF {
			return errors.New("data after the end")
		}
		if fl != nil {
			return fl.finish(ctx, tx, seq)
		}
		_, err := tx.ExecContext(ctx, updateApplied, seq)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("load checkpoint: %w: %w", ErrCheckpoint, err)
	}
	return seq, nil
}

func loadTable(ctx context.Context, tx *sql.Tx, d *streamDecoder, table string, fl *foreignLoad) (uint64, error) {
	known := map[string]bool{}
	rows, err := tx.QueryContext(ctx, "SELECT name FROM pragma_table_info(?)", table)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return 0, err
		}
		known[c] = true
	}
	rows.Close()
	ncols := d.uvarint()
	if d.err == nil && (ncols == 0 || ncols > uint64(len(known))) {
		return 0, fmt.Errorf("%d columns", ncols)
	}
	cols := make([]string, 0, ncols)
	for range ncols {
		c := string(d.bytes())
		if d.err != nil {
			return 0, d.err
		}
		if !known[c] || slices.Contains(cols, c) {
			return 0, fmt.Errorf("column %q unknown to this cairn (written by a newer cairn?)", c)
		}
		cols = append(cols, c)
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = `"` + c + `"`
	}
	head := "INSERT INTO " + table + "(" + strings.Join(quoted, ", ") + ") VALUES"
	per := max(1, min(rowsPerInsert, 32000/len(cols)))
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, per*len(cols))
	inBatch := 0
	var total uint64
	exec := func() error {
		if inBatch == 0 {
			return nil
		}
		var err error
		if inBatch == per {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, insertStatement(head, "", len(cols), per)); err != nil {
					return err
				}
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, insertStatement(head, "", len(cols), inBatch), args...)
		}
		args, inBatch = args[:0], 0
		return err
	}
	for {
		switch d.byte() {
		case 0:
			if d.err != nil {
				return 0, d.err
			}
			return total, exec()
		case 1:
		default:
			return 0, errors.New("bad row marker")
		}
		row := len(args)
		for range cols {
			args = append(args, d.value())
		}
		if d.err != nil {
			return 0, d.err
		}
		total++
		if fl != nil {
			keep, err := fl.row(ctx, tx, table, cols, args[row:])
			if err != nil {
				return 0, err
			}
			if !keep {
				args = args[:row]
				continue
			}
		}
		inBatch++
		if inBatch == per {
			if err := exec(); err != nil {
				return 0, err
			}
		}
	}
}

// Rebuild makes a new catalog at path from a checkpoint (nil: none, start
// empty) and the records of j that follow it, and returns it open with j
// set as its journal. path must not exist. The catalog is built beside it
// (path + ".rebuild", with durability off while it fills) and renamed into
// place once complete and durable, so a crash midway never leaves a
// partial catalog at path.
//
// The repository's parameters (meta: format, chunker, created) come back
// from the first record of the log, which InitMeta writes, or from the
// checkpoint; the local tables (process holds, log_applied) start empty,
// log_applied at the seq replayed to.
//
// self is the writer whose log j is ("" when unknown): set after the
// checkpoint and before the records, so that records naming the writer
// (its join record) apply as they did live.
func Rebuild(ctx context.Context, path string, checkpoint io.Reader, j Journal, self ...string) (*DB, error) {
	me := ""
	if len(self) > 0 {
		me = self[0]
	}
	return rebuildCatalog(ctx, path, checkpoint, "", me, j)
}

// RebuildFrom is Rebuild from the checkpoint of another writer (cpWriter),
// whose rows of every writer load mapped into the new catalog's slots;
// then the records of j (self's log) that checkpoint does not cover. The
// caller catches up the other writers' logs (CatchUpWriter) from the seqs
// the checkpoint gives.
func RebuildFrom(ctx context.Context, path string, checkpoint io.Reader, cpWriter, self string, j Journal) (*DB, error) {
	if self == "" || cpWriter == "" {
		return nil, errors.New("rebuild from another writer's checkpoint: writers not named")
	}
	return rebuildCatalog(ctx, path, checkpoint, cpWriter, self, j)
}

func rebuildCatalog(ctx context.Context, path string, checkpoint io.Reader, cpWriter, self string, j Journal) (*DB, error) {
	foreign := cpWriter != "" && cpWriter != self
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("rebuild catalog %s: %w", path, os.ErrExist)
	}
	tmp := path + ".rebuild"
	removeDB := func() {
		for _, s := range []string{"", "-wal", "-shm", "-journal"} {
			os.Remove(tmp + s)
		}
	}
	removeDB()
	db, err := Open(ctx, tmp, true)
	if err != nil {
		return nil, fmt.Errorf("rebuild catalog: %w", err)
	}
	fail := func(err error) (*DB, error) {
		db.Close()
		removeDB()
		return nil, fmt.Errorf("rebuild catalog %s: %w", path, err)
	}
	// A rebuild is one long write: durability comes from the sync before
	// the rename, and it gets the page cache of a big commit.
	if _, err := db.w.ExecContext(ctx, "PRAGMA synchronous = OFF; PRAGMA cache_size = -32768"); err != nil {
		return fail(err)
	}
	if foreign {
		if err := db.SetWriter(ctx, self); err != nil {
			return fail(err)
		}
		if _, err := db.loadCheckpointOf(ctx, checkpoint, cpWriter); err != nil {
			return fail(err)
		}
	} else if checkpoint != nil {
		if _, err := db.loadCheckpoint(ctx, checkpoint); err != nil {
			return fail(err)
		}
	}
	if self != "" {
		if err := db.SetWriter(ctx, self); err != nil {
			return fail(err)
		}
	}
	db.SetJournal(j)
	// A gc record naming other writers' rows stops the replay: the caller
	// goes on with every writer's log (CatchUpWriters).
	if _, err := db.CatchUp(ctx); err != nil && !errors.Is(err, ErrDependency) {
		return fail(err)
	}
	if _, err := db.w.ExecContext(ctx, "PRAGMA synchronous = FULL"); err != nil {
		return fail(err)
	}
	if _, err := db.w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return fail(err)
	}
	if err := db.Close(); err != nil {
		removeDB()
		return nil, fmt.Errorf("rebuild catalog %s: %w", path, err)
	}
	if err := syncFile(tmp); err != nil {
		removeDB()
		return nil, fmt.Errorf("rebuild catalog %s: %w", path, err)
	}
	os.Remove(tmp + "-wal")
	os.Remove(tmp + "-shm")
	if err := os.Rename(tmp, path); err != nil {
		removeDB()
		return nil, fmt.Errorf("rebuild catalog %s: %w", path, err)
	}
	if err := syncFile(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("rebuild catalog %s: %w", path, err)
	}
	out, err := Open(ctx, path, false)
	if err != nil {
		return nil, fmt.Errorf("rebuild catalog %s: %w", path, err)
	}
	out.SetJournal(j)
	out.self = self
	return out, nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

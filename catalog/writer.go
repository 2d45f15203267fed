package catalog

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Several writers. Every installation that shares a repository is a
// writer with a log of its own; each catalog numbers the writers it knows
// with slots (table writer: slot 0 is this installation, others get 1, 2,
// ... in the order this catalog first met them), and every row id is
// slot<<SlotShift | n, n the counter of the writer that made the row. A
// catalog that has only ever known itself keeps the ids it always had.
//
// A record carries its ids as its writer's catalog numbered them, and the
// writer ids of the slots other than 0 (its writer map, record framing
// version 2); applying it maps every id into this catalog's slots (remap).
// Rows a record creates take ids the record states (a snapshot's id, the
// first id of its new packs, chunks, contents and versions), so the rows
// are the same in every catalog whatever order the writers' records come
// in, as long as each writer's own order is kept.

// SlotShift is where a row id's writer slot starts.
const SlotShift = 40

const nMask = 1<<SlotShift - 1

// SlotOf is the writer slot of a row id.
func SlotOf(id int64) int64 { return id >> SlotShift }

// LocalN is a row id's number within its writer's slot: the snapshot
// number a user types after "HOST:".
func LocalN(id int64) int64 { return id & nMask }

// MakeID is the row id n of the writer in slot.
func MakeID(slot, n int64) int64 { return slot<<SlotShift | n }

// Writer is a writer this catalog knows.
type Writer struct {
	Slot int64
	ID   string // the writer id, its log's name under log/
	Host string // from its join record; "" until it sent one
	// AdoptedBy is the slot of the writer that continues its sources, -1
	// for none.
	AdoptedBy int64
	// Applied is the seq of its last record applied here.
	Applied int64
}

// slotWriter is one entry of a record's writer map: a slot, its writer,
// and how far the record's catalog had applied that writer's log (what a
// gc record depends on: it names rows those records made).
type slotWriter struct {
	slot int64
	id   string
	seq  int64
}

// SetWriter tells the catalog which writer it belongs to (slot 0). A
// catalog that already belongs to another writer is refused.
func (db *DB) SetWriter(ctx context.Context, id string) error {
	var got string
	err := db.r.QueryRowContext(ctx, "SELECT id FROM writer WHERE slot = 0").Scan(&got)
	if err == nil {
		if got != id {
			return fmt.Errorf("catalog %s belongs to writer %s, not %s", db.path, got, id)
		}
		db.self = id
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read writer: %w", err)
	}
	if db.w == nil {
		db.self = id
		return nil
	}
	err = db.Write(ctx, func(tx *sql.Tx) error {
		var other int64
		if err := tx.QueryRowContext(ctx, "SELECT coalesce((SELECT slot FROM writer WHERE id = ?), -1)", id).Scan(&other); err != nil {
			return err
		}
		if other > 0 {
			return fmt.Errorf("catalog %s knows writer %s as slot %d, not as itself", db.path, id, other)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO writer(slot, id) VALUES (0, ?) ON CONFLICT DO NOTHING", id)
		return err
	})
	if err != nil {
		return fmt.Errorf("record writer: %w", err)
	}
	db.self = id
	return nil
}

// Writers lists the writers this catalog knows, by slot.
func (db *DB) Writers(ctx context.Context) ([]Writer, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT w.slot, w.id, w.host, coalesce(w.adopted_by, -1),
		coalesce((SELECT seq FROM log_applied a WHERE a.writer = CASE WHEN w.slot = 0 THEN '' ELSE w.id END), 0)
		FROM writer w ORDER BY w.slot`)
	if err != nil {
		return nil, fmt.Errorf("list writers: %w", err)
	}
	defer rows.Close()
	var out []Writer
	for rows.Next() {
		var w Writer
		if err := rows.Scan(&w.Slot, &w.ID, &w.Host, &w.AdoptedBy, &w.Applied); err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// ErrUnknownWriter means a host name or writer id names no writer this
// catalog knows.
var ErrUnknownWriter = errors.New("catalog: unknown host")

// ErrAmbiguousHost means a host name is the host of several writers.
var ErrAmbiguousHost = errors.New("catalog: several writers have this host name")

// WriterSlot finds a writer by host name or writer id.
func (db *DB) WriterSlot(ctx context.Context, hostOrID string) (int64, error) {
	ws, err := db.Writers(ctx)
	if err != nil {
		return 0, err
	}
	var found []int64
	for _, w := range ws {
		if w.ID == hostOrID {
			return w.Slot, nil
		}
		if w.Host != "" && strings.EqualFold(w.Host, hostOrID) {
			found = append(found, w.Slot)
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("%w %q", ErrUnknownWriter, hostOrID)
	case 1:
		return found[0], nil
	}
	return 0, fmt.Errorf("%w: %q (name it by writer id)", ErrAmbiguousHost, hostOrID)
}

// slotFor returns the slot of writer id, giving it the next free slot
// when this catalog meets it for the first time.
func slotFor(ctx context.Context, tx *sql.Tx, id string) (int64, error) {
	var slot int64
	err := tx.QueryRowContext(ctx, "SELECT slot FROM writer WHERE id = ?", id).Scan(&slot)
	if err == nil {
		return slot, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("look up writer %s: %w", id, err)
	}
	err = tx.QueryRowContext(ctx, "INSERT INTO writer(slot, id) VALUES ((SELECT max(1, coalesce(max(slot), 0) + 1) FROM writer), ?) RETURNING slot", id).Scan(&slot)
	if err != nil {
		return 0, fmt.Errorf("record writer %s: %w", id, err)
	}
	return slot, nil
}

// writerMap is what a record of this catalog carries to name its slots:
// every writer but this one.
func writerMap(ctx context.Context, tx *sql.Tx) ([]slotWriter, error) {
	rows, err := tx.QueryContext(ctx, `SELECT w.slot, w.id, coalesce((SELECT seq FROM log_applied a WHERE a.writer = w.id), 0)
		FROM writer w WHERE w.slot > 0 ORDER BY w.slot`)
	if err != nil {
		return nil, fmt.Errorf("read writers: %w", err)
	}
	defer rows.Close()
	var out []slotWriter
	for rows.Next() {
		var w slotWriter
		if err := rows.Scan(&w.slot, &w.id, &w.seq); err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// slotMapping maps the slots of a record of writer (its slot 0 and its
// writer map) to this catalog's slots. It returns nil when the mapping is
// the identity.
func slotMapping(ctx context.Context, tx *sql.Tx, owner int64, writers []slotWriter) (map[int64]int64, error) {
	m := map[int64]int64{0: owner}
	identity := owner == 0
	for _, w := range writers {
		s, err := slotFor(ctx, tx, w.id)
		if err != nil {
			return nil, err
		}
		m[w.slot] = s
		identity = identity && s == w.slot
	}
	if identity {
		return nil, nil
	}
	return m, nil
}

// errSlot is remap's complaint about an id whose slot the record's writer
// map does not name.
type errSlot struct{ id int64 }

func (e errSlot) Error() string {
	return fmt.Sprintf("id %d names writer slot %d, which the record's writer map lacks", e.id, SlotOf(e.id))
}

// mapper remaps ids through a slot mapping; the first unknown slot sticks
// in err.
type mapper struct {
	m   map[int64]int64
	err error
}

func (p *mapper) id(id int64) int64 {
	if id <= 0 {
		return id // none, or a reference into the record itself
	}
	s, ok := p.m[SlotOf(id)]
	if !ok {
		if p.err == nil {
			p.err = errSlot{id}
		}
		return id
	}
	return MakeID(s, LocalN(id))
}

func (p *mapper) ids(ids []int64) {
	for i := range ids {
		ids[i] = p.id(ids[i])
	}
}

// nextInSlot is the id the next row of table made by the writer in slot
// gets: max+1 within the slot, and above every id it gave before (id_high)
// for the tables whose rows other writers delete.
func nextInSlot(ctx context.Context, tx *sql.Tx, table string, slot int64) (int64, error) {
	return nextIn(ctx, tx, table, slot, true)
}

// nextIn is nextInSlot; without high it is max+1 alone, the ids a version
// 1 record got when it was written (a live catalog then gave the id of a
// deleted newest row again), so that a replay of an older log gives the
// ids its later records name.
func nextIn(ctx context.Context, tx *sql.Tx, table string, slot int64, high bool) (int64, error) {
	if !high {
		var id int64
		err := tx.QueryRowContext(ctx, "SELECT coalesce(max(id), ?1) + 1 FROM "+table+" WHERE id > ?1 AND id < ?2",
			MakeID(slot, 0), MakeID(slot+1, 0)).Scan(&id)
		if err != nil {
			return 0, fmt.Errorf("next %s id: %w", table, err)
		}
		return id, nil
	}
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT max(coalesce((SELECT max(id) FROM `+table+` WHERE id > ?1 AND id < ?2), ?1),
		?1 + coalesce((SELECT n FROM id_high WHERE slot = ?3 AND tbl = ?4), 0)) + 1`,
		MakeID(slot, 0), MakeID(slot+1, 0), slot, table).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("next %s id: %w", table, err)
	}
	return id, nil
}

// raiseHigh records that the writer of id's slot has given ids up to id
// in table.
func raiseHigh(ctx context.Context, tx *sql.Tx, table string, id int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO id_high(slot, tbl, n) VALUES (?, ?, ?)
		ON CONFLICT(slot, tbl) DO UPDATE SET n = max(n, excluded.n)`, SlotOf(id), table, LocalN(id))
	if err != nil {
		return fmt.Errorf("record highest %s id: %w", table, err)
	}
	return nil
}

// highestSnapshot is the highest snapshot id the writer in slot has issued
// (meta 'highest_snapshot_id' for slot 0, as before there were slots).
func highestSnapshot(ctx context.Context, tx *sql.Tx, slot int64) (int64, error) {
	var n int64
	q := "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'highest_snapshot_id'), 0)"
	if slot != 0 {
		q = "SELECT coalesce((SELECT highest_snapshot FROM writer WHERE slot = ?), 0)"
	}
	if err := tx.QueryRowContext(ctx, q, slot).Scan(&n); err != nil {
		return 0, fmt.Errorf("read highest snapshot id: %w", err)
	}
	return n, nil
}

// CatchUpWriter applies the records of another writer's log (j) that
// follow the ones applied here, in order, and returns how many it applied.
// A gc record that names rows of a writer whose records are not applied
// this far stops it with an error matching ErrDependency (CatchUpWriters
// resolves those).
func (db *DB) CatchUpWriter(ctx context.Context, writer string, j Journal) (int, error) {
	if writer == "" || writer == db.self {
		return 0, fmt.Errorf("catch up writer %q: that is this catalog's own log", writer)
	}
	return db.catchUpTo(ctx, writer, j, 1<<62)
}

func (db *DB) catchUpTo(ctx context.Context, writer string, j Journal, limit int64) (int, error) {
	applied := 0
	for {
		n, more, err := db.catchUpBatchTo(ctx, writer, j, limit)
		applied += n
		if err != nil || !more {
			return applied, err
		}
	}
}

// ErrDependency means a record names rows that another writer's records,
// not applied yet, make: gc's drop and repack records, which remove or
// move what they name. (Other records apply in any order of the writers.)
var ErrDependency = errors.New("catalog: record depends on another writer's records")

// depError says which writer's log must be applied how far first.
type depError struct {
	writer string // "" for this catalog's own log
	seq    int64
}

func (e *depError) Error() string {
	return fmt.Sprintf("%v: writer %q up to record %d", ErrDependency, e.writer, e.seq)
}
func (e *depError) Is(target error) bool { return target == ErrDependency }

// unmetDependency returns the first writer of a gc record's map whose log
// is applied less far here than in the catalog that wrote it.
func unmetDependency(ctx context.Context, tx *sql.Tx, self string, writers []slotWriter) (*depError, error) {
	for _, w := range writers {
		key := w.id
		if w.id == self {
			key = ""
		}
		seq, err := appliedOf(ctx, tx, key)
		if err != nil {
			return nil, err
		}
		if seq < w.seq {
			return &depError{writer: key, seq: w.seq}, nil
		}
	}
	return nil, nil
}

// CatchUpWriters applies every writer's log (journals by writer id; this
// catalog's own under "" or its id), in an order that applies a gc record
// only after the records of other writers it depends on, and returns how
// many records it applied.
func (db *DB) CatchUpWriters(ctx context.Context, journals map[string]Journal) (int, error) {
	js := map[string]Journal{}
	for w, j := range journals {
		if w == db.self {
			w = ""
		}
		js[w] = j
	}
	total := 0
	var run func(w string, limit int64, depth int) error
	run = func(w string, limit int64, depth int) error {
		j := js[w]
		if j == nil {
			return fmt.Errorf("catch up writer %q: its log is not at hand", w)
		}
		for {
			n, err := db.catchUpTo(ctx, w, j, limit)
			total += n
			var dep *depError
			if !errors.As(err, &dep) {
				return err
			}
			if depth > len(js)+1 || dep.writer == w {
				return fmt.Errorf("%w (a cycle?)", err)
			}
			if err := run(dep.writer, dep.seq, depth+1); err != nil {
				return err
			}
		}
	}
	for _, w := range slices.Sorted(maps.Keys(js)) {
		if err := run(w, 1<<62, 0); err != nil {
			return total, err
		}
	}
	return total, nil
}

// Join records the host name of this writer, so that other writers can
// name its snapshots HOST:N. Nothing is written when it is already known.
func (db *DB) Join(ctx context.Context, host string) error {
	var got string
	if err := db.r.QueryRowContext(ctx, "SELECT coalesce((SELECT host FROM writer WHERE slot = 0), '')").Scan(&got); err != nil {
		return err
	}
	if got == host {
		return nil
	}
	_, err := db.mutate(ctx, func(tx *sql.Tx) (record, error) { return &joinRecord{Host: host}, nil })
	if err != nil {
		return fmt.Errorf("record host name: %w", err)
	}
	return nil
}

// Adopt makes this writer continue the sources of the writer in slot (a
// lost machine's): its next snapshot of such a source's path continues
// that source's history, and retention and forget of those sources become
// this writer's.
func (db *DB) Adopt(ctx context.Context, slot int64) error {
	if slot == 0 {
		return errors.New("adopt: a writer cannot adopt itself")
	}
	_, err := db.mutate(ctx, func(tx *sql.Tx) (record, error) {
		var id string
		var by sql.NullInt64
		if err := tx.QueryRowContext(ctx, "SELECT id, adopted_by FROM writer WHERE slot = ?", slot).Scan(&id, &by); err != nil {
			return nil, fmt.Errorf("writer slot %d: %w", slot, err)
		}
		if by.Valid && by.Int64 == 0 {
			return nil, nil
		}
		return &adoptRecord{Writer: id}, nil
	})
	if err != nil {
		return fmt.Errorf("adopt: %w", err)
	}
	return nil
}

// joinRecord is a writer's host name.
type joinRecord struct{ Host string }

func (r *joinRecord) kind() recordKind  { return kindJoin }
func (r *joinRecord) encode(e *encoder) { e.str(r.Host) }
func (r *joinRecord) decode(d *decoder) { r.Host = d.str() }
func (r *joinRecord) remap(*mapper)     {}
func (r *joinRecord) apply(ctx context.Context, tx *sql.Tx, slot int64) error {
	_, err := tx.ExecContext(ctx, "UPDATE writer SET host = ? WHERE slot = ?", r.Host, slot)
	return err
}

// adoptRecord: the record's writer continues the sources of Writer.
type adoptRecord struct{ Writer string }

func (r *adoptRecord) kind() recordKind  { return kindAdopt }
func (r *adoptRecord) encode(e *encoder) { e.str(r.Writer) }
func (r *adoptRecord) decode(d *decoder) { r.Writer = d.str() }
func (r *adoptRecord) remap(*mapper)     {}
func (r *adoptRecord) apply(ctx context.Context, tx *sql.Tx, slot int64) error {
	old, err := slotFor(ctx, tx, r.Writer)
	if err != nil {
		return err
	}
	if old == slot {
		return errors.New("a writer cannot adopt itself")
	}
	_, err = tx.ExecContext(ctx, "UPDATE writer SET adopted_by = ? WHERE slot = ?", slot, old)
	return err
}

// sourceFor finds the source of path that the writer in slot snapshots:
// its own, or that of a writer it adopted; with create, it makes the
// writer's own when there is none.
func sourceFor(ctx context.Context, tx *sql.Tx, slot int64, path string, create bool) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM source WHERE path = ?1 AND (writer = ?2
		OR writer IN (SELECT slot FROM writer WHERE adopted_by = ?2)) ORDER BY writer <> ?2, writer LIMIT 1`, path, slot).Scan(&id)
	if err == nil || !errors.Is(err, sql.ErrNoRows) || !create {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, ErrNotFound
		}
		return id, err
	}
	if id, err = nextInSlot(ctx, tx, "source", slot); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO source(id, writer, path) VALUES (?, ?, ?)", id, slot, path); err != nil {
		return 0, fmt.Errorf("insert source %s: %w", path, err)
	}
	return id, nil
}

// RecordHost returns the host name a stored record gives its writer, if
// it is a join record.
func RecordHost(b []byte) (string, bool) {
	rec, _, err := decodeRecord(b)
	if err != nil {
		return "", false
	}
	j, ok := rec.(*joinRecord)
	if !ok {
		return "", false
	}
	return j.Host, true
}

// foreignLoad maps the rows of another writer's checkpoint into this
// catalog as they load: its slot 0 is that writer, its other slots the
// writers its writer table names (this catalog's own writer among them,
// which is slot 0 here).
type foreignLoad struct {
	writer, self string
	m            *mapper
	adopted      map[int64]int64 // local slot -> the checkpoint's adopted_by
	highest      int64           // the writer's own highest snapshot id (its meta)
}

func newForeignLoad(ctx context.Context, tx *sql.Tx, writer, self string) (*foreignLoad, error) {
	if self == "" {
		return nil, errors.New("load another writer's checkpoint: this catalog's writer is not set")
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM snapshot) + (SELECT count(*) FROM source) + (SELECT count(*) FROM chunk)").Scan(&n); err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, fmt.Errorf("load the checkpoint of writer %s: this catalog has rows already", writer)
	}
	slot, err := slotFor(ctx, tx, writer)
	if err != nil {
		return nil, err
	}
	return &foreignLoad{writer: writer, self: self, m: &mapper{m: map[int64]int64{0: slot}}, adopted: map[int64]int64{}}, nil
}

// row maps one row in place; false drops it (rows this catalog keeps in
// a place of its own).
func (f *foreignLoad) row(ctx context.Context, tx *sql.Tx, table string, cols []string, vals []any) (bool, error) {
	col := func(name string) int { return slices.Index(cols, name) }
	switch table {
	case "meta":
		if vals[col("key")] == "highest_snapshot_id" {
			if v, ok := vals[col("value")].(string); ok {
				f.highest, _ = strconv.ParseInt(v, 10, 64)
			}
			return false, nil
		}
		return true, nil
	case "writer":
		slot, _ := vals[col("slot")].(int64)
		id, _ := vals[col("id")].(string)
		host, _ := vals[col("host")].(string)
		local := int64(0)
		if id != f.self {
			var err error
			if local, err = slotFor(ctx, tx, id); err != nil {
				return false, err
			}
		}
		f.m.m[slot] = local
		if i := col("adopted_by"); i >= 0 {
			if by, ok := vals[i].(int64); ok {
				f.adopted[local] = by
			}
		}
		if slot != 0 || host != "" {
			if _, err := tx.ExecContext(ctx, "UPDATE writer SET host = ? WHERE slot = ? AND host = ''", host, local); err != nil {
				return false, err
			}
		}
		if h, ok := vals[col("highest_snapshot")].(int64); ok && h > 0 {
			f.highest2(ctx, tx, h)
		}
		return false, nil
	case "id_high":
		slot, _ := vals[col("slot")].(int64)
		vals[col("slot")] = f.m.slot(slot)
		return true, f.m.err
	case "log_applied":
		w, _ := vals[col("writer")].(string)
		if w == f.self {
			vals[col("writer")] = ""
		}
		return true, nil
	}
	for i, c := range cols {
		v, ok := vals[i].(int64)
		switch {
		case table == "source" && c == "writer" && ok:
			vals[i] = f.m.slot(v)
		case idColumn[c] && ok:
			vals[i] = f.m.id(v)
		case table == "content" && c == "chunks":
			b, _ := vals[i].([]byte)
			list, err := DecodeChunkList(b)
			if err != nil {
				return false, fmt.Errorf("content chunk list: %w", err)
			}
			f.m.ids(list)
			vals[i] = EncodeChunkList(list)
		}
	}
	return true, f.m.err
}

// highest2 records a highest snapshot id a writer row of the checkpoint
// gives (in the checkpoint's numbering).
func (f *foreignLoad) highest2(ctx context.Context, tx *sql.Tx, h int64) {
	id := f.m.id(h)
	if SlotOf(id) == 0 {
		tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES ('highest_snapshot_id', ?)
			ON CONFLICT(key) DO UPDATE SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))`, strconv.FormatInt(id, 10))
		return
	}
	tx.ExecContext(ctx, "UPDATE writer SET highest_snapshot = max(highest_snapshot, ?) WHERE slot = ?", id, SlotOf(id))
}

// finish records what the rows' slots need once all are in: adoptions,
// the writer's highest snapshot id, and its applied seq.
func (f *foreignLoad) finish(ctx context.Context, tx *sql.Tx, seq int64) error {
	for local, by := range f.adopted {
		if _, err := tx.ExecContext(ctx, "UPDATE writer SET adopted_by = ? WHERE slot = ?", f.m.slot(by), local); err != nil {
			return err
		}
	}
	if f.highest > 0 {
		f.highest2(ctx, tx, f.highest)
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO log_applied(writer, seq) VALUES (?, ?) ON CONFLICT(writer) DO UPDATE SET seq = excluded.seq", f.writer, seq)
	if err == nil {
		err = f.m.err
	}
	return err
}

// idColumn are the columns that hold row ids (slot<<SlotShift | n).
var idColumn = map[string]bool{"id": true, "source_id": true, "snapshot_id": true, "pack_id": true, "content_id": true,
	"first_snapshot_id": true, "last_snapshot_id": true, "state_id": true, "live_state_id": true, "ref_snapshot_id": true}

func (p *mapper) slot(s int64) int64 {
	l, ok := p.m[s]
	if !ok && p.err == nil {
		p.err = fmt.Errorf("slot %d, which the checkpoint's writer table lacks", s)
	}
	return l
}

// LoadCheckpointOf fills a catalog that holds no rows yet (a new writer's,
// or one being rebuilt) from the checkpoint of another writer, mapping its
// ids into this catalog's slots, and returns the seq it covers of that
// writer's log; the catalog's applied seqs of every writer become the
// checkpoint's. SetWriter must have been called.
func (db *DB) LoadCheckpointOf(ctx context.Context, r io.Reader, writer string) (int64, error) {
	if writer == db.self {
		return db.loadCheckpoint(ctx, r)
	}
	return db.loadCheckpointOf(ctx, r, writer)
}

// CheckpointHost reads, from the start of a checkpoint, the host name its
// writer had recorded ("" for none).
func CheckpointHost(b []byte) string {
	host := ""
	checkpointHead(b, func(table string, cols []string, vals []any) {
		if table == "writer" {
			if slot, _ := vals[slices.Index(cols, "slot")].(int64); slot == 0 {
				host, _ = vals[slices.Index(cols, "host")].(string)
			}
		}
	})
	return host
}

// CheckpointApplied reads, from the start of a checkpoint, how far it
// covers each other writer's log (by writer id), and the seq of its own.
func CheckpointApplied(b []byte) (map[string]int64, int64, error) {
	out := map[string]int64{}
	seq, err := checkpointHead(b, func(table string, cols []string, vals []any) {
		if table == "log_applied" {
			w, _ := vals[slices.Index(cols, "writer")].(string)
			n, _ := vals[slices.Index(cols, "seq")].(int64)
			out[w] = n
		}
	})
	if err != nil {
		return nil, 0, err
	}
	return out, seq, nil
}

// checkpointHead streams the rows of a checkpoint's first tables, up to
// log_applied, to row, and returns the seq it covers.
func checkpointHead(b []byte, row func(table string, cols []string, vals []any)) (int64, error) {
	head := len(checkpointMagic) + 1
	if len(b) < head || string(b[:len(checkpointMagic)]) != checkpointMagic || b[len(checkpointMagic)] != checkpointVersion {
		return 0, fmt.Errorf("%w: not a checkpoint of this version", ErrCheckpoint)
	}
	zr, err := zstd.NewReader(bytes.NewReader(b[head:]), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	defer zr.Close()
	d := &streamDecoder{r: bufio.NewReaderSize(zr, 64<<10)}
	d.uvarint() // schema version
	seq := int64(d.uvarint())
	for {
		name := string(d.bytes())
		if d.err != nil {
			return 0, fmt.Errorf("%w: %v", ErrCheckpoint, d.err)
		}
		if name == "" {
			return seq, nil
		}
		ncols := d.uvarint()
		cols := make([]string, 0, min(ncols, 64))
		for range ncols {
			cols = append(cols, string(d.bytes()))
		}
		for d.err == nil && d.byte() == 1 {
			vals := make([]any, len(cols))
			for i := range cols {
				vals[i] = d.value()
			}
			if d.err == nil {
				row(name, cols, vals)
			}
		}
		if name == "log_applied" {
			if d.err != nil {
				return 0, fmt.Errorf("%w: %v", ErrCheckpoint, d.err)
			}
			return seq, nil
		}
	}
}

// OwnSlots are the slots whose sources this writer may forget and apply
// retention to: its own (0) and those of the writers it adopted.
func (db *DB) OwnSlots(ctx context.Context) (map[int64]bool, error) {
	out := map[int64]bool{0: true}
	rows, err := db.r.QueryContext(ctx, "SELECT slot FROM writer WHERE adopted_by = 0")
	if err != nil {
		return nil, fmt.Errorf("read adopted writers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out[s] = true
	}
	return out, rows.Err()
}

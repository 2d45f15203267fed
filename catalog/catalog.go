package catalog

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"slices"
	"time"

	"github.com/mattn/go-sqlite3"
)

// ApplicationID marks a SQLite file as a cairn catalog ("crn1").
const ApplicationID = 0x63726e31

var (
	// ErrNotCatalog means the file is a SQLite database (or something else)
	// that cairn did not create; it is never modified.
	ErrNotCatalog = errors.New("catalog: not a cairn catalog")
	// ErrTooNew means the catalog was written by a newer cairn.
	ErrTooNew = errors.New("catalog: written by a newer version of cairn")
	// ErrNotFound is returned by lookups that find nothing.
	ErrNotFound = errors.New("catalog: not found")
)

// DB is an open catalog: one writer connection (SQLite allows one writer at
// a time; a pool would only queue on the busy handler) and a pool of
// readers, which WAL lets run beside the writer.
type DB struct {
	path string
	w    *sql.DB // nil when opened read-only
	r    *sql.DB
	// Now stamps rows with the time; tests replace it.
	Now func() time.Time
	// journal, if set, stores a record of every change to a replicated
	// table (see journal.go).
	journal Journal
	// self is this installation's writer id (SetWriter; writer.go).
	self string
}

// busyTimeout bounds how long a write waits for another process's
// transaction. Snapshot commits are short, so this is generous.
const busyTimeout = 60 * time.Second

func dsn(path string, extra string) string {
	// synchronous=FULL: in WAL mode NORMAL may lose the last commits on
	// power loss, and a committed snapshot must survive it.
	return fmt.Sprintf("file:%s?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=%d&_foreign_keys=on%s",
		url.PathEscape(path), busyTimeout.Milliseconds(), extra)
}

// Open opens the catalog at path, creating it when create is set and the
// file does not exist, and applies pending migrations. A file that is not
// a cairn catalog, or one from a newer cairn, is refused untouched.
func Open(ctx context.Context, path string, create bool) (*DB, error) {
	var h header
	if _, err := os.Stat(path); err != nil {
		if !errors.Is(err, os.ErrNotExist) || !create {
			return nil, fmt.Errorf("open catalog: %w", err)
		}
	} else if h, err = probe(ctx, path); err != nil {
		return nil, err
	}
	// auto_vacuum=incremental takes effect only in a catalog that has no
	// tables yet (a new one); older catalogs are switched by gc
	// (CompactFile), which runs the VACUUM it needs. In a catalog already
	// in that mode the pragma is not free: SQLite writes the mode into the
	// header again, a write transaction (two fsyncs with the WAL it
	// creates) at every open, and a checkpoint at every close, even of a
	// command that only reads. A header older than its WAL can only say
	// no where the answer is yes, which costs the pragma's write once more.
	params := "&_txlock=immediate"
	if !h.incremental {
		params += "&_auto_vacuum=incremental"
	}
	w, err := sql.Open("sqlite3", dsn(path, params))
	if err != nil {
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	if err := migrateRetrying(ctx, w); err != nil {
		w.Close()
		if damaged(err) {
			return nil, damagedError(path, err)
		}
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	// _mutex=no: database/sql hands a connection to one goroutine at a
	// time, so SQLite's own lock around every call (each column of each
	// row) only costs: reading the 1,010,001 live versions of a 1M-file
	// tree took 1.25-1.32 CPU s without it, 1.53-1.76 with it (three
	// alternating rounds). sqlite3_interrupt, which a cancelled context
	// calls from another goroutine, takes no lock either way.
	r, err := sql.Open("sqlite3", dsn(path, "&_query_only=1&_mutex=no"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	return &DB{path: path, w: w, r: r, Now: time.Now}, nil
}

// migrateRetrying is migrate, tried again while SQLite reports busy.
// Turning a new file into WAL mode (the _journal_mode DSN parameter, run
// as the writer connects) upgrades a read lock to a write lock, and SQLite
// never runs the busy handler for such an upgrade: when two processes
// create one catalog at once, the loser fails at once with "database is
// locked". Once the file is in WAL mode the conversion takes no lock.
func migrateRetrying(ctx context.Context, w *sql.DB) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		err := migrate(ctx, w)
		var se sqlite3.Error
		if err == nil || !errors.As(err, &se) || se.Code != sqlite3.ErrBusy || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// ErrDamaged means the catalog file is cairn's but SQLite cannot read it.
var ErrDamaged = errors.New("catalog: damaged")

// header is what the first 100 bytes of a catalog file say.
type header struct {
	empty       bool // no bytes yet: ours to initialise
	appID       uint32
	version     int
	incremental bool // incremental auto-vacuum (largest root page at 52, flag at 64)
}

// ours reports whether the header alone proves the file is a catalog this
// cairn may open: cairn's application_id, a version it knows. A version in
// the WAL beyond the header's is refused by migrate before any write.
func (h header) ours() bool { return h.appID == ApplicationID }

// probeHeader decides from the 100-byte database header alone, without
// SQLite (whose open of a WAL-mode file would create -wal and -shm beside
// it), whether the file is someone else's or from a newer cairn. ok means
// the header cannot refuse the file.
func probeHeader(path string) (h header, ok bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return h, false, fmt.Errorf("open catalog %s: %w", path, err)
	}
	defer f.Close()
	var b [100]byte
	n, _ := io.ReadFull(f, b[:])
	switch {
	case n == 0:
		return header{empty: true}, true, nil
	case n < len(b) || string(b[:16]) != "SQLite format 3\x00":
		return h, false, fmt.Errorf("%s is not a SQLite database: %w", path, ErrNotCatalog)
	}
	h = header{
		appID:       binary.BigEndian.Uint32(b[68:]),
		version:     int(binary.BigEndian.Uint32(b[60:])),
		incremental: binary.BigEndian.Uint32(b[52:]) != 0 && binary.BigEndian.Uint32(b[64:]) != 0,
	}
	if h.appID != 0 && h.appID != ApplicationID {
		return h, false, fmt.Errorf("%s belongs to another program (application_id %#x): %w", path, h.appID, ErrNotCatalog)
	}
	if latest := latestVersion(); h.appID == ApplicationID && h.version > latest {
		return h, false, fmt.Errorf("%s has schema version %d, this cairn knows up to %d; upgrade cairn: %w", path, h.version, latest, ErrTooNew)
	}
	// Most SQLite files leave application_id 0. A WAL-mode one (bytes 18
	// and 19 are 2) would get -wal and -shm created beside it by any open,
	// even a read-only one; with no -wal file its header is the whole
	// truth, and a schema (a non-zero schema cookie) or a user_version
	// without cairn's application_id is someone else's database.
	walMode := b[18] == 2 || b[19] == 2
	if h.appID == 0 && walMode && !nonEmpty(path+"-wal") && (binary.BigEndian.Uint32(b[40:]) != 0 || h.version != 0) {
		return h, false, fmt.Errorf("%s belongs to another program (a WAL-mode SQLite database without cairn's application_id): %w", path, ErrNotCatalog)
	}
	return h, true, nil
}

// incrementalVacuum reports whether the database header at path says
// the file is in incremental auto-vacuum mode.
func incrementalVacuum(path string) bool {
	h, ok, _ := probeHeader(path)
	return ok && h.incremental
}

func nonEmpty(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Size() > 0
}

// probe inspects an existing file read-only before anything may write to
// it. A header with cairn's application_id settles it (the writer's
// migrate refuses a newer version still in the WAL, and reports damage,
// before it writes): every open of an existing catalog, which saves a
// third connection's open and schema read (a cold one-file restore reads
// -wal, -shm and the schema pages once less). Only a header that cannot
// tell (application_id 0: a new catalog, or someone else's file) is
// asked through SQLite.
func probe(ctx context.Context, path string) (header, error) {
	h, ok, err := probeHeader(path)
	if !ok || h.ours() || h.empty {
		return h, err
	}
	db, err := sql.Open("sqlite3", "file:"+url.PathEscape(path)+"?mode=ro")
	if err != nil {
		return h, fmt.Errorf("open catalog %s: %w", path, err)
	}
	defer db.Close()
	// One statement, so one read snapshot: another process may be creating
	// the catalog meanwhile, and separate reads could see the schema
	// without the application_id committed with it.
	var appID, version, n int
	err = db.QueryRowContext(ctx, `SELECT (SELECT application_id FROM pragma_application_id),
		(SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_schema)`).Scan(&appID, &version, &n)
	if err != nil {
		if damaged(err) {
			return h, damagedError(path, err)
		}
		return h, fmt.Errorf("read catalog %s: %w", path, err)
	}
	if appID == 0 && version == 0 && n == 0 {
		return h, nil // an empty file: ours to initialise
	}
	if appID != ApplicationID {
		return h, fmt.Errorf("%s belongs to another program (application_id %#x): %w", path, appID, ErrNotCatalog)
	}
	if latest := latestVersion(); version > latest {
		return h, fmt.Errorf("%s has schema version %d, this cairn knows up to %d; upgrade cairn: %w", path, version, latest, ErrTooNew)
	}
	return h, nil
}

// damaged reports whether err is SQLite saying the file is not a database
// or is corrupt.
func damaged(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrNotADB || se.Code == sqlite3.ErrCorrupt)
}

func damagedError(path string, err error) error {
	var se sqlite3.Error
	errors.As(err, &se)
	return fmt.Errorf("%s is damaged (%v); restore catalog.db from a copy, the packs are intact: %w", path, se, ErrDamaged)
}

// Close closes both connection pools.
func (db *DB) Close() error {
	if db.w == nil {
		return db.r.Close()
	}
	return errors.Join(db.r.Close(), db.w.Close())
}

// Path is the catalog file's path.
func (db *DB) Path() string { return db.path }

// Reader is the read-only pool, for lookups that may run beside a write.
func (db *DB) Reader() *sql.DB { return db.r }

// Meta returns a value from the meta table, or "" when unset.
func (db *DB) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := db.r.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read meta %s: %w", key, err)
	}
	return v, nil
}

// InitMeta sets meta values that are not set yet and returns the values now
// stored, so two processes creating one repository agree on them.
func (db *DB) InitMeta(ctx context.Context, kv map[string]string) (map[string]string, error) {
	out := map[string]string{}
	// Usually everything is set: read without a write transaction, whose
	// commit would cost an fsync on every command.
	for k := range kv {
		v, err := db.Meta(ctx, k)
		if err != nil || v == "" {
			out = nil
			break
		}
		out[k] = v
	}
	if out != nil {
		return out, nil
	}
	rec := &metaRecord{Keys: slices.Sorted(maps.Keys(kv))}
	for _, k := range rec.Keys {
		rec.Values = append(rec.Values, kv[k])
	}
	if _, err := db.mutate(ctx, func(tx *sql.Tx) (record, error) { return rec, nil }); err != nil {
		return nil, fmt.Errorf("initialise repository metadata: %w", err)
	}
	return rec.got, nil
}

// Write runs fn in one immediate write transaction. It bypasses the
// journal: with one set, it is only for local tables (hold).
func (db *DB) Write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if db.w == nil {
		return fmt.Errorf("write %s: %w", db.path, ErrOpenedReadOnly)
	}
	return runTx(ctx, db.w, fn)
}

// writeUnsynced is Write for rows that need not survive a power loss or
// an OS crash, which end the process a hold names anyway: the commit is
// not fsynced (synchronous=NORMAL for this one transaction). In WAL mode
// that loses no earlier commit and damages nothing; the next synced
// commit, or the checkpoint when the catalog is closed, makes it durable
// too. Holds were 6 of the 10 fsyncs of a one-file restore.
func (db *DB) writeUnsynced(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if db.w == nil {
		return fmt.Errorf("write %s: %w", db.path, ErrOpenedReadOnly)
	}
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		// Every other commit on this connection must be synced: one that
		// cannot be set back is dropped from the pool.
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous = FULL"); err != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return runTx(ctx, conn, fn)
}

// runTx runs fn in one transaction of b (immediate: the writer pool's
// _txlock).
func runTx(ctx context.Context, b interface {
	BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
}, fn func(tx *sql.Tx) error) error {
	tx, err := b.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", noSpace(err))
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return noSpace(err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", noSpace(err))
	}
	return nil
}

// noSpace makes SQLite's "database or disk is full" say what a person can
// act on; the error still wraps the sqlite3.Error.
func noSpace(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrFull {
		return fmt.Errorf("%w (no space left on device for the catalog)", err)
	}
	return err
}

// Checkpoint folds the WAL back into the main file; called after large
// deletions so the file can shrink and readers stay fast.
func (db *DB) Checkpoint(ctx context.Context) error {
	if db.w == nil {
		return nil
	}
	_, err := db.w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}

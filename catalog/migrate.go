package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/cairn-dev/cairn/migrations"
)

type step struct {
	version int
	name    string
}

func steps() ([]step, error) {
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []step
	for _, n := range names {
		num, _, ok := strings.Cut(n, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and '_'", n)
		}
		out = append(out, step{v, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, s := range out {
		if s.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d", s.name, i+1)
		}
	}
	return out, nil
}

// latestVersion is the schema version this binary writes.
func latestVersion() int {
	s, err := steps()
	if err != nil {
		panic(err) // the embedded files are fixed at build time; a test covers this
	}
	return len(s)
}

// migrate applies the missing steps, each in the same immediate transaction
// that bumps user_version, re-reading the version after taking the write
// lock so two processes never apply one step twice.
func migrate(ctx context.Context, db *sql.DB) error {
	all, err := steps()
	if err != nil {
		return err
	}
	for {
		done, err := migrateOne(ctx, db, all)
		if err != nil || done {
			return err
		}
	}
}

// fkOff is the first line of a migration that rebuilds tables other
// tables reference: SQLite's documented procedure (create, copy, drop,
// rename) needs foreign keys off, which a transaction cannot switch, so the
// step runs on one connection with them off (a catalog with dangling
// references, which check reports, must still migrate).
const fkOff = "-- foreign_keys: off\n"

func migrateOne(ctx context.Context, db *sql.DB, all []step) (done bool, err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("begin migration: %w", err)
	}
	defer conn.Close()
	var version0, appID0 int
	if err := conn.QueryRowContext(ctx, `SELECT (SELECT user_version FROM pragma_user_version),
		(SELECT application_id FROM pragma_application_id)`).Scan(&version0, &appID0); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	if version0 == len(all) && appID0 == ApplicationID {
		// Up to date, as every open but the first of a new cairn finds
		// it: no step to apply, so no write lock to take (BEGIN IMMEDIATE
		// would wait for a snapshot committing in another process). A
		// version only grows, so it cannot be stale in the wrong way.
		return true, nil
	}
	var body0 []byte
	if version0 < len(all) {
		body0, _ = fs.ReadFile(migrations.FS, all[version0].name)
	}
	if strings.HasPrefix(string(body0), fkOff) {
		if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
			return false, err
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = ON")
	}
	tx, err := conn.BeginTx(ctx, nil) // _txlock=immediate
	if err != nil {
		return false, fmt.Errorf("begin migration: %w", err)
	}
	defer tx.Rollback()
	var version, appID int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	if err := tx.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return false, fmt.Errorf("read application id: %w", err)
	}
	if version > len(all) {
		return false, fmt.Errorf("schema version %d, this cairn knows up to %d; upgrade cairn: %w", version, len(all), ErrTooNew)
	}
	if version > 0 && appID != ApplicationID {
		return false, ErrNotCatalog
	}
	if version == len(all) {
		return true, nil
	}
	s := all[version]
	body, err := fs.ReadFile(migrations.FS, s.name)
	if err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return false, fmt.Errorf("apply migration %s: %w", s.name, err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d; PRAGMA application_id = %d", s.version, ApplicationID)); err != nil {
		return false, fmt.Errorf("apply migration %s: %w", s.name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit migration %s: %w", s.name, err)
	}
	return false, nil
}

package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrOpenedReadOnly refuses a write to a catalog opened with OpenReadOnly.
var ErrOpenedReadOnly = errors.New("catalog: opened read-only (no write permission, or read-only media)")

// ErrNeedsUpgrade means a read-only catalog was written by an older cairn:
// its schema must be migrated, which needs write access.
var ErrNeedsUpgrade = errors.New("catalog: needs an upgrade")

// OpenReadOnly opens the catalog at path for reading only: on read-only
// media, or in a repository the user may read but not write. Nothing is
// created or changed beside the file. A catalog whose schema is older than
// this cairn's is refused (ErrNeedsUpgrade): migrating it needs write access.
func OpenReadOnly(ctx context.Context, path string) (*DB, error) {
	if _, ok, err := probeHeader(path); !ok {
		return nil, err
	}
	r, err := sql.Open("sqlite3", "file:"+url.PathEscape(path)+"?"+ReadOnlyParams(path)+
		fmt.Sprintf("&_query_only=1&_busy_timeout=%d", busyTimeout.Milliseconds()))
	if err != nil {
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	var appID, version int
	err = r.QueryRowContext(ctx, `SELECT (SELECT application_id FROM pragma_application_id),
		(SELECT user_version FROM pragma_user_version)`).Scan(&appID, &version)
	switch latest := latestVersion(); {
	case err != nil && nonEmpty(path+"-wal"):
		// Commits wait in -wal, and reading them means rebuilding the
		// -shm index, which needs write access.
		err = fmt.Errorf("read catalog %s: %w; %s holds commits that only a process with write access can read in (run any cairn command there once with write access, or copy the repository)",
			path, err, filepath.Base(path)+"-wal")
	case err != nil:
		err = fmt.Errorf("read catalog %s (read-only): %w", path, err)
	case appID != ApplicationID:
		err = fmt.Errorf("%s belongs to another program (application_id %#x): %w", path, appID, ErrNotCatalog)
	case version > latest:
		err = fmt.Errorf("%s has schema version %d, this cairn knows up to %d; upgrade cairn: %w", path, version, latest, ErrTooNew)
	case version < latest:
		err = fmt.Errorf("%w: %s has schema version %d, this cairn needs %d (upgrading it needs write access)", ErrNeedsUpgrade, path, version, latest)
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	return &DB{path: path, r: r, Now: time.Now}, nil
}

// ReadOnlyParams are the URI parameters that open the catalog at path
// read-only. A WAL-mode database needs its -shm file even to be read:
// SQLite creates it (and -wal) when it can, and fails when the directory
// is read-only. Then, if no -wal file exists, every commit is in the main
// file and immutable=1 reads it without any -shm. On read-only media that
// is exact. In a directory that only its owner may write it is a
// trade-off: the reader holds the repository lock shared (see
// internal/repolock), which keeps the owner's gc out, but the owner's
// snapshot may commit and checkpoint meanwhile; the reader then keeps
// reading the state it opened, and in the worst case a page changed
// under it fails the command with a damage error, which a second run does
// not repeat. Reading a live catalog without write access exactly would
// need a -shm this process cannot create.
func ReadOnlyParams(path string) string {
	if syscall.Access(filepath.Dir(path), 2 /* W_OK */) == nil {
		return "mode=ro"
	}
	if _, err := os.Stat(path + "-wal"); errors.Is(err, os.ErrNotExist) {
		return "mode=ro&immutable=1"
	}
	return "mode=ro"
}

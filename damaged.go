package cairn

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/repolock"
)

// RebuildDamaged is what a command that failed on a damaged database
// (SQLite's "database disk image is malformed") calls once it has closed
// the repository: it confirms with integrity_check that the catalog of
// the repository in dir is damaged and, if it is, rebuilds it from the
// checkpoint and log as RepairCatalog does, the old file moved aside, and
// says so through opts.Notify in one line. A catalog that passes
// integrity_check (the damaged database was another one, a source's, or
// another process rebuilt the catalog meanwhile) is left as it is and
// rebuilt is false.
//
// Open does not run integrity_check (on a catalog of hundreds of MB it
// costs seconds, an unchanged snapshot 0.1 s): a catalog damaged past its
// header and schema opens, and only a query that reaches the bad page
// fails. So the check runs here, after the failure, under the repository
// lock held exclusive.
//
// A format-1 repository fails with ErrNoLog, a read-only one with
// ErrReadOnly, a damaged log with ErrLogDamaged.
func RebuildDamaged(ctx context.Context, dir string, opts Options) (rep *RebuildReport, rebuilt bool, err error) {
	var r *Repo
	if IsRemote(dir) {
		opts.location = dir
		// Merging branch remotereq, whose remoteRepo takes useCopy: pass
		// false, as RepairCatalog does there (a rebuild reads cairn.repo
		// and the key files from the bucket, never a stale copy).
		if r, err = remoteRepo(ctx, dir, opts); err != nil {
			return nil, false, err
		}
		defer r.store.Close()
		if r.readOnly {
			return nil, false, r.errReadOnly()
		}
		if err := r.openLog(ctx, opts); err != nil {
			return nil, false, err
		}
	} else if r, err = openLogOnly(ctx, dir, opts, ": its catalog can only be restored from a copy"); err != nil {
		return nil, false, err
	}
	if opts.Notify != nil {
		r.notify = opts.Notify
	}
	if err := os.MkdirAll(r.localDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("create %s: %w", r.localDir, err)
	}
	lock, err := repolock.Acquire(ctx, filepath.Join(r.localDir, "lock"), repolock.Exclusive, "repository lock", r.waiting)
	if err != nil {
		return nil, false, err
	}
	defer lock.Release()
	why, err := catalogDamage(ctx, r.catalogPath())
	if err != nil || why == "" {
		return nil, false, err
	}
	rep, err = r.rebuildLocked(ctx, why)
	if err != nil {
		return nil, false, err
	}
	return rep, true, nil
}

// catalogDamage runs integrity_check on the catalog file at path and says
// how it is damaged, "" when it is sound or missing (Open rebuilds a
// missing one by itself).
func catalogDamage(ctx context.Context, path string) (string, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if why := catalogUnusable(path); why != "" && why != "missing" && why != "empty" {
		return why, nil
	}
	db, err := catalog.OpenReadOnly(ctx, path)
	if errors.Is(err, catalog.ErrDamaged) || errors.Is(err, catalog.ErrNotCatalog) {
		return fmt.Sprintf("damaged (%s)", damageReason(err, path)), nil
	}
	if err != nil {
		return "", err
	}
	defer db.Close()
	ierr := db.IntegrityCheck(ctx)
	if errors.Is(ierr, catalog.ErrCatalogDamaged) {
		return fmt.Sprintf("damaged (%s)", firstProblem(ierr.Error())), nil
	}
	return "", ierr
}

// RecordsWritten is how many log records this process has appended
// through r: a command that failed after it wrote one changed the
// repository, and the rebuilt catalog holds that change.
func (r *Repo) RecordsWritten() int64 { return r.appendedRecords.Load() }

// CloseDamaged closes a repository whose catalog was found damaged
// without Close's checkpoint: a checkpoint is a dump of the catalog, and
// the rebuild that follows must start from the log, not from a dump of
// the damaged file.
func (r *Repo) CloseDamaged() error {
	return errors.Join(r.store.Close(), r.db.Close())
}

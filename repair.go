package cairn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/gc"
	"github.com/cairn-dev/cairn/internal/repolock"
	"github.com/cairn-dev/cairn/metalog"
)

// ErrNoLog means the repository keeps no log (format 1): its catalog
// cannot be rebuilt, only restored from a copy, until cairn upgrade.
var ErrNoLog = errors.New("repository has no log (format 1)")

// HasLog reports whether the repository keeps its metadata log (format
// 2), so that a lost or damaged catalog can be rebuilt from it.
func (r *Repo) HasLog() bool { return r.log != nil }

// RepairCatalog rebuilds the catalog of the repository in dir from its
// newest checkpoint and the log after it, whatever state the catalog is
// in: the old file is renamed aside (the report names it), never deleted.
// It needs no working catalog, so it is called without Open.
//
// For an s3:// repository this is recovery on a new machine: the bucket
// and the password (or key file) give a catalog in the cache with every
// writer's snapshots; which writer this installation is, writerID says.
func RepairCatalog(ctx context.Context, dir string, opts Options) (*RebuildReport, error) {
	if IsRemote(dir) {
		opts.location = dir
		// From the bucket, never a copy: recovery is where a stale one
		// must not stand in the way.
		r, err := remoteRepo(ctx, dir, opts, false)
		if err != nil {
			return nil, err
		}
		defer r.store.Close()
		if r.readOnly {
			return nil, r.errReadOnly()
		}
		if err := r.openLog(ctx, opts); err != nil {
			return nil, err
		}
		return r.rebuildCatalog(ctx, "")
	}
	r, err := openLogOnly(ctx, dir, opts, ": its catalog can only be restored from a copy")
	if err != nil {
		return nil, err
	}
	return r.rebuildCatalog(ctx, "")
}

// openLogOnly opens the log of the local format-2 repository in dir, and
// not its catalog, which the caller is about to rebuild or salvage. A
// format-1 repository fails with ErrNoLog and format1Hint after it.
func openLogOnly(ctx context.Context, dir string, opts Options, format1Hint string) (*Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", dir, err)
	}
	lay, err := checkLayout(abs, false)
	if err != nil {
		return nil, err
	}
	if lay == layoutFormat1 {
		return nil, fmt.Errorf("%s: %w%s", abs, ErrNoLog, format1Hint)
	}
	r := &Repo{Dir: abs, localDir: opts.localDirOf(abs), now: opts.Now, waiting: opts.Waiting, notify: func(string) {}}
	if r.now == nil {
		r.now = time.Now
	}
	if !writable(abs) || !writable(r.localDir) {
		return nil, r.errReadOnly()
	}
	if err := r.openLog(ctx, opts); err != nil {
		return nil, err
	}
	return r, nil
}

// gcRebuilding runs gc; in a repository with a log, a catalog that fails
// gc's integrity_check is rebuilt from the log (under the lock gc already
// holds exclusive) and gc runs again on the rebuilt one.
func (r *Repo) gcRebuilding(ctx context.Context, opts GCOptions) (*GCReport, error) {
	rep, err := gc.Run(ctx, r.db, r.store, opts)
	if err == nil || r.log == nil || r.readOnly || !errors.Is(err, gc.ErrUnsafe) {
		return rep, err
	}
	// gc says why in words; the catalog's own check tells damage to the
	// file (which the log repairs) from a catalog that contradicts itself.
	ierr := r.db.IntegrityCheck(ctx)
	if !errors.Is(ierr, catalog.ErrCatalogDamaged) {
		return rep, err
	}
	why := fmt.Sprintf("damaged (%s)", firstProblem(ierr.Error()))
	if cerr := r.db.Close(); cerr != nil {
		return nil, errors.Join(err, cerr)
	}
	r.db = nil
	if _, rerr := r.rebuildLocked(ctx, why); rerr != nil {
		return nil, errors.Join(err, rerr)
	}
	db, oerr := openCatalog(ctx, r.Dir, r.catalogPath(), false, false)
	if oerr != nil {
		return nil, errors.Join(err, oerr)
	}
	db.SetJournal(r.journal())
	r.db = db
	return gc.Run(ctx, r.db, r.store, opts)
}

// verifyLog is check's part for the log: the chain of this installation's
// records (no gaps, every record and checkpoint authenticates, it reaches
// what the catalog has applied), then a replay of checkpoint + log into a
// scratch catalog whose dump must equal the live catalog's, row for row.
func (r *Repo) verifyLog(ctx context.Context) ([]string, error) {
	found, err := r.log.Verify(ctx, r.appliedNow)
	if err != nil {
		return nil, fmt.Errorf("verify the log: %w", err)
	}
	var problems []string
	for _, p := range found {
		problems = append(problems, string(p))
	}
	if len(problems) > 0 {
		return problems, nil
	}
	// A snapshot may commit between the two dumps (check holds the lock
	// shared): compare only dumps of the same seq, trying twice.
	for range 2 {
		same, seq, err := r.replayMatches(ctx)
		if err != nil {
			return nil, fmt.Errorf("replay the log: %w", err)
		}
		if same == matchYes {
			return nil, nil
		}
		if same == matchNo {
			return []string{fmt.Sprintf("the catalog differs from the replay of the log up to record %d", seq)}, nil
		}
	}
	return nil, nil // the catalog kept changing under the check: nothing to conclude
}

// appliedNow is the catalog's applied seq once the records other
// processes have appended are applied: a snapshot beside the check may be
// between its append and its commit (CatchUp waits for that commit, or
// applies the record of a process that died there).
func (r *Repo) appliedNow(ctx context.Context) (int64, error) {
	if !r.readOnly {
		if _, err := r.db.CatchUp(ctx); err != nil {
			return 0, err
		}
	}
	return r.db.AppliedSeq(ctx)
}

type match int

const (
	matchYes match = iota
	matchNo
	matchMoved // the live catalog applied another record meanwhile
)

// replayMatches rebuilds a scratch catalog from checkpoint + log and
// compares its rows with the live catalog's (catalog.StateDigest: a
// digest of the checkpoint stream both would dump).
func (r *Repo) replayMatches(ctx context.Context) (match, int64, error) {
	scratch := r.tmpDir()
	if r.readOnly {
		scratch = "" // the system's temporary directory
	}
	dir, err := os.MkdirTemp(scratch, "check-replay-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	if _, err := r.rebuildInto(ctx, filepath.Join(dir, catalogName)); err != nil {
		return 0, 0, err
	}
	replayed, err := catalog.Open(ctx, filepath.Join(dir, catalogName), false)
	if err != nil {
		return 0, 0, err
	}
	defer replayed.Close()
	wantSeq, want, err := replayed.StateDigest(ctx)
	if err != nil {
		return 0, 0, err
	}
	gotSeq, got, err := r.db.StateDigest(ctx)
	if err != nil {
		return 0, 0, err
	}
	switch {
	case gotSeq != wantSeq:
		return matchMoved, gotSeq, nil
	case want == got:
		return matchYes, gotSeq, nil
	}
	return matchNo, gotSeq, nil
}

// LogRepairReport says what RepairLog did.
type LogRepairReport struct {
	// Checkpoint is the seq of the checkpoint written from the catalog.
	Checkpoint int64
	// Removed counts the records and older checkpoints it superseded.
	Removed metalog.PruneReport
}

// RepairLog re-bases a damaged log on a sound catalog: it verifies the
// catalog file (integrity_check), writes a checkpoint of it at the seq it
// has applied, and removes every record and older checkpoint that
// checkpoint supersedes, damaged ones included. What the damaged records
// said is in the catalog, so nothing is lost.
func (r *Repo) RepairLog(ctx context.Context) (*LogRepairReport, error) {
	if r.log == nil {
		return nil, fmt.Errorf("%s: %w", r.Dir, ErrNoLog)
	}
	if r.readOnly {
		return nil, r.errReadOnly()
	}
	rl, err := r.lockRepo(ctx, repolock.Exclusive)
	if err != nil {
		return nil, err
	}
	defer rl.Release()
	if err := r.db.IntegrityCheck(ctx); err != nil {
		return nil, fmt.Errorf("%s: the catalog is damaged too (%w): the log cannot be re-based on it", r.Dir, err)
	}
	seq, err := r.log.WriteCheckpoint(ctx, func(w io.Writer) (int64, error) { return r.db.DumpState(ctx, w) })
	if err != nil {
		return nil, err
	}
	rep := &LogRepairReport{Checkpoint: seq}
	if rep.Removed, err = r.log.PruneThrough(ctx, seq); err != nil {
		return nil, err
	}
	return rep, nil
}

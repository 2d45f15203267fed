package catalog

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/cairn-dev/cairn/blobstore"
)

// Journal stores the catalog's records: the metadata log of a format-2
// repository (package metalog seals them and keeps them as
// log/<writer>/<seq>). seq starts at 1 and has no gaps. A Journal must
// never use the catalog: Append and Read are called while the catalog's
// write transaction is open.
type Journal interface {
	// Append stores rec as record seq, durably, before it returns. A seq
	// already stored is an error wrapping blobstore.ErrExists, and the
	// stored record is left as it is. After any error the catalog reads
	// seq back: if it holds rec (a response lost after the write), the
	// write commits; otherwise it rolls back, and a record that was
	// stored after all is applied by the next CatchUp, as after a crash.
	Append(ctx context.Context, seq int64, rec []byte) error
	// Read returns record seq; an absent one is an error wrapping
	// blobstore.ErrNotFound (catalog.ErrNotFound is accepted too).
	Read(ctx context.Context, seq int64) ([]byte, error)
}

// ErrRecord means a record of the log does not decode or does not apply
// to the catalog it follows: the log is damaged, or it was written by a
// newer cairn.
var ErrRecord = errors.New("catalog: bad log record")

// SetJournal makes every later change of a replicated table go through j.
// nil (the default) means no log: a format-1 repository works as it always
// has. Call it once, right after Open, before anything writes.
func (db *DB) SetJournal(j Journal) { db.journal = j }

// AppliedSeq is the seq of the last record applied to this catalog (0:
// none).
func (db *DB) AppliedSeq(ctx context.Context) (int64, error) {
	var seq int64
	err := db.r.QueryRowContext(ctx, selectApplied).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("read applied log seq: %w", err)
	}
	return seq, nil
}

// selectApplied reads the applied seq of this installation's own log.
const selectApplied = "SELECT coalesce((SELECT seq FROM log_applied WHERE writer = ''), 0)"

const updateApplied = "INSERT INTO log_applied(writer, seq) VALUES ('', ?) ON CONFLICT(writer) DO UPDATE SET seq = excluded.seq"

func appliedSeq(ctx context.Context, tx *sql.Tx) (int64, error) {
	var seq int64
	if err := tx.QueryRowContext(ctx, selectApplied).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read applied log seq: %w", err)
	}
	return seq, nil
}

func isNoRecord(err error) bool {
	return errors.Is(err, blobstore.ErrNotFound) || errors.Is(err, ErrNotFound)
}

// errSeqTaken is mutate's signal that another process appended the
// record at the seq this catalog would use next.
type errSeqTaken struct{ err error }

func (e *errSeqTaken) Error() string { return e.err.Error() }
func (e *errSeqTaken) Unwrap() error { return e.err }

// mutate runs one change of the replicated tables, in one write
// transaction: prepare computes the record from what the catalog holds
// (the next snapshot id, the snapshots a forget may delete; it may also
// change local tables, such as dead holds), the record is applied with the
// function replay uses, and with a journal, if the record changed any row,
// it is appended at applied+1 and the applied seq recorded before COMMIT.
// So a record that fails to apply is never appended, and one appended is
// one that applies to the state it follows. A crash after the Append
// leaves the record for CatchUp. If another process holds that seq (its
// record is not applied here yet), mutate rolls back, catches up and tries
// once more. prepare returning nil means there is nothing to do.
func (db *DB) mutate(ctx context.Context, prepare func(tx *sql.Tx) (record, error)) (record, error) {
	for attempt := 0; ; attempt++ {
		var rec record
		err := db.Write(ctx, func(tx *sql.Tx) error {
			var err error
			if rec, err = prepare(tx); err != nil || rec == nil {
				return err
			}
			if db.journal == nil {
				return rec.apply(ctx, tx, 0)
			}
			return db.applyAndAppend(ctx, tx, rec)
		})
		var taken *errSeqTaken
		if errors.As(err, &taken) && attempt == 0 {
			if _, err := db.CatchUp(ctx); err != nil {
				return nil, fmt.Errorf("catch up with the log: %w", err)
			}
			continue
		}
		return rec, err
	}
}

func (db *DB) applyAndAppend(ctx context.Context, tx *sql.Tx, rec record) error {
	before, err := totalChanges(ctx, tx)
	if err != nil {
		return err
	}
	// The record is encoded (and compressed) while it is applied: apply
	// only reads it, and on two cores the encoding of a big first
	// snapshot then costs next to no wall time.
	writers, err := writerMap(ctx, tx)
	if err != nil {
		return err
	}
	encoded := make(chan []byte, 1)
	go func() { encoded <- encodeRecord(rec, writers) }()
	if err := rec.apply(ctx, tx, 0); err != nil {
		<-encoded
		return err
	}
	b := <-encoded
	after, err := totalChanges(ctx, tx)
	if err != nil {
		return err
	}
	if after == before {
		return nil // nothing changed: nothing to replay
	}
	seq, err := appliedSeq(ctx, tx)
	if err != nil {
		return err
	}
	if err := db.journal.Append(ctx, seq+1, b); err != nil && !db.stored(ctx, seq+1, b) {
		if errors.Is(err, blobstore.ErrExists) {
			return &errSeqTaken{fmt.Errorf("append log record %d: %w", seq+1, err)}
		}
		return fmt.Errorf("append log record %d: %w", seq+1, err)
	}
	if _, err := tx.ExecContext(ctx, updateApplied, seq+1); err != nil {
		return fmt.Errorf("record applied log seq: %w", err)
	}
	return nil
}

// stored reports whether record seq is b after an Append that failed: a
// store whose response was lost after the write succeeded, or a retried
// PUT that found its own first attempt, has stored the record, and the
// write may commit. Anything else (another record, an error) counts as
// not stored.
func (db *DB) stored(ctx context.Context, seq int64, b []byte) bool {
	got, err := db.journal.Read(ctx, seq)
	return err == nil && bytes.Equal(got, b)
}

// totalChanges counts the rows changed on the writer connection so far.
func totalChanges(ctx context.Context, tx *sql.Tx) (int64, error) {
	var n int64
	if err := tx.QueryRowContext(ctx, "SELECT total_changes()").Scan(&n); err != nil {
		return 0, fmt.Errorf("count changes: %w", err)
	}
	return n, nil
}

// catchUpBatch is how many records CatchUp applies in one transaction:
// one fsync per batch, not per record.
const catchUpBatch = 256

// CatchUp applies the records that follow the applied seq, in order, until
// the journal has no next one, and returns how many it applied. It is how
// a record appended by a process that crashed before its commit gets
// applied, and it is idempotent: records already applied are never read
// again. A record that does not decode or does not apply stops it with an
// error wrapping ErrRecord; the records before it stay applied.
func (db *DB) CatchUp(ctx context.Context) (applied int, err error) {
	if db.journal == nil {
		return 0, nil
	}
	for {
		n, more, err := db.catchUpBatch(ctx)
		applied += n
		if err != nil || !more {
			return applied, err
		}
	}
}

func (db *DB) catchUpBatch(ctx context.Context) (applied int, more bool, err error) {
	return db.catchUpBatchTo(ctx, "", db.journal, 1<<62)
}

// appliedOf is the applied seq of writer's log ("": this installation's).
func appliedOf(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, writer string) (int64, error) {
	var seq int64
	err := q.QueryRowContext(ctx, "SELECT coalesce((SELECT seq FROM log_applied WHERE writer = ?), 0)", writer).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("read applied log seq: %w", err)
	}
	return seq, nil
}

// catchUpBatchTo applies up to catchUpBatch records of writer's log j
// ("": this installation's own), none after limit, in one transaction.
func (db *DB) catchUpBatchTo(ctx context.Context, writer string, j Journal, limit int64) (applied int, more bool, err error) {
	// Usually there is no next record: find out without the write lock.
	seq, err := appliedOf(ctx, db.r, writer)
	if err != nil || seq >= limit {
		return 0, false, err
	}
	next, err := j.Read(ctx, seq+1)
	if isNoRecord(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read log record %d: %w", seq+1, err)
	}
	var bad error
	err = db.Write(ctx, func(tx *sql.Tx) error {
		applied, more, bad = 0, false, nil
		cur, err := appliedOf(ctx, tx, writer)
		if err != nil {
			return err
		}
		if cur != seq {
			more = true // another process applied records meanwhile
			return nil
		}
		var owner int64
		if writer != "" {
			if owner, err = slotFor(ctx, tx, writer); err != nil {
				return err
			}
		}
		for {
			if bad = applyStored(ctx, tx, seq+1, next, owner, db.self); bad != nil {
				break
			}
			seq++
			applied++
			if seq >= limit {
				break
			}
			if applied == catchUpBatch {
				more = true
				break
			}
			next, err = j.Read(ctx, seq+1)
			if isNoRecord(err) {
				break
			}
			if err != nil {
				bad = fmt.Errorf("read log record %d: %w", seq+1, err)
				break
			}
		}
		if applied == 0 {
			return bad
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO log_applied(writer, seq) VALUES (?, ?) ON CONFLICT(writer) DO UPDATE SET seq = excluded.seq", writer, seq)
		return err
	})
	if err != nil {
		return 0, false, err
	}
	return applied, more && bad == nil, bad
}

// applyStored decodes and applies record seq of the writer in slot owner
// inside a savepoint, so that one that fails leaves the records before it
// applied. Its ids are mapped into this catalog's slots first.
func applyStored(ctx context.Context, tx *sql.Tx, seq int64, b []byte, owner int64, self string) error {
	rec, writers, err := decodeRecord(b)
	if err != nil {
		return fmt.Errorf("log record %d: %w", seq, err)
	}
	switch rec.(type) {
	case *dropRecord, *repackRecord, *missingRecord:
		// A missing record too: it sets what an earlier one of another
		// writer set (missing, then present again), so the order matters.
		if dep, err := unmetDependency(ctx, tx, self, writers); err != nil || dep != nil {
			if err != nil {
				return err
			}
			return dep
		}
	}
	if _, err := tx.ExecContext(ctx, "SAVEPOINT record"); err != nil {
		return err
	}
	m, err := slotMapping(ctx, tx, owner, writers)
	if err == nil && m != nil {
		p := &mapper{m: m}
		rec.remap(p)
		err = p.err
	}
	if err == nil {
		err = rec.apply(ctx, tx, owner)
	}
	if err != nil {
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO record; RELEASE record"); rerr != nil {
			return rerr
		}
		return fmt.Errorf("apply log record %d: %w: %w", seq, ErrRecord, err)
	}
	_, err = tx.ExecContext(ctx, "RELEASE record")
	return err
}

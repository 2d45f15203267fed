package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"

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
	// stored record is left as it is.
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

// CatchUp applies the records that follow the applied seq, in order, until
// the journal has no next one, and returns how many it applied. It is how
// a record appended by a process that crashed before its commit gets
// applied, and it is idempotent: records already applied are never read.
func (db *DB) CatchUp(ctx context.Context) (applied int, err error) {
	if db.journal == nil {
		return 0, nil
	}
	return 0, errors.New("catalog: CatchUp not implemented yet")
}

// DumpState writes a checkpoint of every replicated row to w, from one read
// transaction, and returns the seq of the last record the rows reflect.
func (db *DB) DumpState(ctx context.Context, w io.Writer) (seq int64, err error) {
	return 0, errors.New("catalog: DumpState not implemented yet")
}

// Rebuild makes a new catalog at path from a checkpoint (nil: none, start
// empty) and the records of j that follow it, and returns it open with j
// set as its journal. path must not exist.
func Rebuild(ctx context.Context, path string, checkpoint io.Reader, j Journal) (*DB, error) {
	return nil, errors.New("catalog: Rebuild not implemented yet")
}

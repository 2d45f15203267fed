package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mattn/go-sqlite3"
)

// Hold keeps a snapshot from being forgotten by a retention policy, while
// its holder process lives or until Expires (see migration 0003). Whether a
// holder still lives is for the caller to judge: the catalog only stores it.
type Hold struct {
	ID         int64
	SnapshotID int64
	Reason     string    // what holds it, e.g. "restore"
	Holder     string    // the holding process ("host boot-id pid start"); "" = none
	PID        int       // the holder's pid, for people
	Created    time.Time //
	Expires    time.Time // zero: as long as Holder lives
}

// AddHolds records holds and returns their ids. A snapshot that does not
// exist is ErrNotFound, and nothing is recorded. Holds of a process and
// no expiry are not fsynced (writeUnsynced): a crash that could lose them
// ends their holder too.
func (db *DB) AddHolds(ctx context.Context, holds []Hold) ([]int64, error) {
	write := db.writeUnsynced
	for _, h := range holds {
		if h.Holder == "" || !h.Expires.IsZero() {
			write = db.Write
		}
	}
	var ids []int64
	err := write(ctx, func(tx *sql.Tx) error {
		ids = ids[:0]
		for _, h := range holds {
			var exists bool
			if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM snapshot WHERE id = ?)", h.SnapshotID).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				return fmt.Errorf("snapshot %d: %w", h.SnapshotID, ErrNotFound)
			}
			var id int64
			if err := tx.QueryRowContext(ctx, `INSERT INTO hold(snapshot_id, reason, holder, pid, created_ns, expires_ns)
				VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, h.SnapshotID, h.Reason, nullString(h.Holder), nullInt(int64(h.PID)),
				h.Created.UnixNano(), nullTime(h.Expires)).Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		var se sqlite3.Error
		if errors.As(err, &se) && (se.Code == sqlite3.ErrReadonly || se.Code == sqlite3.ErrPerm) {
			// Writable by permission bits, yet not writable (a read-only
			// mount): the same as a catalog opened read-only.
			return nil, fmt.Errorf("hold snapshots: %w: %v", ErrOpenedReadOnly, err)
		}
		return nil, fmt.Errorf("hold snapshots: %w", err)
	}
	return ids, nil
}

// DropHolds removes holds by id; ids already gone are ignored. Like
// AddHolds, it does not fsync where every hold is a process's without an
// expiry: a drop a crash takes back brings back a hold of a process that
// is gone, which counts for nothing.
func (db *DB) DropHolds(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	write := db.writeUnsynced
	for _, id := range ids {
		var durable bool
		if err := db.r.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM hold WHERE id = ? AND (holder IS NULL OR expires_ns IS NOT NULL))", id).Scan(&durable); err != nil {
			return fmt.Errorf("release holds: %w", err)
		}
		if durable {
			write = db.Write
		}
	}
	err := write(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, "DELETE FROM hold WHERE id = ?", id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("release holds: %w", err)
	}
	return nil
}

// Holds lists the holds on snapshots of one source, or (sourceID 0) of all.
func (db *DB) Holds(ctx context.Context, sourceID int64) ([]Hold, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT h.id, h.snapshot_id, h.reason, coalesce(h.holder, ''), coalesce(h.pid, 0),
		h.created_ns, h.expires_ns FROM hold h JOIN snapshot s ON s.id = h.snapshot_id
		WHERE ? = 0 OR s.source_id = ? ORDER BY h.id`, sourceID, sourceID)
	if err != nil {
		return nil, fmt.Errorf("list holds: %w", err)
	}
	defer rows.Close()
	var out []Hold
	for rows.Next() {
		var h Hold
		var created int64
		var expires sql.NullInt64
		if err := rows.Scan(&h.ID, &h.SnapshotID, &h.Reason, &h.Holder, &h.PID, &created, &expires); err != nil {
			return nil, fmt.Errorf("list holds: %w", err)
		}
		h.Created = nsTime(created)
		if expires.Valid {
			h.Expires = nsTime(expires.Int64)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// insertWarning records one warning of snapshot snapID. The snapshot it
// names is held for WarningHoldFor from started, so the restore the warning
// suggests still works when a person reads it days later. A named snapshot
// forgotten meanwhile (by id, which takes no source lock) is not an error:
// the warning then names none.
func insertWarning(ctx context.Context, tx *sql.Tx, snapID int64, started time.Time, w Warning, slot int64) error {
	id, err := nextInSlot(ctx, tx, "warning", slot)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO warning(id, snapshot_id, path, kind, message, ref_snapshot_id)
		VALUES (?, ?, ?, ?, ?, (SELECT id FROM snapshot WHERE id = ?))`, id, snapID, w.Path, w.Kind, w.Message, w.RefSnapshotID); err != nil {
		return fmt.Errorf("insert warning: %w", err)
	}
	if w.RefSnapshotID == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO hold(snapshot_id, reason, created_ns, expires_ns)
		SELECT id, ?, ?, ? FROM snapshot WHERE id = ?`, fmt.Sprintf("warning of snapshot %d", snapID),
		started.UnixNano(), started.Add(WarningHoldFor).UnixNano(), w.RefSnapshotID); err != nil {
		return fmt.Errorf("hold the snapshot a warning names: %w", err)
	}
	return nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func nullInt(n int64) sql.NullInt64 { return sql.NullInt64{Int64: n, Valid: n != 0} }

func nullTime(t time.Time) sql.NullInt64 {
	return sql.NullInt64{Int64: t.UnixNano(), Valid: !t.IsZero()}
}

package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// SourceSettings changes some of a source's settings; nil fields are left
// as they are.
type SourceSettings struct {
	Policy       *string
	Runtime      *[]string
	MassDeletion *float64
	Excludes     *string // JSON; "" clears them
}

// SetSourceSettings stores settings of a source, creating the source row if
// it has never been snapshotted.
func (db *DB) SetSourceSettings(ctx context.Context, source string, s SourceSettings) error {
	return db.Write(ctx, func(tx *sql.Tx) error {
		id, err := ensureSource(ctx, tx, source)
		if err != nil {
			return err
		}
		if s.Policy != nil {
			if _, err := tx.ExecContext(ctx, "UPDATE source SET policy = ? WHERE id = ?", *s.Policy, id); err != nil {
				return err
			}
		}
		if s.Runtime != nil {
			if _, err := tx.ExecContext(ctx, "UPDATE source SET runtime = ? WHERE id = ?", strings.Join(*s.Runtime, "\n"), id); err != nil {
				return err
			}
		}
		if s.Excludes != nil {
			if _, err := tx.ExecContext(ctx, "UPDATE source SET excludes = nullif(?, '') WHERE id = ?", *s.Excludes, id); err != nil {
				return err
			}
		}
		if s.MassDeletion != nil {
			if _, err := tx.ExecContext(ctx, "UPDATE source SET mass_deletion = ? WHERE id = ?", *s.MassDeletion, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetPolicy stores a source's retention policy (JSON).
func (db *DB) SetPolicy(ctx context.Context, source, policy string) error {
	return db.SetSourceSettings(ctx, source, SourceSettings{Policy: &policy})
}

// ForgetStats counts what Forget removed.
type ForgetStats struct {
	Snapshots, Versions, Contents int
}

// Forget deletes snapshots, the versions no remaining snapshot sees, and
// the contents no version uses, in one transaction. Chunks stay until gc,
// which alone deletes stored data.
func (db *DB) Forget(ctx context.Context, ids []int64) (ForgetStats, error) {
	st, _, err := db.forget(ctx, ids, nil, false)
	return st, err
}

// ForgetUnheld is Forget for a retention policy that decided from the holds
// it read earlier: in the same transaction as the forget it deletes the
// holds it judged dead (deadHolds), and keeps any snapshot that has gained a
// process hold since (a restore that started meanwhile). It returns what it
// kept for that reason.
func (db *DB) ForgetUnheld(ctx context.Context, ids, deadHolds []int64) (ForgetStats, []int64, error) {
	return db.forget(ctx, ids, deadHolds, true)
}

func (db *DB) forget(ctx context.Context, ids, deadHolds []int64, unheld bool) (ForgetStats, []int64, error) {
	var st ForgetStats
	var kept []int64
	err := db.Write(ctx, func(tx *sql.Tx) error {
		st, kept = ForgetStats{}, nil
		for _, h := range deadHolds {
			if _, err := tx.ExecContext(ctx, "DELETE FROM hold WHERE id = ?", h); err != nil {
				return fmt.Errorf("delete dead hold: %w", err)
			}
		}
		sources := map[int64]bool{}
		for _, id := range ids {
			if unheld {
				var held bool
				if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM hold WHERE snapshot_id = ? AND holder IS NOT NULL)", id).Scan(&held); err != nil {
					return fmt.Errorf("read holds: %w", err)
				}
				if held {
					kept = append(kept, id)
					continue
				}
			}
			var src int64
			err := tx.QueryRowContext(ctx, "SELECT source_id FROM snapshot WHERE id = ?", id).Scan(&src)
			if err == sql.ErrNoRows {
				continue
			}
			if err != nil {
				return err
			}
			sources[src] = true
			if _, err := tx.ExecContext(ctx, "DELETE FROM snapshot WHERE id = ?", id); err != nil {
				return fmt.Errorf("delete snapshot %d: %w", id, err)
			}
			st.Snapshots++
		}
		for src := range sources {
			res, err := tx.ExecContext(ctx, `DELETE FROM version WHERE source_id = ?1 AND NOT EXISTS (
				SELECT 1 FROM snapshot s WHERE s.source_id = ?1 AND s.id >= version.first_snapshot_id
				AND (version.last_snapshot_id IS NULL OR s.id <= version.last_snapshot_id))`, src)
			if err != nil {
				return fmt.Errorf("delete unseen versions: %w", err)
			}
			n, _ := res.RowsAffected()
			st.Versions += int(n)
		}
		n, err := deleteUnusedContents(ctx, tx)
		st.Contents = n
		return err
	})
	if err != nil {
		return st, nil, fmt.Errorf("forget: %w", err)
	}
	return st, kept, nil
}

func deleteUnusedContents(ctx context.Context, tx *sql.Tx) (int, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM content WHERE NOT EXISTS (SELECT 1 FROM version v WHERE v.content_id = content.id)`)
	if err != nil {
		return 0, fmt.Errorf("delete unused contents: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

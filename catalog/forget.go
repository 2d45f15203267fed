package catalog

import (
	"context"
	"database/sql"
	"fmt"
)

// SourceSettings changes some of a source's settings; nil fields are left
// as they are.
type SourceSettings struct {
	Policy       *string
	Runtime      *[]string
	MassDeletion *float64
	Excludes     *string // JSON; "" clears them
	Replica      *Replica
}

// Replica is where the repository is replicated after every snapshot of
// a source: Target is s3://bucket/prefix or an absolute directory ("" is
// none), Endpoint the S3 server of an s3:// target ("": the default).
type Replica struct {
	Target, Endpoint string
}

// SetSourceSettings stores settings of a source, creating the source row if
// it has never been snapshotted.
func (db *DB) SetSourceSettings(ctx context.Context, source string, s SourceSettings) error {
	_, err := db.mutate(ctx, func(tx *sql.Tx) (record, error) {
		return &settingsRecord{Source: source, Settings: s}, nil
	})
	return err
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
	var kept []int64
	rec, err := db.mutate(ctx, func(tx *sql.Tx) (record, error) {
		// Holds are local: which snapshots they keep is decided here, and
		// the record names only the snapshots that go.
		kept = nil
		for _, h := range deadHolds {
			if _, err := tx.ExecContext(ctx, "DELETE FROM hold WHERE id = ?", h); err != nil {
				return nil, fmt.Errorf("delete dead hold: %w", err)
			}
		}
		rec := &forgetRecord{}
		for _, id := range ids {
			if unheld {
				var held bool
				if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM hold WHERE snapshot_id = ? AND holder IS NOT NULL)", id).Scan(&held); err != nil {
					return nil, fmt.Errorf("read holds: %w", err)
				}
				if held {
					kept = append(kept, id)
					continue
				}
			}
			rec.IDs = append(rec.IDs, id)
		}
		return rec, nil
	})
	if err != nil {
		return ForgetStats{}, nil, fmt.Errorf("forget: %w", err)
	}
	return rec.(*forgetRecord).stats, kept, nil
}

func deleteUnusedContents(ctx context.Context, tx *sql.Tx) (int, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM content WHERE NOT EXISTS (SELECT 1 FROM version v WHERE v.content_id = content.id)`)
	if err != nil {
		return 0, fmt.Errorf("delete unused contents: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

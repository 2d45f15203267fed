package catalog

import (
	"context"
	"database/sql"
	"fmt"
)

// recordState gives a new snapshot its state id (see migration 0003): an
// unchanged snapshot continues the state of the source's live versions, a
// changed one starts its own. The live state is kept on the source row, not
// read from the previous snapshot, because that snapshot may have been
// forgotten while the live versions it left (and so the state) remain.
func recordState(ctx context.Context, tx *sql.Tx, sourceID, snapID int64, changed bool) error {
	state := snapID
	if !changed {
		var live sql.NullInt64
		if err := tx.QueryRowContext(ctx, "SELECT live_state_id FROM source WHERE id = ?", sourceID).Scan(&live); err != nil {
			return fmt.Errorf("read live state: %w", err)
		}
		if live.Valid {
			state = live.Int64
		}
	}
	if _, err := tx.ExecContext(ctx, "UPDATE snapshot SET state_id = ? WHERE id = ?", state, snapID); err != nil {
		return fmt.Errorf("record snapshot state: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE source SET live_state_id = ? WHERE id = ?", state, sourceID); err != nil {
		return fmt.Errorf("record live state: %w", err)
	}
	return nil
}

// SnapshotStates maps each snapshot of a source to its state id: snapshots
// with equal state ids have identical content.
func (db *DB) SnapshotStates(ctx context.Context, sourceID int64) (map[int64]int64, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT id, coalesce(state_id, id) FROM snapshot WHERE source_id = ?", sourceID)
	if err != nil {
		return nil, fmt.Errorf("read snapshot states: %w", err)
	}
	defer rows.Close()
	out := map[int64]int64{}
	for rows.Next() {
		var id, state int64
		if err := rows.Scan(&id, &state); err != nil {
			return nil, fmt.Errorf("read snapshot states: %w", err)
		}
		out[id] = state
	}
	return out, rows.Err()
}

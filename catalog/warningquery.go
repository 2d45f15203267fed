package catalog

import (
	"context"
	"fmt"
)

// HasWarning reports whether a snapshot carries a warning of kind (as
// restore asks of a mass deletion before restoring a directory from it).
func (db *DB) HasWarning(ctx context.Context, snapshotID int64, kind string) (bool, error) {
	var n int
	err := db.r.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM warning WHERE snapshot_id = ? AND kind = ?)", snapshotID, kind).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read warnings of snapshot %d: %w", snapshotID, err)
	}
	return n == 1, nil
}

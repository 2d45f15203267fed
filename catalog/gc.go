package catalog

import (
	"context"
	"database/sql"
	"fmt"
)

// The methods here are for gc, which calls them while it holds the
// repository's exclusive lock: no snapshot is in flight, so every chunk a
// snapshot will reference is already referenced by a committed content.

// LiveChunks returns the ids of every chunk some content uses. Contents no
// version uses are deleted first.
func (db *DB) LiveChunks(ctx context.Context) (map[int64]bool, error) {
	if err := db.Write(ctx, func(tx *sql.Tx) error {
		_, err := deleteUnusedContents(ctx, tx)
		return err
	}); err != nil {
		return nil, err
	}
	live := map[int64]bool{}
	err := db.ForEachContent(ctx, func(id int64, chunks []int64, err error) error {
		if err != nil {
			return fmt.Errorf("content %d: %w", id, err)
		}
		for _, c := range chunks {
			live[c] = true
		}
		return nil
	})
	return live, err
}

// DropChunks deletes dead chunk rows and the rows of packs left with no
// chunks, in one transaction, and returns the names of those packs: their
// files may be deleted once this returns.
func (db *DB) DropChunks(ctx context.Context, dead []int64, emptyPacks []int64) ([]string, error) {
	var names []string
	err := db.Write(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, "DELETE FROM chunk WHERE id = ?")
		if err != nil {
			return err
		}
		defer st.Close()
		for _, id := range dead {
			if _, err := st.ExecContext(ctx, id); err != nil {
				return fmt.Errorf("delete chunk %d: %w", id, err)
			}
		}
		for _, p := range emptyPacks {
			var name string
			err := tx.QueryRowContext(ctx, `DELETE FROM pack WHERE id = ? AND NOT EXISTS (SELECT 1 FROM chunk WHERE pack_id = pack.id)
				RETURNING name`, p).Scan(&name)
			if err == sql.ErrNoRows {
				continue
			}
			if err != nil {
				return fmt.Errorf("delete pack %d: %w", p, err)
			}
			names = append(names, name)
		}
		return nil
	})
	return names, err
}

// Move is a chunk's new place after a repack.
type Move struct {
	ChunkID        int64
	Offset, Length int64
	PlainOffset    int64
}

// Repacked records that the chunks of oldPack now live in newPack and
// deletes oldPack's row; it returns the old pack's name, whose file may be
// deleted once this returns. newPack must already be durable.
func (db *DB) Repacked(ctx context.Context, oldPack int64, newPack NewPack, moves []Move) (string, error) {
	var oldName string
	err := db.Write(ctx, func(tx *sql.Tx) error {
		var newID int64
		err := tx.QueryRowContext(ctx, "INSERT INTO pack(name, size, created_ns) VALUES (?, ?, ?) RETURNING id",
			newPack.Name, newPack.Size, db.Now().UnixNano()).Scan(&newID)
		if err != nil {
			return fmt.Errorf("insert pack %s: %w", newPack.Name, err)
		}
		st, err := tx.PrepareContext(ctx, "UPDATE chunk SET pack_id = ?, offset = ?, length = ?, plain_offset = ? WHERE id = ? AND pack_id = ?")
		if err != nil {
			return err
		}
		defer st.Close()
		for _, m := range moves {
			if _, err := st.ExecContext(ctx, newID, m.Offset, m.Length, m.PlainOffset, m.ChunkID, oldPack); err != nil {
				return fmt.Errorf("move chunk %d: %w", m.ChunkID, err)
			}
		}
		err = tx.QueryRowContext(ctx, `DELETE FROM pack WHERE id = ? AND NOT EXISTS (SELECT 1 FROM chunk WHERE pack_id = pack.id)
			RETURNING name`, oldPack).Scan(&oldName)
		if err == sql.ErrNoRows {
			return fmt.Errorf("pack %d still holds chunks after the repack", oldPack)
		}
		return err
	})
	return oldName, err
}

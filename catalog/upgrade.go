package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// cairn upgrade turns a format-1 repository into format 2 on a copy of its
// catalog, with no journal attached: the packs are re-encoded (keyed chunk
// ids, sealed blobs), each chunk keeps its row id, so contents, versions
// and snapshots are untouched and only the chunk and pack tables change.
// The converted state then becomes the log's first checkpoint.

// RekeyedChunk is a chunk as cairn upgrade re-encoded it: its row id, its
// keyed id and where its blob now lies. Its size and place in the blob's
// plaintext do not change.
type RekeyedChunk struct {
	ID             int64
	Hash           [32]byte
	Offset, Length int64
}

// ErrJournaled refuses an upgrade step on a catalog with a journal: the
// steps rewrite rows without records, which only a copy being converted
// may do.
var ErrJournaled = errors.New("catalog: an upgrade step on a catalog with a journal")

// RekeyPack records that every chunk of pack oldPack now lives, under its
// keyed id, in newPack (durable already), and deletes oldPack's row. A
// chunk of oldPack left out fails the whole transaction. A newPack without
// a name (an old pack without chunks) only deletes the old row.
func (db *DB) RekeyPack(ctx context.Context, oldPack int64, newPack NewPack, chunks []RekeyedChunk) error {
	if db.journal != nil {
		return ErrJournaled
	}
	created := db.Now().UnixNano()
	return db.Write(ctx, func(tx *sql.Tx) error {
		var id int64 // an old pack without chunks gets no new one
		if newPack.Name != "" {
			res, err := tx.ExecContext(ctx, "INSERT INTO pack(name, size, created_ns) VALUES (?, ?, ?)", newPack.Name, newPack.Size, created)
			if err != nil {
				return fmt.Errorf("record pack %s: %w", newPack.Name, err)
			}
			if id, err = res.LastInsertId(); err != nil {
				return err
			}
		}
		stmt, err := tx.PrepareContext(ctx, "UPDATE chunk SET hash = ?, pack_id = ?, offset = ?, length = ? WHERE id = ? AND pack_id = ?")
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, c := range chunks {
			res, err := stmt.ExecContext(ctx, c.Hash[:], id, c.Offset, c.Length, c.ID, oldPack)
			if err != nil {
				return fmt.Errorf("rekey chunk %d: %w", c.ID, err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return fmt.Errorf("rekey chunk %d: not in pack %d", c.ID, oldPack)
			}
		}
		var left int64
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM chunk WHERE pack_id = ?", oldPack).Scan(&left); err != nil {
			return err
		}
		if left > 0 {
			return fmt.Errorf("rekey pack %d: %d chunks left behind", oldPack, left)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM pack WHERE id = ?", oldPack); err != nil {
			return fmt.Errorf("delete pack %d: %w", oldPack, err)
		}
		return nil
	})
}

// MarkUpgraded records the converted catalog as repository format 2 whose
// log has applied up to seq (the checkpoint the upgrade writes next).
func (db *DB) MarkUpgraded(ctx context.Context, seq int64) error {
	if db.journal != nil {
		return ErrJournaled
	}
	return db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO meta(key, value) VALUES ('repository_format', '2') ON CONFLICT(key) DO UPDATE SET value = excluded.value"); err != nil {
			return fmt.Errorf("record repository format: %w", err)
		}
		if _, err := tx.ExecContext(ctx, updateApplied, seq); err != nil {
			return fmt.Errorf("record applied log seq: %w", err)
		}
		return nil
	})
}

// Retire makes every later change of the catalog fail with msg: the old
// catalog of an upgraded repository, which a process that opened it before
// the upgrade may still hold open. Triggers live in the file, so they stop
// every connection, even one on a name already unlinked.
func (db *DB) Retire(ctx context.Context, msg string) error {
	quoted := "'" + sqlQuote(msg) + "'"
	var stmts []string
	for _, t := range []string{"snapshot", "source", "pack", "chunk", "content", "version"} {
		for _, op := range []string{"INSERT", "UPDATE", "DELETE"} {
			stmts = append(stmts, fmt.Sprintf("CREATE TRIGGER IF NOT EXISTS retired_%s_%s BEFORE %s ON %s BEGIN SELECT RAISE(ABORT, %s); END",
				t, op, op, t, quoted))
		}
	}
	return db.Write(ctx, func(tx *sql.Tx) error {
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("retire catalog: %w", err)
			}
		}
		return nil
	})
}

func sqlQuote(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(out)
}

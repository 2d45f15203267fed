package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// A pack can vanish from the store (a disk error, a person tidying up).
// Its chunks stay recorded, so that check can say what depends on them,
// but once the pack is known to be missing (pack.missing_ns, set by check
// or by a snapshot that was about to reuse it) a snapshot treats them as
// unknown: it stores them again from the source and moves their rows to
// the new pack (healing every content that lists them, in every snapshot),
// and it reads again the live files whose contents use them. A snapshot
// never commits a new reference to data known to be missing.

// SetPacksMissing records which packs were found missing from the store
// and which were found present again (a pack put back from a copy).
func (db *DB) SetPacksMissing(ctx context.Context, missing, present []string) error {
	if len(missing) == 0 && len(present) == 0 {
		return nil
	}
	now := db.Now().UnixNano()
	_, err := db.mutate(ctx, func(tx *sql.Tx) (record, error) {
		return &missingRecord{Now: now, Missing: missing, Present: present}, nil
	})
	return err
}

// hasMissingPacks reports whether any pack is recorded missing; the pack
// table is small, and the answer is almost always no.
func hasMissingPacks(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pack WHERE missing_ns IS NOT NULL)").Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look for missing packs: %w", err)
	}
	return n == 1, nil
}

// FindChunk looks up a stored chunk by hash on the read pool and returns
// its id and pack. A chunk in a pack recorded missing is not found: the
// caller stores it again.
func (db *DB) FindChunk(ctx context.Context, hash []byte) (id int64, pack string, found bool, err error) {
	// Two writers may each have stored the chunk: take the lowest id.
	err = db.r.QueryRowContext(ctx, `SELECT c.id, p.name FROM chunk c JOIN pack p ON p.id = c.pack_id
		WHERE c.hash = ? AND p.missing_ns IS NULL ORDER BY c.id LIMIT 1`, hash).Scan(&id, &pack)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, fmt.Errorf("look up chunk: %w", err)
	}
	return id, pack, true, nil
}

// markOnMissing makes the live versions whose contents use a chunk of a
// missing pack look changed (fingerprint -1, as for racy timestamps), so
// the snapshot reads them again and stores what the source still has.
func (db *DB) markOnMissing(ctx context.Context, sourceID int64, live map[string]*Version) error {
	onMissing, err := db.contentsOnMissing(ctx, sourceID)
	if err != nil {
		return err
	}
	for _, v := range live {
		if onMissing[v.ContentID] {
			v.FpCtimeNs = -1
		}
	}
	return nil
}

// contentsOnMissing returns the contents of a source's live versions that
// use a chunk of a missing pack (nil when no pack is missing).
func (db *DB) contentsOnMissing(ctx context.Context, sourceID int64) (map[int64]bool, error) {
	if missing, err := hasMissingPacks(ctx, db.r); err != nil || !missing {
		return nil, err
	}
	lost := map[int64]bool{}
	err := db.scan(ctx, `SELECT c.id FROM chunk c JOIN pack p ON p.id = c.pack_id WHERE p.missing_ns IS NOT NULL`, nil,
		func(rows *sql.Rows) error {
			var id int64
			err := rows.Scan(&id)
			lost[id] = true
			return err
		})
	if err != nil || len(lost) == 0 {
		return nil, err
	}
	onMissing := map[int64]bool{}
	err = db.scan(ctx, `SELECT DISTINCT c.id, c.chunks FROM version v JOIN content c ON c.id = v.content_id
		WHERE v.source_id = ? AND v.last_snapshot_id IS NULL`, []any{sourceID}, func(rows *sql.Rows) error {
		var id int64
		var list []byte
		if err := rows.Scan(&id, &list); err != nil {
			return err
		}
		chunks, err := DecodeChunkList(list)
		if err != nil {
			onMissing[id] = true // unreadable: read the file again too
			return nil
		}
		for _, c := range chunks {
			if lost[c] {
				onMissing[id] = true
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return onMissing, nil
}

func (db *DB) scan(ctx context.Context, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// repointMissing moves the rows of chunks that sit in missing packs and
// that this commit stored again to their new place. The rows keep their
// ids, so every content listing them (in any snapshot) is whole again;
// insertChunks then finds the rows by hash as it does for any known chunk.
func repointMissing(ctx context.Context, tx *sql.Tx, chunks []NewChunk, packIDs []int64) error {
	if missing, err := hasMissingPacks(ctx, tx); err != nil || !missing {
		return err
	}
	st, err := tx.PrepareContext(ctx, `UPDATE chunk SET pack_id = ?, offset = ?, length = ?, size = ?, plain_offset = ?
		WHERE hash = ? AND pack_id IN (SELECT id FROM pack WHERE missing_ns IS NOT NULL)`)
	if err != nil {
		return fmt.Errorf("heal chunks: %w", err)
	}
	defer st.Close()
	for i := range chunks {
		ch := &chunks[i]
		if _, err := st.ExecContext(ctx, packIDs[ch.Pack], ch.Offset, ch.Length, ch.Size, ch.PlainOffset, ch.Hash[:]); err != nil {
			return fmt.Errorf("heal chunk: %w", err)
		}
	}
	return nil
}

package catalog

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// The methods here are for gc, which calls them while it holds the
// repository's exclusive lock: no snapshot is in flight, so every chunk a
// snapshot will reference is already referenced by a committed content.

// References is the catalog's graph from versions down to packs, as gc
// needs it to decide what is unreferenced.
type References struct {
	Packs          []Pack
	UnusedContents []int64 // contents no version uses
	// ByPack lists every chunk row of each pack, in pack order.
	ByPack map[int64][]ChunkLoc
	// Live holds the ids of the chunks some used content lists.
	Live map[int64]bool
	// Home is where the catalog keeps each live chunk: its hash and the
	// pack its row names, which gc compares with the footers of the packs
	// it is about to delete.
	Home map[[32]byte]int64
	// Problems are contradictions inside the catalog (a version whose
	// content row is gone, a content listing a chunk the catalog does not
	// have, a chunk in a pack it does not record). With any of them, what
	// looks unreferenced may be live.
	Problems []string
}

// ScanReferences reads the graph with full scans of the tables, never an
// index (NOT INDEXED): a damaged index must not make live data look
// unreferenced. gc once asked version_by_content which contents were
// unused, and one stale page of it made gc delete 3 of 16 live packs.
// The scans hold every chunk row in memory (about 100 bytes each), which
// gc's plan needed anyway.
func (db *DB) ScanReferences(ctx context.Context) (*References, error) {
	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("scan references: %w", err)
	}
	defer tx.Rollback() // read only: one consistent view of every table
	refs := &References{ByPack: map[int64][]ChunkLoc{}, Live: map[int64]bool{}, Home: map[[32]byte]int64{}}

	used := map[int64]bool{}
	err = scanRows(ctx, tx, "SELECT content_id FROM version NOT INDEXED WHERE content_id IS NOT NULL", func(rows *sql.Rows) error {
		var id int64
		err := rows.Scan(&id)
		used[id] = true
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("scan versions: %w", err)
	}
	undecodable := 0
	found := map[int64]bool{}
	err = scanRows(ctx, tx, "SELECT id, chunks FROM content NOT INDEXED", func(rows *sql.Rows) error {
		var id int64
		var list []byte
		if err := rows.Scan(&id, &list); err != nil {
			return err
		}
		found[id] = true
		if !used[id] {
			refs.UnusedContents = append(refs.UnusedContents, id)
			return nil
		}
		chunks, err := DecodeChunkList(list)
		if err != nil {
			undecodable++
			return nil
		}
		for _, c := range chunks {
			refs.Live[c] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan contents: %w", err)
	}
	lostContents := 0
	for id := range used {
		if !found[id] {
			lostContents++
		}
	}

	packName := map[int64]string{}
	err = scanRows(ctx, tx, "SELECT id, name, size, missing_ns IS NOT NULL FROM pack NOT INDEXED ORDER BY id", func(rows *sql.Rows) error {
		var p Pack
		err := rows.Scan(&p.ID, &p.Name, &p.Size, &p.Missing)
		refs.Packs = append(refs.Packs, p)
		packName[p.ID] = p.Name
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("scan packs: %w", err)
	}
	chunkRows := map[int64]bool{}
	strays := 0
	err = scanRows(ctx, tx, "SELECT id, hash, pack_id, offset, length, size, plain_offset FROM chunk NOT INDEXED", func(rows *sql.Rows) error {
		var l ChunkLoc
		var hash []byte
		var pack int64
		if err := rows.Scan(&l.ID, &hash, &pack, &l.Offset, &l.Length, &l.Size, &l.PlainOffset); err != nil {
			return err
		}
		copy(l.Hash[:], hash)
		chunkRows[l.ID] = true
		name, ok := packName[pack]
		if !ok {
			strays++
			return nil
		}
		l.Pack = name
		refs.ByPack[pack] = append(refs.ByPack[pack], l)
		if refs.Live[l.ID] {
			refs.Home[l.Hash] = pack
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan chunks: %w", err)
	}
	lostChunks := 0
	for id := range refs.Live {
		if !chunkRows[id] {
			lostChunks++
		}
	}
	for _, chunks := range refs.ByPack {
		slices.SortFunc(chunks, func(a, b ChunkLoc) int {
			return cmp.Or(cmp.Compare(a.Offset, b.Offset), cmp.Compare(a.PlainOffset, b.PlainOffset))
		})
	}
	for _, p := range []struct {
		n         int
		one, many string
	}{
		{lostContents, "content that versions use is missing from the catalog", "contents that versions use are missing from the catalog"},
		{undecodable, "content has a chunk list that does not decode", "contents have a chunk list that does not decode"},
		{lostChunks, "chunk that contents list is missing from the catalog", "chunks that contents list are missing from the catalog"},
		{strays, "chunk is recorded in a pack the catalog does not have", "chunks are recorded in packs the catalog does not have"},
	} {
		switch {
		case p.n == 1:
			refs.Problems = append(refs.Problems, "1 "+p.one)
		case p.n > 1:
			refs.Problems = append(refs.Problems, fmt.Sprintf("%d %s", p.n, p.many))
		}
	}
	return refs, nil
}

func scanRows(ctx context.Context, tx *sql.Tx, query string, fn func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, query)
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

// Drop deletes unused content rows, dead chunk rows and the rows of packs
// left with no chunks, in one transaction, and returns the names of those
// packs: their files may be deleted once this returns.
func (db *DB) Drop(ctx context.Context, contents, dead, emptyPacks []int64) ([]string, error) {
	rec, err := db.mutate(ctx, func(tx *sql.Tx) (record, error) {
		return &dropRecord{Contents: contents, Dead: dead, EmptyPacks: emptyPacks}, nil
	})
	if err != nil {
		return nil, err
	}
	return rec.(*dropRecord).names, nil
}

// Move is a chunk's new place after a repack.
type Move struct {
	ChunkID        int64
	FromPack       int64 // the pack whose row the chunk leaves
	Offset, Length int64
	PlainOffset    int64
}

// Repacked records that the chunks of oldPacks now live in newPack and
// deletes the old packs' rows, in one transaction; it returns the old
// packs' names, whose files may be deleted once this returns. newPack must
// already be durable. A move whose chunk is no longer in its FromPack, or
// an old pack left holding chunks, fails the whole transaction: the old
// files must stay then.
func (db *DB) Repacked(ctx context.Context, oldPacks []int64, newPack NewPack, moves []Move) ([]string, error) {
	created := db.Now().UnixNano()
	rec, err := db.mutate(ctx, func(tx *sql.Tx) (record, error) {
		id, err := nextInSlot(ctx, tx, "pack", 0)
		return &repackRecord{Old: oldPacks, New: newPack, NewID: id, CreatedNs: created, Moves: moves}, err
	})
	if err != nil {
		return nil, err
	}
	return rec.(*repackRecord).oldNames, nil
}

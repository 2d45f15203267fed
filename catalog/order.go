package catalog

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"
)

// States of a new chunk in orderForInsert: chunkSolo is only ever the
// whole chunk list of a content, chunkInRun is named by a longer list.
const (
	chunkUnnamed = iota
	chunkSolo
	chunkInRun
)

// orderForInsert reorders a commit's new chunks so that their rows reach
// the chunk_by_hash index in hash order, renumbering the contents' chunk
// lists; what the commit means is unchanged (the record carries the new
// order, so a replay inserts the same way).
//
// A first snapshot of small files inserts one chunk per file, and in walk
// order their hashes are random: each insert landed on a random page of an
// index that outgrows the page cache. The commit of 1M small files
// (BenchmarkCommitFirstSnapshot) spent 6.6 of its 21.4 CPU s inserting
// chunks, 15 times what 100k files cost; in hash order 2.2 s.
//
// Only chunks that are a content's whole chunk list move: a content of
// several chunks keeps them in their order, with consecutive ids (its chunk
// list stores deltas, and reads fetch runs of consecutive ids with one
// query). Those chunks come first, as they were, then the single chunks by
// hash.
//
// Contents stay in walk order: ordered by hash, their ids made the
// version_by_content index the random one, which cost more (at 1M files
// the versions' insert went from 4-5 to 15 CPU s, the contents' from 6-8
// to 2.6).
func orderForInsert(c *Commit) {
	n := len(c.NewChunks)
	if n < 2 {
		return
	}
	state := make([]uint8, n)
	for i := range c.Contents {
		refs := c.Contents[i].Chunks
		for _, ref := range refs {
			if ref >= 0 || int(-ref-1) >= n {
				continue
			}
			j := int(-ref - 1)
			if len(refs) == 1 && state[j] != chunkInRun {
				state[j] = chunkSolo
			} else {
				state[j] = chunkInRun
			}
		}
	}
	order := make([]int32, 0, n) // new position -> old index
	for i := range n {
		if state[i] != chunkSolo {
			order = append(order, int32(i))
		}
	}
	kept := len(order)
	for i := range n {
		if state[i] == chunkSolo {
			order = append(order, int32(i))
		}
	}
	sortByHash(order[kept:], func(i int32) *[32]byte { return &c.NewChunks[i].Hash })
	if identity(order) {
		return
	}
	permute(c.NewChunks, order)
	newPos := inverse(order)
	// Each list gets a copy: lists may share memory with the caller's.
	total := 0
	for i := range c.Contents {
		total += len(c.Contents[i].Chunks)
	}
	lists := make([]ChunkRef, 0, total)
	for i := range c.Contents {
		ct := &c.Contents[i]
		start := len(lists)
		for _, ref := range ct.Chunks {
			if ref < 0 && int(-ref-1) < n {
				ref = ChunkRef(-newPos[-ref-1] - 1)
			}
			lists = append(lists, ref)
		}
		ct.Chunks = lists[start:len(lists):len(lists)]
	}
}

func identity(order []int32) bool {
	for i, o := range order {
		if int(o) != i {
			return false
		}
	}
	return true
}

// inverse maps each old index to its new position.
func inverse(order []int32) []int32 {
	pos := make([]int32, len(order))
	for p, old := range order {
		pos[old] = int32(p)
	}
	return pos
}

// permute reorders a in place so that a[p] becomes the old a[order[p]],
// following each cycle of the permutation (no copy of a: at 1M files the
// chunks alone are 80 MB).
func permute[T any](a []T, order []int32) {
	done := make([]bool, len(a))
	for start := range a {
		if done[start] {
			continue
		}
		tmp := a[start]
		p := start
		for {
			done[p] = true
			q := int(order[p])
			if q == start {
				a[p] = tmp
				break
			}
			a[p] = a[q]
			p = q
		}
	}
}

// sortByHash sorts indexes by the hashes they name. It sorts their first
// eight bytes as integers, next to the index (the order of a million
// random hashes compared through the index took 0.77 CPU s), and compares
// whole hashes only where those are equal.
func sortByHash(idx []int32, hash func(int32) *[32]byte) {
	type keyed struct {
		key uint64
		i   int32
	}
	ks := make([]keyed, len(idx))
	for n, i := range idx {
		ks[n] = keyed{binary.BigEndian.Uint64(hash(i)[:8]), i}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if a.key != b.key {
			return cmp.Compare(a.key, b.key)
		}
		return bytes.Compare(hash(a.i)[:], hash(b.i)[:])
	})
	for n := range ks {
		idx[n] = ks[n].i
	}
}

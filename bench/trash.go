package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Trees of many files are not deleted during a run but moved aside, and
// deleted when the run ends. On ext4 without a journal (this machine's
// root), an inode freed in the last minute (five, once its inode-table
// block is dirty again) is skipped by every create that scans past it
// (ialloc.c, recently_deleted): a restore of 20,000 files right after the
// previous tool's 20,000 were deleted spent a quarter of its CPU on that
// scan, so whichever tool restored second paid for the first. Moving the
// tree is one rename, and every tool's restore then starts alike.

// discardMin is the number of entries from which discard moves a tree
// aside: deleting a few big files frees a few inodes.
const discardMin = 1000

// trashNote says in the report how trees are discarded.
const trashNote = "trees of 1,000 files or more (corpora, restored trees) are moved aside during the run and deleted at its end, " +
	"so that no timed step follows the deletion of thousands of files (ext4 without a journal skips recently freed inodes at every create)"

// discard removes dir: a tree of discardMin entries or more is renamed
// into the trash (of a corpus with restore steps), anything else deleted.
func (b *bench) discard(c *corpus, dir string) error {
	if c.snapOnly || b.trash == "" || countEntries(dir, discardMin) < discardMin {
		return removeAll(dir)
	}
	if err := os.MkdirAll(b.trash, 0o755); err != nil {
		return err
	}
	b.trashed++
	if err := os.Rename(dir, filepath.Join(b.trash, fmt.Sprint(b.trashed))); err != nil {
		return removeAll(dir)
	}
	return nil
}

// countEntries counts what is under dir, stopping at limit.
func countEntries(dir string, limit int) int {
	n := 0
	stop := errors.New("enough")
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if n++; n >= limit {
			return stop
		}
		return nil
	})
	return n
}

package catalog_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
)

// records is a Journal in memory; a repository keeps its records in
// log/<writer>/<seq> (package metalog).
type records map[int64][]byte

func (m records) Append(ctx context.Context, seq int64, rec []byte) error {
	if _, ok := m[seq]; ok {
		return fmt.Errorf("record %d: %w", seq, blobstore.ErrExists)
	}
	m[seq] = append([]byte(nil), rec...)
	return nil
}

func (m records) Read(ctx context.Context, seq int64) ([]byte, error) {
	rec, ok := m[seq]
	if !ok {
		return nil, fmt.Errorf("record %d: %w", seq, blobstore.ErrNotFound)
	}
	return rec, nil
}

// A catalog with a journal writes a record of every change; a checkpoint
// and the records after it rebuild it.
func ExampleRebuild() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "cairn-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	journal := records{}
	db, err := catalog.Open(ctx, filepath.Join(dir, "catalog.db"), true)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetJournal(journal)
	t := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	snap := func(label string) {
		if _, err := db.CommitSnapshot(ctx, &catalog.Commit{Source: "/src", Started: t, Finished: t, Label: label}); err != nil {
			log.Fatal(err)
		}
	}
	snap("first")
	var checkpoint bytes.Buffer
	seq, err := db.DumpState(ctx, &checkpoint)
	if err != nil {
		log.Fatal(err)
	}
	snap("second")

	rebuilt, err := catalog.Rebuild(ctx, filepath.Join(dir, "rebuilt.db"), &checkpoint, journal)
	if err != nil {
		log.Fatal(err)
	}
	defer rebuilt.Close()
	applied, _ := rebuilt.AppliedSeq(ctx)
	snaps, _ := rebuilt.Snapshots(ctx, 0)
	fmt.Printf("checkpoint at record %d, rebuilt up to record %d\n", seq, applied)
	for _, s := range snaps {
		fmt.Println(s.ID, s.Label)
	}
	// Output:
	// checkpoint at record 1, rebuilt up to record 2
	// 1 first
	// 2 second
}

package cairn_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/restore"
	"github.com/cairn-dev/cairn/snapshot"
)

// An application snapshots its own state directory at start-up, so a bad
// run can be undone, and later puts one clobbered file back.
func ExampleOpen() {
	ctx := context.Background()
	base, err := os.MkdirTemp("", "cairn-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(base)

	// The application's state, as a previous run left it.
	state := filepath.Join(base, "state")
	settings := filepath.Join(state, "settings.toml")
	if err := os.MkdirAll(filepath.Join(state, "cache"), 0o700); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(settings, []byte("theme = \"dark\"\n"), 0o600); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "cache", "index"), []byte("warm\n"), 0o600); err != nil {
		log.Fatal(err)
	}

	// At start-up: open (or create) the repository and take a snapshot.
	repo, err := cairn.Open(ctx, filepath.Join(base, "repo"), cairn.Options{Create: true})
	if err != nil {
		log.Fatal(err)
	}
	defer repo.Close()
	snap, err := repo.Snapshot(ctx, state, snapshot.Options{Label: "startup", Tags: []string{"startup"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("snapshot %d: %d files, %d bytes\n", snap.ID, snap.Files, snap.TotalBytes)

	// The run goes wrong and truncates the settings.
	if err := os.WriteFile(settings, nil, 0o600); err != nil {
		log.Fatal(err)
	}

	// Put the settings back as the start-up snapshot recorded them. An
	// in-place restore first snapshots what it replaces, to undo it.
	req, _, err := repo.Resolve(ctx, settings, snap.ID, false)
	if err != nil {
		log.Fatal(err)
	}
	res, err := repo.Restore(ctx, []restore.Request{req}, restore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("restored %d file, %d bytes; undo with snapshot %d\n", res.Written, res.Bytes, res.Undo[0].Snapshot)
	data, err := os.ReadFile(settings)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(data))
	// Output:
	// snapshot 1: 2 files, 20 bytes
	// restored 1 file, 15 bytes; undo with snapshot 2
	// theme = "dark"
}

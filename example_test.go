package cairn_test

import (
	"context"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"

	"github.com/cairn-dev/cairn"
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
	snap, err := repo.Snapshot(ctx, state, cairn.SnapshotOptions{Label: "startup", Tags: []string{"startup"}})
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
	res, err := repo.Restore(ctx, []cairn.Request{req}, cairn.RestoreOptions{})
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

// An application looks back at its own history: which snapshots there are,
// a file as one of them recorded it (read through the snapshot's io/fs
// view), what changed between two, and the catalog in SQL.
func ExampleRepo_SnapshotFS() {
	ctx := context.Background()
	base, err := os.MkdirTemp("", "cairn-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(base)
	state := filepath.Join(base, "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		log.Fatal(err)
	}
	repo, err := cairn.Open(ctx, filepath.Join(base, "repo"), cairn.Options{Create: true})
	if err != nil {
		log.Fatal(err)
	}
	defer repo.Close()
	for _, theme := range []string{"dark", "solarized"} {
		settings := fmt.Sprintf("theme = %q\n", theme)
		if err := os.WriteFile(filepath.Join(state, "settings.toml"), []byte(settings), 0o600); err != nil {
			log.Fatal(err)
		}
		if _, err := repo.Snapshot(ctx, state, cairn.SnapshotOptions{}); err != nil {
			log.Fatal(err)
		}
	}

	// The snapshots of the state directory, oldest first.
	snaps, err := repo.Snapshots(ctx, cairn.SnapshotFilter{Source: state})
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range snaps {
		fmt.Printf("snapshot %d: %d file, %d bytes\n", s.ID, s.FileCount, s.TotalBytes)
	}

	// The first snapshot's settings, as an io/fs file system.
	view, err := repo.SnapshotFS(ctx, snaps[0].ID)
	if err != nil {
		log.Fatal(err)
	}
	data, err := fs.ReadFile(view, "settings.toml")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("snapshot %d had %s", snaps[0].ID, data)

	d, err := repo.Diff(ctx, snaps[0].ID, snaps[1].ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("changed:", d.Changed)

	// Every version of the file, in SQL, rows streamed as they come.
	err = repo.Query(ctx, "SELECT first_snapshot_id, size FROM versions WHERE path = 'settings.toml' ORDER BY 1", 0,
		func(cols []string, row []any) error {
			if row != nil {
				fmt.Printf("version from snapshot %v: %v bytes\n", row[0], row[1])
			}
			return nil
		})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// snapshot 1: 1 file, 15 bytes
	// snapshot 2: 1 file, 20 bytes
	// snapshot 1 had theme = "dark"
	// changed: [settings.toml]
	// version from snapshot 1: 15 bytes
	// version from snapshot 2: 20 bytes
}

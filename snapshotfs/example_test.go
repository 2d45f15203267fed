package snapshotfs_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/chunker"
	"github.com/cairn-dev/cairn/snapshot"
	"github.com/cairn-dev/cairn/snapshotfs"
)

// A snapshot is browsed and read with the standard io/fs functions.
func Example() {
	ctx := context.Background()
	base, err := os.MkdirTemp("", "snapshotfs-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(base)
	base, _ = filepath.EvalSymlinks(base)

	// A source directory and a repository (catalog + packs) beside it.
	src := filepath.Join(base, "agent")
	os.MkdirAll(filepath.Join(src, "cron"), 0o700)
	os.WriteFile(filepath.Join(src, "config.yaml"), []byte("model: small\n"), 0o600)
	os.WriteFile(filepath.Join(src, "cron", "jobs.json"), []byte(`{"jobs": ["backup"]}`), 0o600)
	os.Symlink("cron/jobs.json", filepath.Join(src, "jobs"))
	db, err := catalog.Open(ctx, filepath.Join(base, "catalog.db"), true)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	store, err := blobstore.NewLocal(filepath.Join(base, "packs"), filepath.Join(base, "tmp"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	res, err := snapshot.Run(ctx, snapshot.Deps{DB: db, Store: store, TmpDir: filepath.Join(base, "tmp"), Params: chunker.Default},
		src, snapshot.Options{})
	if err != nil {
		log.Fatal(err)
	}

	// The snapshot as a file system.
	view, err := snapshotfs.New(ctx, db, store, nil, res.ID)
	if err != nil {
		log.Fatal(err)
	}
	fs.WalkDir(view, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, _ := d.Info()
		fmt.Println(info.Mode(), p)
		return nil
	})
	jobs, err := fs.ReadFile(view, "jobs") // follows the link
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", jobs)

	// Files are io.ReaderAt and io.Seeker: read a part without the rest.
	f, _ := view.Open("config.yaml")
	defer f.Close()
	part := make([]byte, 5)
	f.(io.ReaderAt).ReadAt(part, 7)
	fmt.Printf("%q\n", part)
	// Output:
	// drwx------ .
	// -rw------- config.yaml
	// drwx------ cron
	// -rw------- cron/jobs.json
	// Lrwxrwxrwx jobs
	// {"jobs": ["backup"]}
	// "small"
}

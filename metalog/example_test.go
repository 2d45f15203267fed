package metalog_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/keys"
	"github.com/cairn-dev/cairn/metalog"
)

// A writer's log in a repository directory: records sealed under their
// names, read back in order until the end, and a record moved to another
// name refused.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "metalog-example-")
	defer os.RemoveAll(dir)
	objs, _ := blobstore.NewLocalObjects(dir, filepath.Join(dir, "local", "tmp"))
	m, _ := keys.NewMaster()
	ks, _ := keys.Derive(m)
	log, _ := metalog.New(objs, ks, "0123456789abcdef0123456789abcdef", "w1")

	for seq, rec := range []string{"snapshot 1", "forget 1"} {
		if err := log.Append(ctx, int64(seq+1), []byte(rec)); err != nil {
			fmt.Println(err)
		}
	}
	for seq := int64(1); ; seq++ {
		rec, err := log.Read(ctx, seq)
		if errors.Is(err, blobstore.ErrNotFound) {
			fmt.Println("end of the log after record", seq-1)
			break
		}
		fmt.Printf("%s: %s\n", metalog.RecordKey("w1", seq), rec)
	}

	// Record 1's bytes stored as record 3: they do not open there.
	b, _ := objs.GetObject(ctx, metalog.RecordKey("w1", 1))
	objs.PutObject(ctx, metalog.RecordKey("w1", 3), b)
	_, err := log.Read(ctx, 3)
	fmt.Println(errors.Is(err, keys.ErrAuth))
	// Output:
	// log/w1/00000000000000000001: snapshot 1
	// log/w1/00000000000000000002: forget 1
	// end of the log after record 2
	// true
}

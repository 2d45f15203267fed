package snapshot

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/chunker"
	"github.com/cairn-dev/cairn/keys"
)

// TestSmallFilesUseTheKeyedGearTable: in an encrypted repository every
// file is cut with the repository's keyed gear table (a public one lets
// chunk sizes confirm content); the path that reads small files whole
// used the public table for files between the chunker's minimum and
// smallMax.
func TestSmallFilesUseTheKeyedGearTable(t *testing.T) {
	base := t.TempDir()
	r := newRepo(t, filepath.Join(base, "repo"))
	m, err := keys.NewMaster()
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.Derive(m)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := blobstore.NewCodec(ks, "0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	r.deps.Codec = codec
	src := filepath.Join(base, "src")
	os.MkdirAll(src, 0o755)
	data := make([]byte, 200<<10) // above the chunker's minimum, below smallMax
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(filepath.Join(src, "f.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	r.snap(t, src, Options{})

	seed, _ := codec.GearSeed()
	want := cuts(t, chunker.NewWithTable(bytes.NewReader(data), chunker.Default, chunker.KeyedTable(seed), nil))
	public := cuts(t, chunker.New(bytes.NewReader(data), chunker.Default, nil))
	if slices.Equal(want, public) {
		t.Fatalf("test data cut the same with both tables (%v): pick other data", want)
	}
	got := r.query(t, "SELECT size FROM chunk ORDER BY id")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("chunk sizes %v, want %v (the keyed table's); the public table gives %v", got, want, public)
	}
}

func cuts(t *testing.T, s chunker.Splitter) []int {
	t.Helper()
	var out []int
	for {
		c, err := s.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, len(c))
	}
}

package cairn_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/metalog"
)

// TestPruneBehindLaggingWriter: beta, a writer with no checkpoint of its
// own (a machine with few snapshots never writes one), last read alpha's
// log early; alpha then checkpoints and gc prunes its log. beta's next
// command must still open and see every alpha snapshot.
func TestPruneBehindLaggingWriter(t *testing.T) {
	defer func(r, b int64) { metalog.RecordsPerCheckpoint, metalog.BytesPerCheckpoint = r, b }(metalog.RecordsPerCheckpoint, metalog.BytesPerCheckpoint)
	ctx := context.Background()
	loc := filepath.Join(t.TempDir(), "repo")
	base := cairn.Options{Password: []byte("correct horse")}
	create := base
	create.Create = true
	alpha, beta := dirInstallation(t, "alpha", create), dirInstallation(t, "beta", base)
	ha := &history{src: filepath.Join(t.TempDir(), "a", "src")}
	hb := &history{src: filepath.Join(t.TempDir(), "b", "src")}
	writeTree(t, ha.src, 1)
	writeTree(t, hb.src, 2)

	a := alpha.open(t, loc)
	ha.snap(t, a)
	a.Close()
	b := beta.open(t, loc)
	hb.snap(t, b)
	b.Close()

	metalog.RecordsPerCheckpoint = 4
	for round := range 12 {
		a = alpha.open(t, loc)
		ha.change(t, round)
		ha.snap(t, a)
		a.Close()
	}
	a = alpha.open(t, loc)
	if _, err := a.GC(ctx, cairn.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	w, err := os.ReadFile(filepath.Join(alpha.opts.LocalDir, "writer"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(loc, "log", strings.TrimSpace(string(w)), fmt.Sprintf("%020d", 3))); err == nil {
		t.Fatal("alpha's log was not pruned: the test proves nothing")
	}

	metalog.RecordsPerCheckpoint = 1000
	b = beta.open(t, loc)
	defer b.Close()
	restoreEach(t, "beta restores alpha's", b, ha, hostIDs(t, b, "alpha", ha))
	hb.change(t, 1)
	hb.snap(t, b)
	restoreEach(t, "beta restores its own", b, hb, hb.ids)
}

package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra/doc"
)

// The man pages are generated from the commands' own help, so they cannot
// disagree with --help. `make man` runs this with -man DIR; the command
// itself does not link the generator.
var manDir = flag.String("man", "", "write the man pages (cairn.1, cairn-snap.1, ...) into this directory")

func TestManPages(t *testing.T) {
	dir := *manDir
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	root := a.rootCommand()
	root.DisableAutoGenTag = true // no date: the pages do not change unless the help does
	hdr := &doc.GenManHeader{Title: "CAIRN", Section: "1", Source: "cairn", Manual: "cairn manual"}
	if err := doc.GenManTree(root, hdr, dir); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "cairn-snap.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"exclude-caches", "CACHEDIR.TAG"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("cairn-snap.1 lacks %q", want)
		}
	}
}

package importer

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzExtractTar unpacks tars whose entries (names, types, link targets)
// come from the fuzzer, and requires that nothing is ever written outside
// the scratch directory, whatever the order of symlinks, hard links,
// directories and files.
func FuzzExtractTar(f *testing.F) {
	f.Add("d/\x00l>d\x00l/x")
	f.Add("a\x00../b")
	f.Add("l>..\x00l/x")
	f.Add("l>/tmp\x00l/x")
	f.Add("h=../../etc/passwd\x00f")
	f.Add("d/\x00d/l>../..\x00d/l/x")
	f.Fuzz(func(t *testing.T, spec string) {
		parent := t.TempDir()
		dst := filepath.Join(parent, "dst")
		if err := os.Mkdir(dst, 0o700); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, e := range strings.Split(spec, "\x00") {
			h := &tar.Header{Name: e, Mode: 0o644, Typeflag: tar.TypeReg, Size: 1}
			if name, target, ok := strings.Cut(e, ">"); ok {
				h.Name, h.Typeflag, h.Linkname, h.Size = name, tar.TypeSymlink, target, 0
			} else if name, target, ok := strings.Cut(e, "="); ok {
				h.Name, h.Typeflag, h.Linkname, h.Size = name, tar.TypeLink, target, 0
			} else if strings.HasSuffix(e, "/") {
				h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
			}
			if h.Name == "" || tw.WriteHeader(h) != nil {
				return
			}
			if h.Size > 0 {
				tw.Write([]byte("x"))
			}
		}
		tw.Close()
		p := filepath.Join(parent, "b.tar")
		if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		// A refusal is a fine outcome; only what lands on disk matters.
		Extract(Backup{Path: p, Kind: Tar}, dst, Options{})
		des, _ := os.ReadDir(parent)
		for _, de := range des {
			if de.Name() != "dst" && de.Name() != "b.tar" {
				t.Fatalf("spec %q wrote %s outside the scratch directory", spec, de.Name())
			}
		}
		filepath.WalkDir(dst, func(q string, d os.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.Type()&os.ModeSymlink != 0 {
				target, _ := os.Readlink(q)
				rel, _ := filepath.Rel(dst, q)
				if !linkInside(filepath.ToSlash(rel), target) {
					t.Fatalf("spec %q made %s -> %s, which points outside", spec, rel, target)
				}
			}
			return nil
		})
		RemoveScratch(dst)
	})
}

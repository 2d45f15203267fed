package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestImportScripts runs the sessions in testdata/import: cairn import of
// archives the scripts build with mkzip and mktar (archive/zip and
// archive/tar, as backup tools write them), and of real directories.
func TestImportScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:   "testdata/import",
		Setup: setup,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"status":   cmdStatus,
			"backdate": cmdBackdate,
			"perm":     cmdPerm,
			"mksock":   cmdMksock,
			"mkzip":    cmdMkArchive,
			"mktar":    cmdMkArchive,
		},
	})
}

// archiveMember is one entry a script puts in an archive.
type archiveMember struct {
	name   string
	mode   fs.FileMode
	mtime  time.Time
	body   []byte
	target string // symlink
	dir    bool
}

// mkzip|mktar [-nomodes] [-prefix P/] ARCHIVE [DIR] [-raw NAME] [-link NAME=TARGET]...
// archives DIR's tree (names relative to DIR, after P), plus raw entries
// (content "raw") and symlinks with any name: the names a hostile archive
// carries. -nomodes (zip) writes no Unix modes, as Windows tools do. mktar
// compresses with gzip when ARCHIVE ends in .gz or .tgz.
func cmdMkArchive(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: mkzip|mktar [-nomodes] [-prefix P] ARCHIVE [DIR] [-raw NAME] [-link NAME=TARGET]")
	}
	noModes, prefix := false, ""
	var out string
	var ms []archiveMember
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-nomodes":
			noModes = true
		case a == "-prefix":
			i++
			prefix = args[i]
		case a == "-raw":
			i++
			ms = append(ms, archiveMember{name: args[i], mode: 0o644, mtime: backdated, body: []byte("raw")})
		case a == "-link":
			i++
			name, target, _ := strings.Cut(args[i], "=")
			ms = append(ms, archiveMember{name: name, mode: fs.ModeSymlink | 0o777, mtime: backdated, target: target})
		case out == "":
			out = ts.MkAbs(a)
		default:
			ms = append(ms, treeMembers(ts, ts.MkAbs(a), prefix)...)
		}
	}
	var buf bytes.Buffer
	if strings.HasSuffix(out, ".zip") {
		writeZipMembers(ts, &buf, ms, noModes)
	} else {
		writeTarMembers(ts, &buf, ms, strings.HasSuffix(out, ".gz") || strings.HasSuffix(out, ".tgz"))
	}
	ts.Check(os.WriteFile(out, buf.Bytes(), 0o644))
}

func treeMembers(ts *testscript.TestScript, dir, prefix string) []archiveMember {
	var ms []archiveMember
	ts.Check(filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." && prefix == "" {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		m := archiveMember{name: prefix + filepath.ToSlash(rel), mode: fi.Mode(), mtime: fi.ModTime()}
		if rel == "." {
			m.name = strings.TrimSuffix(prefix, "/")
		}
		switch {
		case fi.IsDir():
			m.dir = true
		case fi.Mode()&fs.ModeSymlink != 0:
			m.target, err = os.Readlink(p)
		default:
			m.body, err = os.ReadFile(p)
		}
		ms = append(ms, m)
		return err
	}))
	return ms
}

func writeZipMembers(ts *testscript.TestScript, buf *bytes.Buffer, ms []archiveMember, noModes bool) {
	zw := zip.NewWriter(buf)
	for _, m := range ms {
		h := &zip.FileHeader{Name: m.name, Method: zip.Deflate, Modified: m.mtime}
		if m.dir {
			h.Name += "/"
		}
		if noModes && m.target == "" {
			h.CreatorVersion = 0 // MS-DOS: no Unix mode
		} else {
			h.SetMode(m.mode)
		}
		w, err := zw.CreateHeader(h)
		ts.Check(err)
		if m.target != "" {
			w.Write([]byte(m.target))
		} else {
			w.Write(m.body)
		}
	}
	ts.Check(zw.Close())
}

func writeTarMembers(ts *testscript.TestScript, buf *bytes.Buffer, ms []archiveMember, gz bool) {
	var w interface {
		Write([]byte) (int, error)
	} = buf
	var gw *gzip.Writer
	if gz {
		gw = gzip.NewWriter(buf)
		w = gw
	}
	tw := tar.NewWriter(w)
	for _, m := range ms {
		h := &tar.Header{Name: m.name, Mode: int64(m.mode.Perm()), ModTime: m.mtime, Typeflag: tar.TypeReg,
			Size: int64(len(m.body)), Format: tar.FormatPAX}
		switch {
		case m.dir:
			h.Typeflag, h.Name = tar.TypeDir, m.name+"/"
		case m.target != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, m.target
		}
		ts.Check(tw.WriteHeader(h))
		tw.Write(m.body)
	}
	ts.Check(tw.Close())
	if gw != nil {
		ts.Check(gw.Close())
	}
}

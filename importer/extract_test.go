package importer

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// member is one entry of an archive a test builds.
type member struct {
	name, body, link string
	mode             fs.FileMode // 0: none recorded (zip only)
	dir, symlink     bool
}

var when = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func writeZip(t *testing.T, p string, ms []member) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range ms {
		h := &zip.FileHeader{Name: m.name, Method: zip.Deflate, Modified: when}
		if m.mode != 0 || m.symlink {
			mode := m.mode
			switch {
			case m.symlink:
				mode |= fs.ModeSymlink | 0o777
			case m.dir:
				mode |= fs.ModeDir
			}
			h.SetMode(mode)
		} else {
			h.CreatorVersion = 0 // MS-DOS: no Unix mode, as Windows tools write
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		body := m.body
		if m.symlink {
			body = m.link
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeTar writes a tar, compressed as p's extension says.
func writeTar(t *testing.T, p string, ms []member) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range ms {
		h := &tar.Header{Name: m.name, Mode: int64(m.mode.Perm()), ModTime: when, Typeflag: tar.TypeReg, Size: int64(len(m.body))}
		switch {
		case m.dir:
			h.Typeflag, h.Size = tar.TypeDir, 0
		case m.symlink:
			h.Typeflag, h.Size, h.Linkname = tar.TypeSymlink, 0, m.link
		case m.link != "":
			h.Typeflag, h.Size, h.Linkname = tar.TypeLink, 0, m.link
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte(m.body))
		}
	}
	tw.Close()
	data := buf.Bytes()
	switch filepath.Ext(p) {
	case ".gz", ".tgz":
		var z bytes.Buffer
		gw := gzip.NewWriter(&z)
		gw.Write(data)
		gw.Close()
		data = z.Bytes()
	case ".zst":
		enc, _ := zstd.NewWriter(nil)
		data = enc.EncodeAll(data, nil)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func extract(t *testing.T, p string) (string, *Report, error) {
	t.Helper()
	bs, err := Find([]string{p}, when)
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	rep, err := Extract(bs[0], dst, Options{Runtime: []string{"*.state"}, RootTime: when})
	return dst, rep, err
}

func TestExtractRefusesTraversal(t *testing.T) {
	for _, name := range []string{"../evil", "/etc/evil", "a/../../evil", "a\\..\\evil"} {
		for _, kind := range []string{"zip", "tar"} {
			dir := t.TempDir()
			p := filepath.Join(dir, "b."+kind)
			ms := []member{{name: "ok.txt", body: "ok", mode: 0o644}, {name: name, body: "evil", mode: 0o644}}
			if kind == "zip" {
				writeZip(t, p, ms)
			} else {
				writeTar(t, p, ms)
			}
			_, _, err := extract(t, p)
			if !errors.Is(err, ErrUnsafePath) {
				t.Errorf("%s entry %q: err = %v, want ErrUnsafePath", kind, name, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "evil")); err == nil {
				t.Errorf("%s entry %q: wrote outside", kind, name)
			}
		}
	}
}

func TestExtractBeneathSymlink(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "b.tar")
	// A symlink that stays inside, then an entry written through it: tar
	// would follow it; the extraction refuses.
	writeTar(t, p, []member{{name: "d", dir: true, mode: 0o755}, {name: "l", symlink: true, link: "d"}, {name: "l/x", body: "x", mode: 0o644}})
	if _, _, err := extract(t, p); !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("err = %v, want ErrUnsafePath", err)
	}
}

func TestExtractZipWithoutModes(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hermes.zip")
	writeZip(t, p, []member{
		{name: ".hermes/config.yaml", body: "model: x\n"},
		{name: ".hermes/.env", body: "KEY=1\n"},
		{name: ".hermes/keys/id.pem", body: "pem"},
		{name: ".hermes/gateway.pid", body: "123"},
		{name: ".hermes/run/x.state", body: "runtime by the source's pattern"},
		{name: ".hermes/evil", symlink: true, link: "../../etc/passwd"},
		{name: ".hermes/abs", symlink: true, link: "/etc/passwd"},
		{name: ".hermes/good", symlink: true, link: "config.yaml"},
	})
	dst, rep, err := extract(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Wrapper != ".hermes" {
		t.Errorf("wrapper = %q, want .hermes", rep.Wrapper)
	}
	root := filepath.Join(dst, ".hermes")
	for rel, want := range map[string]fs.FileMode{"config.yaml": 0o644, ".env": 0o600, "keys/id.pem": 0o600, "keys": 0o755} {
		fi, err := os.Stat(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", rel, fi.Mode().Perm(), want)
		}
	}
	if fi, _ := os.Stat(root); fi.Mode().Perm() != 0o700 {
		t.Errorf("implicit wrapper: mode %v, want the root's 0700", fi.Mode().Perm())
	}
	if len(rep.Tightened) != 2 {
		t.Errorf("tightened = %v, want .env and id.pem", rep.Tightened)
	}
	for _, rel := range []string{"gateway.pid", "run/x.state", "evil", "abs"} {
		if _, err := os.Lstat(filepath.Join(root, rel)); err == nil {
			t.Errorf("%s was unpacked", rel)
		}
	}
	if target, err := os.Readlink(filepath.Join(root, "good")); err != nil || target != "config.yaml" {
		t.Errorf("good: %q, %v", target, err)
	}
	if len(rep.Skipped) != 4 {
		t.Errorf("skipped = %v, want 4", rep.Skipped)
	}
}

func TestExtractKeepsTarModesTimesLinks(t *testing.T) {
	for _, ext := range []string{".tar", ".tar.gz", ".tgz", ".tar.zst"} {
		dir := t.TempDir()
		p := filepath.Join(dir, "b"+ext)
		writeTar(t, p, []member{
			{name: "./", dir: true, mode: 0o750},
			{name: "./ro", dir: true, mode: 0o555},
			{name: "./ro/f", body: "read only", mode: 0o444},
			{name: "./.env", body: "KEY=2", mode: 0o640}, // a mode recorded: kept, not tightened
			{name: "./ln", symlink: true, link: "ro/f"},
			{name: "./hard", link: "ro/f"},
			{name: "./x.sock", body: "", mode: 0o600},
		})
		dst, rep, err := extract(t, p)
		if err != nil {
			t.Fatalf("%s: %v", ext, err)
		}
		for rel, want := range map[string]fs.FileMode{".": 0o750, "ro": 0o555, "ro/f": 0o444, ".env": 0o640} {
			fi, err := os.Lstat(filepath.Join(dst, rel))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s %s: mode %v, want %v", ext, rel, fi.Mode().Perm(), want)
			}
			if !fi.ModTime().Equal(when) {
				t.Errorf("%s %s: mtime %v, want %v", ext, rel, fi.ModTime(), when)
			}
		}
		if fi, err := os.Lstat(filepath.Join(dst, "ln")); err != nil || !fi.ModTime().Equal(when) {
			t.Errorf("%s symlink mtime: %v", ext, err)
		}
		if b, err := os.ReadFile(filepath.Join(dst, "hard")); err != nil || string(b) != "read only" {
			t.Errorf("%s hard link: %q %v", ext, b, err)
		}
		if rep.Wrapper != "" || len(rep.Tightened) != 0 || len(rep.Skipped) != 1 {
			t.Errorf("%s: report %+v", ext, rep)
		}
		if err := RemoveScratch(dst); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFindLayoutTimeOrder(t *testing.T) {
	dir := t.TempDir()
	mk := func(rel, body string) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Names that sort against time order.
	mk("prompts_snapshots/20260201_090000/a.txt", "2")
	mk("prompts_snapshots/20260101_120000/a.txt", "1")
	mk("prompts_snapshots/.DS_Store", "")
	mk("state-snapshots/zz/manifest.json", `{"timestamp": "2025-06-01T00:00:00Z"}`)
	mk("state-snapshots/aa/manifest.json", `{"created_at": 1751328000}`) // 2025-07-01
	mk("plain/x.txt", "x")
	bs, err := Find([]string{filepath.Join(dir, "prompts_snapshots"), filepath.Join(dir, "state-snapshots")}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range bs {
		got = append(got, filepath.Base(b.Path)+":"+string(b.From))
	}
	want := []string{"zz:manifest", "aa:manifest", "20260101_120000:name", "20260201_090000:name"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if !bs[2].Time.Equal(time.Date(2026, 1, 1, 12, 0, 0, 0, time.Local)) {
		t.Errorf("time from name: %v", bs[2].Time)
	}
	bs, err = Find([]string{filepath.Join(dir, "plain")}, time.Time{})
	if err != nil || len(bs) != 1 || bs[0].From != TimeFromNewest {
		t.Fatalf("plain directory: %+v, %v", bs, err)
	}
	if _, err := Find([]string{filepath.Join(dir, "prompts_snapshots")}, when); err == nil {
		t.Error("--time with two backups: no error")
	}
}

func TestParseTime(t *testing.T) {
	utc := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	local := time.Date(2026, 1, 1, 12, 0, 0, 0, time.Local)
	for s, want := range map[string]time.Time{
		"2026-01-01T12:00:00Z": utc, "backup-20260101_120000.zip": local, "2026-01-01_12-00-00": local,
		"20260101T120000Z": utc, "2026-01-01 12:00:00+01:00": utc.Add(-time.Hour), "snap-2026-01-01": time.Date(2026, 1, 1, 0, 0, 0, 0, time.Local),
		"2026-01-01T12:00:00.25Z": utc.Add(250 * time.Millisecond),
	} {
		got, ok := ParseTime(s)
		if !ok || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"a1b2c3", "20261345_250000", "v1.2.3", "12345"} {
		if got, ok := ParseTime(s); ok {
			t.Errorf("ParseTime(%q) = %v, want none", s, got)
		}
	}
}

func TestFindDirectoryOfArchives(t *testing.T) {
	dir := t.TempDir()
	writeZip(t, filepath.Join(dir, "hermes-20260102_000000.zip"), []member{{name: "a", body: "2", mode: 0o644}})
	writeTar(t, filepath.Join(dir, "hermes-20260101_000000.tar.gz"), []member{{name: "a", body: "1", mode: 0o644}})
	os.WriteFile(filepath.Join(dir, ".hidden"), nil, 0o644)
	bs, err := Find([]string{dir}, time.Time{})
	if err != nil || len(bs) != 2 || bs[0].Kind != Tar || bs[1].Kind != Zip {
		t.Fatalf("directory of archives: %+v, %v", bs, err)
	}
	// One file that is not an archive: the directory is a plain backup.
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	bs, err = Find([]string{dir}, time.Time{})
	if err != nil || len(bs) != 1 || bs[0].Kind != Dir {
		t.Fatalf("directory with a plain file: %+v, %v", bs, err)
	}
}

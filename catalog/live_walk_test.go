package catalog

import (
	"context"
	"database/sql/driver"
	"reflect"
	"strings"
	"testing"
)

// The fingerprint stream gives, for every live version and in the same
// order, exactly the columns of LiveInOrder that it promises; the rest
// stays zero, and VersionsByID reads the full versions back.
func TestLiveFingerprints(t *testing.T) {
	ctx := context.Background()
	db, _ := openNew(t)
	commitHistory(t, db)
	src, err := db.SourceByPath(ctx, "/src")
	if err != nil {
		t.Fatal(err)
	}
	// An owner, a symlink, a huge inode number and a fingerprint extra.
	link := NewVersion{Content: -1, Path: "l", Type: TypeSymlink, Mode: 0o777, LinkTarget: "a.txt", UID: 1000, GID: 100,
		FpCtimeNs: 7, FpIno: 1<<63 + 5, FpExtra: "size=1 wal=-"}
	if _, err := db.CommitSnapshot(ctx, &Commit{Source: "/src", Started: t0, Finished: t0, Versions: []NewVersion{link}}); err != nil {
		t.Fatal(err)
	}
	full := readLiveInOrder(t, db, src.ID)
	fs, err := db.LiveFingerprints(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	var ids []int64
	for i := 0; ; i++ {
		v, err := fs.Next()
		if err != nil {
			t.Fatal(err)
		}
		if v == nil {
			if i != len(full) {
				t.Fatalf("%d fingerprints, want %d", i, len(full))
			}
			break
		}
		if i >= len(full) {
			t.Fatalf("more fingerprints than live versions: %+v", v)
		}
		w := full[i]
		want := Version{ID: w.ID, Path: w.Path, Type: w.Type, Mode: w.Mode, Size: w.Size, MtimeNs: w.MtimeNs, ContentID: w.ContentID,
			LinkTarget: w.LinkTarget, Capture: w.Capture, FpCtimeNs: w.FpCtimeNs, FpIno: w.FpIno, FpExtra: w.FpExtra, UID: w.UID, GID: w.GID}
		if !equalVersion(*v, want) {
			t.Errorf("fingerprint %d:\ngot  %+v\nwant %+v", i, *v, want)
		}
		ids = append(ids, v.ID)
	}
	back, err := db.VersionsByID(ctx, append(ids, 1<<40))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int64]*Version{}
	for _, v := range back {
		byID[v.ID] = v
	}
	if len(back) != len(full) {
		t.Errorf("VersionsByID: %d versions, want %d", len(back), len(full))
	}
	for _, w := range full {
		if g := byID[w.ID]; g == nil || !equalVersion(*g, *w) {
			t.Errorf("VersionsByID(%d) = %+v, want %+v", w.ID, g, w)
		}
	}
}

func equalVersion(a, b Version) bool {
	return reflect.DeepEqual(a, b)
}

func readLiveInOrder(t *testing.T, db *DB, sourceID int64) []*Version {
	t.Helper()
	s, err := db.LiveInOrder(context.Background(), sourceID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out []*Version
	for {
		v, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if v == nil {
			return out
		}
		k := *v
		out = append(out, &k)
	}
}

// Like liveInOrder, the fingerprint query walks the version_live index
// and sorts nothing.
func TestLiveFingerprintsNeedNoSort(t *testing.T) {
	db, _ := openNew(t)
	if text := queryPlan(t, db, liveFingerprints, 1); strings.Contains(text, "TEMP B-TREE") || !strings.Contains(text, "version_live") {
		t.Errorf("query plan of liveFingerprints:\n%s", text)
	}
}

// The fingerprint stream reads rows from the driver itself, so what
// database/sql would have refused is checked here: a value of the wrong
// kind is an error that names its column, and codes and NULLs map to what
// LiveInOrder gives.
func TestDecodeFingerprint(t *testing.T) {
	row := func(change func(r []driver.Value)) []driver.Value {
		r := []driver.Value{int64(7), "a/b", int64(1), int64(0o644), int64(3), int64(11), int64(5), nil, int64(1),
			int64(12), int64(13), "", int64(1000), int64(100)}
		if change != nil {
			change(r)
		}
		return r
	}
	base := Version{ID: 7, Path: "a/b", Type: TypeFile, Mode: 0o644, Size: 3, MtimeNs: 11, ContentID: 5, Capture: CaptureRaw,
		FpCtimeNs: 12, FpIno: 13, UID: 1000, GID: 100}
	for _, c := range []struct {
		name    string
		change  func(r []driver.Value)
		want    func(v *Version)
		wantErr string
	}{
		{name: "file"},
		{name: "dir, no content, no capture, no owner", change: func(r []driver.Value) { r[2], r[6], r[8], r[12], r[13] = int64(2), nil, nil, nil, nil },
			want: func(v *Version) { v.Type, v.ContentID, v.Capture, v.UID, v.GID = TypeDir, 0, "", -1, -1 }},
		{name: "symlink", change: func(r []driver.Value) { r[2], r[7] = int64(3), "../x" },
			want: func(v *Version) { v.Type, v.LinkTarget = TypeSymlink, "../x" }},
		{name: "database", change: func(r []driver.Value) { r[8], r[11] = int64(2), "size=3 wal=-" },
			want: func(v *Version) { v.Capture, v.FpExtra = CaptureSQLite, "size=3 wal=-" }},
		{name: "raw database", change: func(r []driver.Value) { r[8] = int64(3) }, want: func(v *Version) { v.Capture = CaptureSQLiteRaw }},
		{name: "a capture this cairn has no code for", change: func(r []driver.Value) { r[8] = "zstd-dict" },
			want: func(v *Version) { v.Capture = "zstd-dict" }},
		{name: "huge inode", change: func(r []driver.Value) { r[10] = int64(-3) }, want: func(v *Version) { v.FpIno = 1<<64 - 3 }},
		{name: "text mode", change: func(r []driver.Value) { r[3] = "644" }, wantErr: "column 3"},
		{name: "NULL path", change: func(r []driver.Value) { r[1] = nil }, wantErr: "column 1"},
		{name: "NULL type", change: func(r []driver.Value) { r[2] = nil }, wantErr: "column 2"},
		{name: "unknown type code", change: func(r []driver.Value) { r[2] = int64(4) }, wantErr: "column 2"},
		{name: "NULL ctime", change: func(r []driver.Value) { r[9] = nil }, wantErr: "column 9"},
		{name: "text owner", change: func(r []driver.Value) { r[12] = "root" }, wantErr: "column 12"},
		{name: "float size", change: func(r []driver.Value) { r[4] = 1.5 }, wantErr: "column 4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got Version
			err := decodeFingerprint(row(c.change), &got)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := base
			if c.want != nil {
				c.want(&want)
			}
			if !equalVersion(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// A row the stream cannot decode ends it with an error, not a version
// with zeros in it.
func TestLiveFingerprintsBadRow(t *testing.T) {
	ctx := context.Background()
	db, path := openNew(t)
	commitHistory(t, db)
	src, err := db.SourceByPath(ctx, "/src")
	if err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, path)
	if _, err := raw.Exec(`UPDATE version SET fp_ino = 'x' WHERE last_snapshot_id IS NULL AND path = (SELECT max(path) FROM version WHERE last_snapshot_id IS NULL)`); err != nil {
		t.Fatal(err)
	}
	fs, err := db.LiveFingerprints(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	n := 0
	for {
		v, err := fs.Next()
		if err != nil {
			if !strings.Contains(err.Error(), "column 10") {
				t.Errorf("err = %v, want one naming column 10", err)
			}
			break
		}
		if v == nil {
			t.Fatalf("the stream ended after %d versions without an error", n)
		}
		n++
	}
}

// A stream closed before its end stops its reader and gives its
// connection back.
func TestLiveFingerprintsClosedEarly(t *testing.T) {
	ctx := context.Background()
	db, _ := openNew(t)
	commitHistory(t, db)
	src, err := db.SourceByPath(ctx, "/src")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ { // more than the pool's 8 connections
		fs, err := db.LiveFingerprints(ctx, src.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := fs.Next(); v == nil || err != nil {
			t.Fatalf("Next = %v, %v", v, err)
		}
		fs.Close()
	}
}

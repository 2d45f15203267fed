package catalog

import (
	"context"
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
	link := NewVersion{Content: -1, Version: Version{Path: "l", Type: TypeSymlink, Mode: 0o777, LinkTarget: "a.txt", UID: 1000, GID: 100,
		FpCtimeNs: 7, FpIno: 1<<63 + 5, FpExtra: "size=1 wal=-"}}
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
	rows, err := db.r.Query("EXPLAIN QUERY PLAN "+liveFingerprints, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if text := strings.Join(plan, "\n"); strings.Contains(text, "TEMP B-TREE") || !strings.Contains(text, "version_live") {
		t.Errorf("query plan of liveFingerprints:\n%s", text)
	}
}

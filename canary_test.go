package cairn_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/blake3"

	"github.com/cairn-dev/cairn"
	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/chunker"
	"github.com/cairn-dev/cairn/keys"
	"github.com/cairn-dev/cairn/metalog"
	"github.com/cairn-dev/cairn/restore"
)

// canaryMaster is the master key of the canary's repository when Open does
// not make one itself.
func canaryMaster() keys.Master {
	var m keys.Master
	for i := range m {
		m[i] = byte(0xa5 ^ i*3)
	}
	return m
}

// canaryTree writes a tree of files with distinctive names and contents
// under src (JSON, text, a log larger than several chunks, incompressible
// bytes, a tiny file, a SQLite database) and returns each file's content
// by its path relative to src.
func canaryTree(t *testing.T, src string) map[string][]byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, 12))
	files := map[string][]byte{}
	write := func(rel string, data []byte) {
		p := filepath.Join(src, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		files[rel] = data
	}
	words := strings.Fields("kestrel heron marmoset pelican wombat quokka narwhal axolotl zanzibar omega " +
		"session memory agent task plan tool result secret credential reminder invoice ledger")
	text := func(n int) []byte {
		var b bytes.Buffer
		for b.Len() < n {
			b.WriteString(words[rng.IntN(len(words))])
			if rng.IntN(9) == 0 {
				fmt.Fprintf(&b, " %d.\n", rng.IntN(100000))
			} else {
				b.WriteByte(' ')
			}
		}
		return b.Bytes()
	}
	write("agent-memory-kestrel/session-notes-heron.txt", append([]byte("canary phrase: zanzibar-omega-7731 marks this file\n"), text(200<<10)...))
	write("config-marmoset.json", []byte(`{"canary_api_endpoint": "https://canary.example.invalid/v1", "canary_token": "tok-9f8e7d6c5b4a", "retries": 7, "model": "marmoset-large"}`+"\n"))
	write("logs-pelican/big-pelican-run.log", text(1500<<10))
	noise := make([]byte, 300<<10)
	for i := 0; i < len(noise); i += 8 {
		binary.LittleEndian.PutUint64(noise[i:], rng.Uint64())
	}
	write("blob-store-osprey/noise-osprey.bin", noise)
	write("deep-dir-narwhal/inner-dir-axolotl/secret-notes-quokka.md", []byte("# quokka secret notes\nThe vault code is 4417-2290-8815.\n"))
	write("tiny-file-ibis.txt", []byte("ibis-tiny-secret"))

	dbRel := "state-wombat/tasks-wombat.db"
	dbPath := filepath.Join(src, filepath.FromSlash(dbRel))
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE wombat_tasks (id INTEGER PRIMARY KEY, title TEXT, body TEXT)`); err != nil {
		t.Fatal(err)
	}
	for i := range 400 {
		if _, err := db.Exec(`INSERT INTO wombat_tasks (title, body) VALUES (?, ?)`,
			fmt.Sprintf("wombat-task-%04d", i), string(text(300))); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	files[dbRel] = raw
	return files
}

// canaryNeedles are what must never appear in the clear: every path and
// name of the source (also its absolute root), and the unkeyed BLAKE3 of
// every whole file and of every chunk under each way of cutting it (the
// public gear table, the repository's keyed one, SQLite pages), as bytes
// and as hex.
func canaryNeedles(t *testing.T, src string, files map[string][]byte, gear *chunker.Table, extra [][]byte) [][]byte {
	t.Helper()
	var out [][]byte
	add := func(b []byte) {
		if len(b) < 8 {
			t.Fatalf("needle %q is too short to search for", b)
		}
		out = append(out, b)
	}
	id := func(sum [32]byte) {
		add(bytes.Clone(sum[:]))
		add([]byte(hex.EncodeToString(sum[:])))
	}
	add([]byte(src))
	add([]byte(filepath.Base(src)))
	for rel, data := range files {
		add([]byte(rel))
		for _, part := range strings.Split(rel, "/") {
			add([]byte(part))
		}
		id(blake3.Sum256(data))
		for _, sp := range []chunker.Splitter{
			chunker.New(bytes.NewReader(data), chunker.Default, nil),
			chunker.NewWithTable(bytes.NewReader(data), chunker.Default, gear, nil),
			chunker.NewFixed(bytes.NewReader(data), 4096, nil),
		} {
			for {
				c, err := sp.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				id(blake3.Sum256(c))
			}
		}
	}
	for _, b := range extra {
		add(b)
	}
	return out
}

// leakScanner finds, in raw bytes, any 16-byte window of the plaintexts
// and any needle. Plaintext windows are indexed by their 8-byte words at
// offsets that are multiples of 8: every 16-byte window holds one of them
// whole, so a hit on a word, extended both ways, finds every window.
type leakScanner struct {
	plain   [][]byte
	words   map[uint64][]int64 // word -> file<<32 | offset
	needles map[uint64][][]byte
}

func newLeakScanner(plain [][]byte, needles [][]byte) *leakScanner {
	s := &leakScanner{plain: plain, words: map[uint64][]int64{}, needles: map[uint64][][]byte{}}
	for f, p := range plain {
		for off := 0; off+8 <= len(p); off += 8 {
			w := binary.LittleEndian.Uint64(p[off:])
			s.words[w] = append(s.words[w], int64(f)<<32|int64(off))
		}
	}
	for _, n := range needles {
		w := binary.LittleEndian.Uint64(n)
		s.needles[w] = append(s.needles[w], n)
	}
	return s
}

// scan returns what raw gives away: at most max needles and max
// plaintext windows.
func (s *leakScanner) scan(raw []byte, max int) []string {
	var found []string
	var needles, windows int
	for i := 0; i+8 <= len(raw) && (needles < max || windows < max); i++ {
		w := binary.LittleEndian.Uint64(raw[i:])
		for _, n := range s.needles[w] {
			if needles < max && bytes.HasPrefix(raw[i:], n) {
				found = append(found, fmt.Sprintf("at %d: needle %q", i, shorten(n)))
				needles++
			}
		}
		if windows >= max {
			continue
		}
		for _, pos := range s.words[w] {
			p, off := s.plain[pos>>32], int(pos&(1<<32-1))
			left := 0
			for left < off && left < i && p[off-left-1] == raw[i-left-1] {
				left++
			}
			right := 8
			for off+right < len(p) && i+right < len(raw) && p[off+right] == raw[i+right] {
				right++
			}
			if left+right >= 16 {
				found = append(found, fmt.Sprintf("at %d: %d bytes of plaintext %q", i-left, left+right, shorten(p[off-left:off+right])))
				windows++
				break
			}
		}
	}
	return found
}

func shorten(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// repositoryFiles lists the files of the repository proper: everything
// under dir but local/. Before the format-2 layout moves the catalog into
// local/, the catalog at the top (and its -wal and -shm) is left out
// instead.
func repositoryFiles(t *testing.T, dir string) []string {
	t.Helper()
	_, err := os.Stat(filepath.Join(dir, "local"))
	hasLocal := err == nil
	var out []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case rel == "local" && d.IsDir():
			return filepath.SkipDir
		case !hasLocal && strings.HasPrefix(rel, "catalog.db"):
			return nil
		case d.Type().IsRegular():
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// zstdFrame is the output of a zstd frame found at offset at of a file.
type zstdFrame struct {
	at   int
	data []byte
}

// zstdFrames decompresses every zstd frame in raw, wherever it starts
// (its magic number, then a frame that decodes): sealed bytes hold none.
func zstdFrames(raw []byte) []zstdFrame {
	magic := []byte{0x28, 0xb5, 0x2f, 0xfd}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		panic(err)
	}
	defer dec.Close()
	var out []zstdFrame
	for at := 0; ; at++ {
		i := bytes.Index(raw[at:], magic)
		if i < 0 {
			return out
		}
		at += i
		if err := dec.Reset(bytes.NewReader(raw[at:])); err != nil {
			continue
		}
		// A frame followed by other bytes decodes, then fails on them:
		// what it gave is kept.
		data, _ := io.ReadAll(io.LimitReader(dec, 64<<20))
		if len(data) > 0 {
			out = append(out, zstdFrame{at, data})
		}
	}
}

// scanRepository returns the leaks in the files of the repository at dir,
// and how many packs and bytes it read.
func scanRepository(t *testing.T, dir string, s *leakScanner, needles [][]byte) (leaks []string, packs int, size int64) {
	t.Helper()
	for _, rel := range repositoryFiles(t, dir) {
		raw, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(rel, ".pack") {
			packs++
		}
		size += int64(len(raw))
		for _, f := range s.scan(raw, 5) {
			leaks = append(leaks, rel+": "+f)
		}
		// Compression hides a plaintext as well as a cipher does: a
		// checkpoint or a blob stored zstd-compressed but not sealed
		// shows no path and no 16 plain bytes. Every zstd frame in the
		// file is decompressed and scanned too.
		for _, frame := range zstdFrames(raw) {
			for _, f := range s.scan(frame.data, 5) {
				leaks = append(leaks, fmt.Sprintf("%s: zstd frame at %d: %s", rel, frame.at, f))
			}
		}
		for _, n := range needles {
			if strings.Contains(rel, string(n)) {
				leaks = append(leaks, fmt.Sprintf("file name %s holds %q", rel, n))
			}
		}
	}
	return leaks, packs, size
}

// TestEncryptedCanary is the canary of issue 11: an encrypted repository
// after snapshots, a forget and a gc that rewrote packs holds no path or
// name of the source, no 16 bytes of any of its files and no unkeyed
// BLAKE3 of its chunks or files, in any file outside local/. The same scan
// of a format-1 repository of the same tree must find leaks, or the
// scanner proves nothing.
func TestEncryptedCanary(t *testing.T) {
	if testing.Short() {
		t.Skip("snapshots a few MiB twice")
	}
	ctx := context.Background()
	base := t.TempDir()
	src := filepath.Join(base, "canary-source-orchid")
	files := canaryTree(t, src)

	// A checkpoint every few records, so that the scan covers one; a
	// password, so that it covers a key file in keys/.
	defer func(r int64) { metalog.RecordsPerCheckpoint = r }(metalog.RecordsPerCheckpoint)
	metalog.RecordsPerCheckpoint = 3
	dir := filepath.Join(base, "repo")
	repo, err := cairn.Open(ctx, dir, cairn.Options{Create: true, Password: []byte("canary password")})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	master := canaryMaster()
	if !cairn.SealedForTest(repo) {
		if err := cairn.SetKeysForTest(repo, master, "5eed5eed5eed5eed5eed5eed5eed5eed"); err != nil {
			t.Fatal(err)
		}
	}
	if !cairn.SealedForTest(repo) {
		t.Fatal("the repository does not write format-2 packs")
	}
	first, err := repo.Snapshot(ctx, src, cairn.SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A second snapshot of a changed file, the first forgotten, and a gc
	// that merges the two small packs: gc writes packs too.
	notes := "agent-memory-kestrel/session-notes-heron.txt"
	files[notes] = append(files[notes], []byte("\nappended: heron-appendix-5521 and more canary text\n")...)
	if err := os.WriteFile(filepath.Join(src, filepath.FromSlash(notes)), files[notes], 0o644); err != nil {
		t.Fatal(err)
	}
	second, err := repo.Snapshot(ctx, src, cairn.SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Forget(ctx, cairn.ForgetOptions{IDs: []int64{first.ID}}); err != nil {
		t.Fatal(err)
	}
	gcRep, err := repo.GC(ctx, cairn.GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if gcRep.WrittenPacks == 0 {
		t.Errorf("gc wrote no pack (%+v): the canary does not cover gc's packs", gcRep)
	}
	rep, err := repo.Check(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Chunks == 0 {
		t.Errorf("check --read-data of the encrypted repository: %d chunks, problems %v", rep.Chunks, rep.Problems)
	}

	// Every file comes back, through restore and through cat.
	req, _, err := repo.Resolve(ctx, src, second.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(base, "restored")
	if _, err := repo.Restore(ctx, []restore.Request{req}, restore.Options{To: to}); err != nil {
		t.Fatal(err)
	}
	for rel, want := range files {
		if strings.HasSuffix(rel, ".db") {
			continue // captured through SQLite, not byte for byte: below
		}
		got, err := os.ReadFile(filepath.Join(to, filepath.FromSlash(rel)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("restored %s: %d bytes, %v; want %d bytes", rel, len(got), err, len(want))
		}
	}
	rdb, err := sql.Open("sqlite3", filepath.Join(to, "state-wombat", "tasks-wombat.db"))
	if err != nil {
		t.Fatal(err)
	}
	var tasks int
	var last string
	if err := rdb.QueryRow(`SELECT count(*), max(title) FROM wombat_tasks`).Scan(&tasks, &last); err != nil || tasks != 400 || last != "wombat-task-0399" {
		t.Errorf("restored database: %d tasks, last %q, %v", tasks, last, err)
	}
	rdb.Close()
	catReq, _, err := repo.Resolve(ctx, filepath.Join(src, filepath.FromSlash(notes)), second.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	var cat bytes.Buffer
	if err := repo.Cat(ctx, catReq, &cat); err != nil || !bytes.Equal(cat.Bytes(), files[notes]) {
		t.Errorf("cat %s: %d bytes, %v", notes, cat.Len(), err)
	}

	// The scan. The catalog's own rows (keyed chunk ids, plain content
	// hashes) must not be in the repository proper either.
	var extra [][]byte
	for _, q := range []string{"SELECT hash FROM chunk", "SELECT hash FROM content"} {
		rows, err := cairn.CatalogForTest(repo).Reader().QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var h []byte
			if err := rows.Scan(&h); err != nil {
				t.Fatal(err)
			}
			extra = append(extra, h, []byte(hex.EncodeToString(h)))
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	seed, ok := cairn.GearSeedForTest(repo)
	if !ok {
		t.Fatal("no keyed gear table")
	}
	needles := canaryNeedles(t, src, files, chunker.KeyedTable(seed), extra)
	var plain [][]byte
	for _, data := range files {
		plain = append(plain, data)
	}
	// The database as captured (what its chunks hold) is the restored one.
	captured, err := os.ReadFile(filepath.Join(to, "state-wombat", "tasks-wombat.db"))
	if err != nil {
		t.Fatal(err)
	}
	plain = append(plain, captured)
	if _, err := os.Stat(filepath.Join(dir, "local")); err == nil {
		// The source's lock file is named by a hash of its path; in the
		// format-2 layout it lives in local/. (The format-1 layout keeps
		// REPO/locks/ at the top.)
		lockName := blake3.Sum256([]byte(src))
		needles = append(needles, []byte(hex.EncodeToString(lockName[:])[:16]))
	}
	scanner := newLeakScanner(plain, needles)
	leaks, packs, size := scanRepository(t, dir, scanner, needles)
	t.Logf("scanned %d files (%d packs, %d bytes) outside local/ for %d needles and every 16-byte window of %d files", len(repositoryFiles(t, dir)), packs, size, len(needles), len(files))
	if packs == 0 {
		t.Fatal("no pack to scan")
	}
	for _, kind := range []string{"log/*/*", "checkpoints/*/*", "keys/*.key"} {
		if m, _ := filepath.Glob(filepath.Join(dir, filepath.FromSlash(kind))); len(m) == 0 {
			t.Errorf("no %s to scan: the canary does not cover them", kind)
		}
	}
	for _, l := range leaks {
		t.Errorf("encrypted repository leaks: %s", l)
	}

	// The control: a format-1 repository of the same tree, made as cairn
	// made them before format 2 (a catalog at the top, plain packs): new
	// repositories are format 2, and the control must not be skipped.
	plainDir := filepath.Join(base, "plain-repo")
	if err := os.MkdirAll(plainDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cdb, err := catalog.Open(ctx, filepath.Join(plainDir, "catalog.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	cdb.Close()
	p1, err := cairn.Open(ctx, plainDir, cairn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p1.Close()
	if cairn.SealedForTest(p1) {
		t.Fatal("the control repository writes sealed packs: it is not format 1")
	}
	if _, err := p1.Snapshot(ctx, src, cairn.SnapshotOptions{}); err != nil {
		t.Fatal(err)
	}
	leaks, _, _ = scanRepository(t, plainDir, scanner, needles)
	var windows, ids int
	for _, l := range leaks {
		if strings.Contains(l, "bytes of plaintext") {
			windows++
		} else {
			ids++
		}
	}
	t.Logf("control: the format-1 repository shows %d plaintext windows and %d needles (at most 5 of each per file)", windows, ids)
	if windows == 0 || ids == 0 {
		t.Errorf("the scan of a format-1 repository found %d plaintext windows and %d needles; it should find both", windows, ids)
	}
}

// Damage to a sealed pack is found and named: a flipped byte in a blob
// fails the chunks of that blob (check --read-data, restore), one in the
// footer fails the footer, and the rest of the repository still reads.
func TestEncryptedDamage(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	for i := range 20 {
		p := filepath.Join(src, fmt.Sprintf("file-%02d.txt", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, bytes.Repeat([]byte(fmt.Sprintf("line %d of a file\n", i)), 2000+i*100), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(base, "repo")
	repo, err := cairn.Open(ctx, dir, cairn.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	if !cairn.SealedForTest(repo) {
		if err := cairn.SetKeysForTest(repo, canaryMaster(), "5eed5eed5eed5eed5eed5eed5eed5eed"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := repo.Snapshot(ctx, src, cairn.SnapshotOptions{}); err != nil {
		t.Fatal(err)
	}
	if rep, err := repo.Check(ctx, true); err != nil || !rep.OK() {
		t.Fatalf("check of an undamaged repository: %v, %v", rep, err)
	}
	packs, err := filepath.Glob(filepath.Join(dir, "packs", "*", "*.pack"))
	if err != nil || len(packs) != 1 {
		t.Fatalf("packs %v, %v", packs, err)
	}
	raw, err := os.ReadFile(packs[0])
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimSuffix(filepath.Base(packs[0]), ".pack")
	for _, tc := range []struct {
		what string
		off  int
		want string
	}{
		{"blob", 100, "read chunk"},
		{"footer", len(raw) - 40, "footer"},
	} {
		bad := bytes.Clone(raw)
		bad[tc.off] ^= 0x40
		if err := os.WriteFile(packs[0], bad, 0o644); err != nil {
			t.Fatal(err)
		}
		rep, err := repo.Check(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range rep.Problems {
			if strings.Contains(p, name) && strings.Contains(p, tc.want) && strings.Contains(p, "authentication failed") {
				found = true
			}
		}
		if rep.OK() || !found {
			t.Errorf("%s damaged: check --read-data problems %q; want one naming pack %s and the failed authentication", tc.what, rep.Problems, name)
		}
	}
	if err := os.WriteFile(packs[0], raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if rep, err := repo.Check(ctx, true); err != nil || !rep.OK() {
		t.Fatalf("check after the pack was put back: %v, %v", rep, err)
	}
}

// gc in an encrypted repository: a blob holding live and dead chunks is
// compressed and sealed again from its live chunks alone, and what gc
// writes is as opaque as what snapshots write.
func TestEncryptedGCHoledBlob(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	src := filepath.Join(base, "src-holed-heron")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "repo")
	repo, err := cairn.Open(ctx, dir, cairn.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	if !cairn.SealedForTest(repo) {
		if err := cairn.SetKeysForTest(repo, canaryMaster(), "5eed5eed5eed5eed5eed5eed5eed5eed"); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string][]byte{}
	for i := range 100 { // about 220 KiB: more than one blob
		rel := fmt.Sprintf("heron-file-%03d.json", i)
		files[rel] = []byte(strings.Repeat(fmt.Sprintf(`{"file": %d, "text": "heron keeps state"}`+"\n", i), 50))
		if err := os.WriteFile(filepath.Join(src, rel), files[rel], 0o644); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Hour)
		os.Chtimes(filepath.Join(src, rel), old, old)
	}
	first, err := repo.Snapshot(ctx, src, cairn.SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for rel := range files {
		if rel != "heron-file-050.json" {
			os.Remove(filepath.Join(src, rel))
		}
	}
	second, err := repo.Snapshot(ctx, src, cairn.SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Forget(ctx, cairn.ForgetOptions{IDs: []int64{first.ID}}); err != nil {
		t.Fatal(err)
	}
	rep, err := repo.GC(ctx, cairn.GCOptions{MaxUnused: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	if rep.DeadChunks != 99 || rep.RepackedPacks != 1 || len(rep.Problems) != 0 {
		t.Fatalf("gc report %+v; want 99 dead chunks and the pack repacked", rep)
	}
	if c, err := repo.Check(ctx, true); err != nil || !c.OK() {
		t.Fatalf("check after gc: %v, %v", c, err)
	}
	req, _, err := repo.Resolve(ctx, filepath.Join(src, "heron-file-050.json"), second.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := repo.Cat(ctx, req, &buf); err != nil || !bytes.Equal(buf.Bytes(), files["heron-file-050.json"]) {
		t.Fatalf("cat after gc: %d bytes, %v", buf.Len(), err)
	}
	var plain [][]byte
	for _, data := range files {
		plain = append(plain, data)
	}
	needles := [][]byte{[]byte(src), []byte("heron-file-050.json")}
	leaks, packs, _ := scanRepository(t, dir, newLeakScanner(plain, needles), needles)
	if packs != 1 {
		t.Errorf("%d packs after gc, want 1", packs)
	}
	for _, l := range leaks {
		t.Errorf("after gc the repository leaks: %s", l)
	}
}

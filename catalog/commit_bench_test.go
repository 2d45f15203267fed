package catalog

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/zeebo/blake3"
)

// firstSnapshot is the commit of a first snapshot of files small files,
// 100 to a directory (the bench's scale corpus): one chunk and one
// content per file.
func firstSnapshot(files int) *Commit {
	now := time.Now()
	c := &Commit{Source: "/scale", Started: now, Finished: now, FileCount: int64(files),
		Packs: []NewPack{{Name: fmt.Sprintf("%064x", 1), Size: int64(files) * 60}}}
	c.Versions = append(c.Versions, NewVersion{Path: ".", Type: TypeDir, Mode: 0o755, UID: -1, GID: -1, Content: -1})
	var b [8]byte
	for i := range files {
		if i%100 == 0 {
			c.Versions = append(c.Versions, NewVersion{Path: fmt.Sprintf("d%04d", i/100), Type: TypeDir,
				Mode: 0o755, UID: -1, GID: -1, Content: -1})
		}
		binary.LittleEndian.PutUint64(b[:], uint64(i))
		h := blake3.Sum256(b[:])
		c.NewChunks = append(c.NewChunks, NewChunk{Hash: h, Offset: int64(8 + i/50*1000), Length: 1000, Size: 100,
			PlainOffset: int64(i % 50 * 100)})
		c.Contents = append(c.Contents, NewContent{Hash: blake3.Sum256(h[:]), Size: 100, Chunking: "cdc", Chunks: []ChunkRef{ChunkRef(-i - 1)}})
		c.Versions = append(c.Versions, NewVersion{Path: fmt.Sprintf("d%04d/f%03d.json", i/100, i%100), Type: TypeFile,
			Mode: 0o644, Size: 100, MtimeNs: now.UnixNano(), JSONValid: sql.NullBool{Bool: true, Valid: true},
			JSONEntries: sql.NullInt64{Int64: 5, Valid: true}, FpCtimeNs: now.UnixNano(), FpIno: uint64(i + 1000), UID: -1, GID: -1,
			Content: len(c.Contents) - 1})
	}
	return c
}

// BenchmarkCommitFirstSnapshot times the one catalog transaction of a
// first snapshot of 100k small files (go test ./catalog -run '^$' -bench
// CommitFirstSnapshot -benchtime 3x).
func BenchmarkCommitFirstSnapshot(b *testing.B) {
	ctx := context.Background()
	files := 100_000
	if n, err := strconv.Atoi(os.Getenv("CAIRN_BENCH_FILES")); err == nil {
		files = n // 1000000 for the 1M-file tree
	}
	c := firstSnapshot(files)
	pragma := os.Getenv("CAIRN_BENCH_PRAGMA") // an A/B of writer settings, e.g. "PRAGMA cache_size = -65536"
	// CAIRN_BENCH_JOURNAL=1: with a journal (records kept in memory), as
	// in a format-2 repository.
	journal := os.Getenv("CAIRN_BENCH_JOURNAL") == "1"
	var recordBytes int
	// CPU time, not only wall time: the machine is shared, and a loaded
	// one stretches the wall time of everything.
	var cpu time.Duration
	defer func() {
		b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
		if journal {
			b.ReportMetric(float64(recordBytes), "record-bytes")
		}
	}()
	for b.Loop() {
		b.StopTimer()
		db, err := Open(ctx, filepath.Join(b.TempDir(), "catalog.db"), true)
		if err != nil {
			b.Fatal(err)
		}
		var j *testJournal
		if journal {
			j = newTestJournal()
			db.SetJournal(j)
		}
		if pragma != "" {
			if _, err := db.w.ExecContext(ctx, pragma); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		before := cpuTime()
		if _, err := db.CommitSnapshot(ctx, c); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - before
		b.StopTimer()
		if j != nil {
			recordBytes = len(j.recs[1])
		}
		db.Close()
		b.StartTimer()
	}
}

// cpuTime is the process's user+system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRebuild times Rebuild from the whole log of a source of
// CAIRN_BENCH_FILES files (default 20,000, the agent-state corpus) with
// 200 snapshots, each changing 1% of the files (go test ./catalog -run '^$'
// -bench Rebuild -benchtime 3x). It reports the log's size too.
func BenchmarkRebuild(b *testing.B) {
	ctx := context.Background()
	files := 20_000
	if n, err := strconv.Atoi(os.Getenv("CAIRN_BENCH_FILES")); err == nil {
		files = n
	}
	j := newTestJournal()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "catalog.db"), true)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetJournal(j)
	if _, err := db.CommitSnapshot(ctx, firstSnapshot(files)); err != nil {
		b.Fatal(err)
	}
	src, err := db.SourceByPath(ctx, "/scale")
	if err != nil {
		b.Fatal(err)
	}
	var h [8]byte
	for s := 1; s < 200; s++ {
		live, err := db.LiveVersions(ctx, src.ID)
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		c := &Commit{Source: "/scale", Started: now, Finished: now, FileCount: int64(files),
			Packs: []NewPack{{Name: fmt.Sprintf("%064x", s+1), Size: 60 * int64(files/100)}}}
		for i := range files / 100 {
			f := (s*7919 + i*101) % files
			v := live[fmt.Sprintf("d%04d/f%03d.json", f/100, f%100)]
			binary.LittleEndian.PutUint64(h[:], uint64(s)<<32|uint64(f))
			hash := blake3.Sum256(h[:])
			c.NewChunks = append(c.NewChunks, NewChunk{Hash: hash, Offset: int64(8 + i*100), Length: 100, Size: 100})
			c.Contents = append(c.Contents, NewContent{Hash: blake3.Sum256(hash[:]), Size: 100, Chunking: "cdc", Chunks: []ChunkRef{ChunkRef(-i - 1)}})
			nv := NewVersion{Path: v.Path, Type: v.Type, LinkTarget: v.LinkTarget, Capture: v.Capture, DBCheck: v.DBCheck, FpExtra: v.FpExtra,
				Size: v.Size, MtimeNs: v.MtimeNs, FpCtimeNs: v.FpCtimeNs, FpIno: v.FpIno, JSONEntries: v.JSONEntries, UID: v.UID, GID: v.GID,
				Mode: v.Mode, JSONValid: v.JSONValid, Content: len(c.Contents) - 1}
			nv.MtimeNs = now.UnixNano()
			c.Versions = append(c.Versions, nv)
			c.Close = append(c.Close, v.ID)
		}
		if _, err := db.CommitSnapshot(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	var logBytes int
	for _, r := range j.recs {
		logBytes += len(r)
	}
	var cpu time.Duration
	defer func() {
		b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
		b.ReportMetric(float64(logBytes), "log-bytes")
		b.ReportMetric(float64(len(j.recs)), "records")
	}()
	for b.Loop() {
		path := filepath.Join(b.TempDir(), "rebuilt.db")
		before := cpuTime()
		out, err := Rebuild(ctx, path, nil, j)
		if err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - before
		out.Close()
	}
}

// BenchmarkEncodeRecord times the encoding and compression of a first
// snapshot's record (CAIRN_BENCH_FILES files, default 100k), which runs
// beside the commit's transaction when a journal is set.
func BenchmarkEncodeRecord(b *testing.B) {
	files := 100_000
	if n, err := strconv.Atoi(os.Getenv("CAIRN_BENCH_FILES")); err == nil {
		files = n
	}
	rec := &snapshotRecord{ID: 1, Commit: firstSnapshot(files)}
	var n int
	for b.Loop() {
		n = len(encodeRecord(rec, nil))
	}
	b.ReportMetric(float64(n), "record-bytes")
}

package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// The scale corpus is issue 14's "tree A": many simple small files, so
// that per-file costs (the walk, the catalog commit, the live-version
// comparison, memory per file) dominate and no data volume hides them.
const (
	scaleName     = "scale"
	scaleFileSize = 100 // bytes of JSON per file
	scalePerDir   = 100
)

// scaleTools are the tools the scale corpus runs: the targets are ratios
// to restic, and borg, one process walking 100k files at about restic's
// pace, would add minutes to every run for no target.
var scaleTools = map[string]bool{"cairn": true, "restic": true}

func scaleCorpus(files int, tree string) (*corpus, error) {
	c := &corpus{name: scaleName, snapOnly: true, tools: scaleTools}
	switch tree {
	case "A":
		c.gen = func(dir string) error { return genScale(dir, files) }
		c.desc = fmt.Sprintf("tree A: %d JSON files of %d bytes, %d per directory (%d directories)",
			files, scaleFileSize, scalePerDir, (files+scalePerDir-1)/scalePerDir)
	case "B":
		c.gen = func(dir string) error { return genScaleB(dir, files) }
		c.desc = fmt.Sprintf("tree B: %d JSON files of varied size and shape (60 B to 16 KiB), in %d x %d directories",
			files, scaleTopDirs, scaleSubDirs)
	default:
		return nil, fmt.Errorf("-scale-tree %q: want A or B", tree)
	}
	return c, nil
}

// Tree B spreads the files over two levels of directories, a few dozen
// per leaf, with sizes from 60 bytes to 16 KiB: a check that a gain on
// tree A's uniform 100-byte files is not tuned to that one shape.
const (
	scaleTopDirs = 300
	scaleSubDirs = 20
)

// genScaleB writes tree B deterministically.
func genScaleB(dir string, files int) error {
	r := rand.New(rand.NewPCG(15, 15))
	leaves := scaleTopDirs * scaleSubDirs
	var b bytes.Buffer
	for i := 0; i < files; i++ {
		leaf := i % leaves
		sub := filepath.Join(dir, fmt.Sprintf("p%03d", leaf/scaleSubDirs), fmt.Sprintf("s%02d", leaf%scaleSubDirs))
		if i < leaves {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return err
			}
		}
		// Sizes spread over 8 octaves (60 B .. 16 KiB), most of them small.
		size := 60 << (r.IntN(9) * r.IntN(9) / 8)
		size += r.IntN(size)
		b.Reset()
		fmt.Fprintf(&b, "{\"id\":%d,\"kind\":\"%s\",\"items\":[", i, vocab[r.IntN(len(vocab))])
		for n := 0; b.Len() < size; n++ {
			if n > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "{\"k\":\"%s\",\"v\":%d,\"t\":\"%s %s\"}", vocab[r.IntN(len(vocab))], r.IntN(1<<20),
				vocab[r.IntN(len(vocab))], vocab[r.IntN(len(vocab))])
		}
		b.WriteString("]}\n")
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%06d.json", i)), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// genScale writes files JSON files of exactly scaleFileSize bytes,
// scalePerDir to a directory, deterministically.
func genScale(dir string, files int) error {
	r := rand.New(rand.NewPCG(14, 14))
	var b bytes.Buffer
	for i := 0; i < files; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("d%04d", i/scalePerDir))
		if i%scalePerDir == 0 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return err
			}
		}
		b.Reset()
		fmt.Fprintf(&b, `{"id":%d,"name":"item-%d","score":%.6f,"tags":["%s","%s"],"pad":"`, i, i, r.Float64(),
			vocab[r.IntN(len(vocab))], vocab[r.IntN(len(vocab))])
		for b.Len() < scaleFileSize-3 {
			b.WriteByte(byte('a' + r.IntN(26)))
		}
		b.WriteString("\"}\n")
		if b.Len() != scaleFileSize {
			return fmt.Errorf("scale file %d: %d bytes, want %d", i, b.Len(), scaleFileSize)
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%03d.json", i%scalePerDir)), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// The targets for the scale corpus, ratios to restic in the same
// run. The unchanged-snapshot and memory targets are stated for 1M files;
// at 100k they are shown for the trend.
var scaleTargets = []target{
	{step: stepFirst, m: mWall, unit: "s", limit: 0.5, label: "first snapshot, wall"},
	{step: stepUnchanged, m: mWall, unit: "s", limit: 0.1, label: "unchanged snapshot, wall (target stated at 1M files)"},
	{step: stepFirst, m: mRSS, unit: "MiB", limit: 0.5, label: "peak RSS, first snapshot (target stated at 1M files)"},
	{step: stepUnchanged, m: mRSS, unit: "MiB", limit: 0.5, label: "peak RSS, unchanged snapshot (target stated at 1M files)"},
}

// Markers around the scale section of the report, so a run of the scale
// corpus alone (`-corpora scale`, minutes at 1M files) replaces that
// section and leaves the rest of the report as it is, and a run without
// it keeps the last one.
const (
	scaleBegin = "<!-- bench:scale -->"
	scaleEnd   = "<!-- /bench:scale -->"
)

// splitScale returns report without its scale section, and the section.
func splitScale(report string) (rest, section string) {
	i := strings.Index(report, scaleBegin)
	j := strings.Index(report, scaleEnd)
	if i < 0 || j < i {
		return report, ""
	}
	j += len(scaleEnd)
	return strings.TrimRight(report[:i], "\n") + "\n" + strings.TrimLeft(report[j:], "\n"), report[i:j]
}

// merged is what the report file holds after this run: the new main
// report (or the old one, if only the scale corpus ran) and the new scale
// section (or the old one, if the scale corpus did not run).
func merged(old, main, scale string, ranMain, ranScale bool) string {
	oldMain, oldScale := splitScale(old)
	if !ranMain {
		main = oldMain
	}
	if !ranScale {
		scale = oldScale
	}
	out := strings.TrimRight(main, "\n") + "\n"
	if scale != "" {
		out += "\n" + scale + "\n"
	}
	return out
}

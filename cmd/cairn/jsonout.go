package main

// The one JSON contract of every --json flag, documented field by field in
// docs/json.md. A test (jsonout_test.go) reads that document's tables and
// compares them with these structs' tags, and the testscripts decode each
// command's output into them with DisallowUnknownFields, so the document
// and the code cannot drift apart.
//
// Conventions: snake_case names; the same name for the same thing in every
// object (file_count, total_bytes, added_bytes, snapshot_id); times are
// RFC 3339 in UTC; tags and every other list are arrays, empty rather than
// null; a field is omitted only where the document says "optional".

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/cairn-dev/cairn"
)

// jsonTime is a time as JSON says it: RFC 3339 in UTC, with the
// nanoseconds the catalog recorded.
type jsonTime time.Time

func (t jsonTime) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Time(t).UTC().Format(time.RFC3339Nano))
}

func (t *jsonTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("parse time %q: %w", s, err)
	}
	if v.Location() != time.UTC {
		return fmt.Errorf("parse time %q: not UTC", s)
	}
	*t = jsonTime(v)
	return nil
}

// jsonSchemas names every documented object (the headings of
// docs/json.md) with the struct that prints it.
var jsonSchemas = map[string]any{
	"snapshot":       snapshotJSON{},
	"snap_status":    snapStatusJSON{},
	"snap_summary":   snapSummaryJSON{},
	"snap_plan":      snapPlanJSON{},
	"warning":        warningJSON{},
	"file":           fileJSON{},
	"version":        versionJSON{},
	"diff":           diffJSON{},
	"restore":        restoreJSON{},
	"restore_item":   restoreItemJSON{},
	"undo":           undoJSON{},
	"forget":         forgetJSON{},
	"forget_source":  forgetSourceJSON{},
	"decision":       decisionJSON{},
	"check":          checkJSON{},
	"affected":       affectedJSON{},
	"gc":             gcJSON{},
	"policy":         policyJSON{},
	"repository":     repositoryJSON{},
	"cairn_version":  versionInfoJSON{},
	"import":         importJSON{},
	"import_skipped": importSkippedJSON{},
	"match":          matchJSON{},
	"stats":          statsJSON{},
	"stats_source":   statsSourceJSON{},
	"stats_snapshot": statsSnapshotJSON{},
	"file_diff":      fileDiffJSON{},
	"key":            keyJSON{},
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeJSONLine writes one object on one line (the JSON lines snap
// streams).
func writeJSONLine(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

type snapshotJSON struct {
	ID         int64    `json:"id"`
	Source     string   `json:"source"`
	StartedAt  jsonTime `json:"started_at"`
	FinishedAt jsonTime `json:"finished_at"`
	Label      string   `json:"label"`
	Tags       []string `json:"tags"`
	FileCount  int64    `json:"file_count"`
	TotalBytes int64    `json:"total_bytes"`
	AddedBytes int64    `json:"added_bytes"`
	Incomplete bool     `json:"incomplete"`
	// Host and Ref: another host's snapshot (absent for this host's).
	Host string `json:"host,omitempty"`
	Ref  string `json:"ref,omitempty"`
}

func toSnapshotJSON(s cairn.Snapshot) snapshotJSON {
	return snapshotJSON{ID: s.ID, Source: s.Source, StartedAt: jsonTime(s.Started), FinishedAt: jsonTime(s.Finished), Label: s.Label,
		Tags: nonNil(s.Tags), FileCount: s.FileCount, TotalBytes: s.TotalBytes, AddedBytes: s.AddedBytes, Incomplete: s.Unreadable > 0}
}

// snapStatusJSON is a progress line of snap --json.
type snapStatusJSON struct {
	MessageType string  `json:"message_type"` // "status"
	FilesDone   int64   `json:"files_done"`
	FilesTotal  int64   `json:"files_total"`
	BytesDone   int64   `json:"bytes_done"`
	PercentDone float64 `json:"percent_done"`
}

// snapSummaryJSON is the last line of snap --json.
// snapPlanJSON is what snap --dry-run --json prints for each directory:
// one JSON line, as the summary of a real run is.
type snapPlanJSON struct {
	MessageType  string   `json:"message_type"` // "plan"
	Source       string   `json:"source"`
	DryRun       bool     `json:"dry_run"`
	Added        []string `json:"added"`
	Removed      []string `json:"removed"`
	Changed      []string `json:"changed"`
	PathsNew     int      `json:"paths_new"`
	PathsChanged int      `json:"paths_changed"`
	PathsRemoved int      `json:"paths_removed"`
	FilesToRead  int      `json:"files_to_read"`
	BytesToRead  int64    `json:"bytes_to_read"`
	FileCount    int64    `json:"file_count"`
	TotalBytes   int64    `json:"total_bytes"`
}

type snapSummaryJSON struct {
	MessageType    string        `json:"message_type"` // "summary"
	SnapshotID     int64         `json:"snapshot_id"`
	Source         string        `json:"source"`
	PathsNew       int           `json:"paths_new"`
	PathsChanged   int           `json:"paths_changed"`
	PathsUnchanged int           `json:"paths_unchanged"`
	PathsRemoved   int           `json:"paths_removed"`
	FileCount      int64         `json:"file_count"`
	TotalBytes     int64         `json:"total_bytes"`
	BytesRead      int64         `json:"bytes_read"`
	AddedBytes     int64         `json:"added_bytes"`
	Seconds        float64       `json:"seconds"`
	Warnings       []warningJSON `json:"warnings"`
	Forgotten      []int64       `json:"forgotten"`
	Incomplete     bool          `json:"incomplete"`
	Unreadable     []string      `json:"unreadable"`
}

type warningJSON struct {
	Path          string `json:"path"`
	Kind          string `json:"kind"`
	Message       string `json:"message"`
	RefSnapshotID int64  `json:"ref_snapshot_id,omitempty"` // the snapshot to restore from
}

// snapJSONStatus is the Progress callback of snap --json: one status line
// per report (snap reports a few times a second at most).
func snapJSONStatus(w io.Writer) func(cairn.Progress) {
	return func(p cairn.Progress) {
		pct := 0.0
		if p.FilesToRead > 0 {
			pct = float64(p.FilesDone) / float64(p.FilesToRead)
		}
		writeJSONLine(w, snapStatusJSON{"status", p.FilesDone, p.FilesToRead, p.BytesRead, pct})
	}
}

// writeSnapSummary writes the last line of snap --json.
func writeSnapSummary(w io.Writer, r *cairn.SnapshotResult) error {
	return writeJSONLine(w, toSnapSummary(r))
}

func toSnapSummary(r *cairn.SnapshotResult) snapSummaryJSON {
	ws := []warningJSON{}
	for _, x := range r.Warnings {
		ws = append(ws, warningJSON{x.Path, x.Kind, x.Message, x.RefSnapshotID})
	}
	return snapSummaryJSON{"summary", r.ID, r.Source, r.New, r.Changed, r.Unchanged, r.Removed,
		r.Files, r.TotalBytes, r.BytesRead, r.BytesAdded, r.Duration.Seconds(), ws, nonNil(r.Forgotten),
		len(r.Unreadable) > 0, nonNil(r.Unreadable)}
}

// importJSON is one backup cairn import brought in.
type importJSON struct {
	Backup    string              `json:"backup"`
	Kind      string              `json:"kind"`
	Time      jsonTime            `json:"time"`
	TimeFrom  string              `json:"time_from"`
	Stripped  string              `json:"stripped,omitempty"`
	Skipped   []importSkippedJSON `json:"skipped"`
	Tightened []string            `json:"tightened"`
	Snapshot  snapSummaryJSON     `json:"snapshot"`
}

type importSkippedJSON struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

type fileJSON struct {
	SnapshotID int64    `json:"snapshot_id,omitempty"`
	Source     string   `json:"source"`
	Path       string   `json:"path"`
	Type       string   `json:"type"`
	Mode       string   `json:"mode"`
	Size       int64    `json:"size"`
	Mtime      jsonTime `json:"mtime"`
	Hash       string   `json:"hash,omitempty"`
	LinkTarget string   `json:"link_target,omitempty"`
	JSONValid  *bool    `json:"json_valid,omitempty"`
}

func toFileJSON(snap int64, source string, v *cairn.Version) fileJSON {
	f := fileJSON{SnapshotID: snap, Source: source, Path: v.Path, Type: v.Type, Mode: octal(v.Mode), Size: v.Size,
		Mtime: jsonTime(time.Unix(0, v.MtimeNs)), LinkTarget: v.LinkTarget}
	if len(v.ContentHash) > 0 {
		f.Hash = fmt.Sprintf("%x", v.ContentHash)
	}
	if v.JSONValid.Valid {
		b := v.JSONValid.Bool
		f.JSONValid = &b
	}
	return f
}

type versionJSON struct {
	fileJSON
	FirstSnapshotID int64    `json:"first_snapshot_id"`
	LastSnapshotID  int64    `json:"last_snapshot_id"`
	FirstSeen       jsonTime `json:"first_seen"`
	LastSeen        jsonTime `json:"last_seen"`
}

type diffJSON struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	Changed []string `json:"changed"`
}

func toDiffJSON(d *cairn.TreeDiff) diffJSON {
	return diffJSON{nonNil(d.Added), nonNil(d.Removed), nonNil(d.Changed)}
}

type restoreJSON struct {
	DryRun    bool              `json:"dry_run"`
	Items     []restoreItemJSON `json:"items"`
	Written   int               `json:"written"`
	Bytes     int64             `json:"bytes"`
	Unchanged int               `json:"unchanged"`
	Deleted   int               `json:"deleted"`
	Failed    int               `json:"failed"`
	Undo      []undoJSON        `json:"undo"`
}

type restoreItemJSON struct {
	Path        string   `json:"path"`
	Source      string   `json:"source"`
	SnapshotID  int64    `json:"snapshot_id,omitempty"`
	Type        string   `json:"type"`
	Action      string   `json:"action"`
	Substituted bool     `json:"substituted"`
	Notes       []string `json:"notes"`
	Error       string   `json:"error,omitempty"`
}

type undoJSON struct {
	Source     string `json:"source"`
	SnapshotID int64  `json:"snapshot_id"`
}

func toRestoreJSON(res *cairn.RestoreResult, dryRun bool) restoreJSON {
	out := restoreJSON{DryRun: dryRun, Items: []restoreItemJSON{}, Written: res.Written, Bytes: res.Bytes,
		Unchanged: res.Unchanged, Deleted: res.Deleted, Failed: len(res.Failed()), Undo: []undoJSON{}}
	for _, it := range res.Items {
		ij := restoreItemJSON{Path: it.Path, Source: it.Source, SnapshotID: it.Snapshot, Type: it.Type,
			Action: string(it.Kind), Substituted: it.Substituted, Notes: nonNil(it.Notes)}
		if it.Err != nil {
			ij.Error = userMessage(it.Err)
		}
		out.Items = append(out.Items, ij)
	}
	for _, u := range res.Undo {
		out.Undo = append(out.Undo, undoJSON{u.Source, u.Snapshot})
	}
	return out
}

type forgetJSON struct {
	DryRun    bool               `json:"dry_run"`
	Sources   []forgetSourceJSON `json:"sources"`
	Forgotten []int64            `json:"forgotten"`
	GC        *gcJSON            `json:"gc,omitempty"` // with --prune
}

type forgetSourceJSON struct {
	Source    string         `json:"source"`
	Policy    string         `json:"policy"`
	Decisions []decisionJSON `json:"decisions"`
}

type decisionJSON struct {
	SnapshotID int64    `json:"snapshot_id"`
	Time       jsonTime `json:"time"`
	Tags       []string `json:"tags"`
	Keep       bool     `json:"keep"`
	Reasons    []string `json:"reasons"`
	SameAs     int64    `json:"same_as,omitempty"`
}

func toForgetJSON(res *cairn.ForgetResult, dryRun bool) forgetJSON {
	out := forgetJSON{DryRun: dryRun, Sources: []forgetSourceJSON{}, Forgotten: nonNil(res.Forgotten)}
	for _, s := range res.Sources {
		fs := forgetSourceJSON{Source: s.Source, Policy: s.Policy.String(), Decisions: []decisionJSON{}}
		for _, d := range s.Decisions {
			fs.Decisions = append(fs.Decisions, decisionJSON{d.Snapshot.ID, jsonTime(d.Snapshot.Time), nonNil(d.Snapshot.Tags),
				d.Keep, nonNil(d.Reasons), d.SameAs})
		}
		out.Sources = append(out.Sources, fs)
	}
	return out
}

type checkJSON struct {
	OK                bool           `json:"ok"`
	ReadData          bool           `json:"read_data"`
	Packs             int            `json:"packs"`
	Chunks            int            `json:"chunks"`
	Contents          int            `json:"contents"`
	BytesRead         int64          `json:"bytes_read"`
	Problems          []string       `json:"problems"`
	Affected          []affectedJSON `json:"affected"`
	MissingPacks      []string       `json:"missing_packs"`
	MissingRecorded   bool           `json:"missing_recorded"`
	UnreferencedPacks []string       `json:"unreferenced_packs"`
}

type affectedJSON struct {
	Source          string `json:"source"`
	Path            string `json:"path"`
	FirstSnapshotID int64  `json:"first_snapshot_id"`
	LastSnapshotID  int64  `json:"last_snapshot_id"`
}

func toCheckJSON(rep *cairn.CheckReport, readData bool) checkJSON {
	out := checkJSON{rep.OK(), readData, rep.Packs, rep.Chunks, rep.Contents, rep.BytesRead, nonNil(rep.Problems),
		[]affectedJSON{}, nonNil(rep.Missing), rep.MissingRecorded, nonNil(rep.Unreferenced)}
	for _, af := range rep.Affected {
		out.Affected = append(out.Affected, affectedJSON{af.Source, af.Path, af.First, af.Last})
	}
	return out
}

type gcJSON struct {
	DryRun        bool     `json:"dry_run"`
	DeadChunks    int      `json:"dead_chunks"`
	DeletedPacks  int      `json:"deleted_packs"`
	RepackedPacks int      `json:"repacked_packs"`
	MergedPacks   int      `json:"merged_packs"`
	WrittenPacks  int      `json:"written_packs"`
	OrphanPacks   int      `json:"orphan_packs"`
	YoungOrphans  int      `json:"young_orphans"`
	Condemned     int      `json:"condemned_packs"`
	RemovedPacks  int      `json:"removed_packs"`
	Revived       int      `json:"revived_packs"`
	WaitingPacks  int      `json:"waiting_packs"`
	WaitingBytes  int64    `json:"waiting_bytes"`
	BytesFreed    int64    `json:"bytes_freed"`
	Problems      []string `json:"problems"`
}

func toGCJSON(rep *cairn.GCReport, dryRun bool) gcJSON {
	return gcJSON{dryRun, rep.DeadChunks, rep.DeletedPacks, rep.RepackedPacks, rep.MergedPacks, rep.WrittenPacks, rep.OrphanPacks, rep.YoungOrphans,
		rep.Condemned, rep.RemovedPacks, rep.Revived, rep.WaitingPacks, rep.WaitingBytes, rep.BytesFreed, nonNil(rep.Problems)}
}

type policyJSON struct {
	Source        string   `json:"source"`
	Policy        string   `json:"policy"`
	PolicyDefault bool     `json:"policy_default"`
	Runtime       []string `json:"runtime"`
	WarnRemoved   float64  `json:"warn_removed"`
	Replica       string   `json:"replica"`
	ReplicaS3     string   `json:"replica_endpoint"`
}

type repositoryJSON struct {
	Path    string `json:"path"`
	Chunker string `json:"chunker"`
}

type versionInfoJSON struct {
	Version string `json:"version"`
	Go      string `json:"go"`
}

// matchJSON is one path find --json found.
type matchJSON struct {
	SnapshotID int64    `json:"snapshot_id"`
	StartedAt  jsonTime `json:"started_at"`
	Source     string   `json:"source"`
	Path       string   `json:"path"`
	Type       string   `json:"type"`
	Size       int64    `json:"size"`
	Mtime      jsonTime `json:"mtime"`
}

// statsJSON is what stats --json prints.
type statsJSON struct {
	SnapshotCount int64               `json:"snapshot_count"`
	PackCount     int64               `json:"pack_count"`
	DiskBytes     int64               `json:"disk_bytes"`
	UniqueBytes   int64               `json:"unique_bytes"`
	SnapshotBytes int64               `json:"snapshot_bytes"`
	DedupRatio    float64             `json:"dedup_ratio"`
	Sources       []statsSourceJSON   `json:"sources"`
	Snapshots     []statsSnapshotJSON `json:"snapshots"`
}

type statsSourceJSON struct {
	Source        string `json:"source"`
	SnapshotCount int64  `json:"snapshot_count"`
	VersionCount  int64  `json:"version_count"`
	LatestBytes   int64  `json:"latest_bytes"`
	UniqueBytes   int64  `json:"unique_bytes"`
	SnapshotBytes int64  `json:"snapshot_bytes"`
}

type statsSnapshotJSON struct {
	ID         int64  `json:"id"`
	Source     string `json:"source"`
	FileCount  int64  `json:"file_count"`
	TotalBytes int64  `json:"total_bytes"`
	AddedBytes int64  `json:"added_bytes"`
}

// fileDiffJSON is what diff ID1 ID2 PATH --json prints.
type fileDiffJSON struct {
	Path    string `json:"path"`
	From    int64  `json:"from_snapshot_id"`
	To      int64  `json:"to_snapshot_id"`
	Equal   bool   `json:"equal"`
	Binary  bool   `json:"binary"`
	Unified string `json:"unified"`
}

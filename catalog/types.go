package catalog

import (
	"database/sql"
	"strings"
	"time"
)

// Entry types as stored in version.type.
const (
	TypeFile    = "file"
	TypeDir     = "dir"
	TypeSymlink = "symlink"
)

// Capture methods as stored in version.capture.
const (
	CaptureRaw       = "raw"        // bytes as read
	CaptureSQLite    = "sqlite"     // online backup API copy
	CaptureSQLiteRaw = "sqlite-raw" // a database SQLite could not open, stored as bytes
)

// Source is a directory cairn snapshots.
type Source struct {
	ID     int64
	Path   string
	Policy string // retention policy JSON; "" = default
	// Runtime lists extra patterns of files restore never writes.
	Runtime []string
	// MassDeletion is the share of removed files that warns; 0 = default.
	MassDeletion float64
	// Excludes are the excludes the source remembers (JSON); "" = none.
	Excludes string
	// Writer is the slot of the writer whose source it is (0: this one).
	Writer int64
}

// Snapshot is one committed snapshot.
type Snapshot struct {
	ID         int64
	SourceID   int64
	Source     string
	Started    time.Time
	Finished   time.Time
	Label      string
	Tags       []string
	FileCount  int64
	TotalBytes int64
	AddedBytes int64
	Unreadable int64 // paths that could not be read; > 0: incomplete
	// Writer is the slot of the writer whose source it is (0: this one;
	// the snapshot's id is in that slot).
	Writer int64
}

// Version is one version of one path: valid for the snapshots of its
// source from First to Last (Last == 0: still live).
type Version struct {
	ID          int64
	Path        string
	Type        string
	Mode        uint32
	Size        int64
	MtimeNs     int64
	ContentID   int64 // 0 for dirs and symlinks
	ContentHash []byte
	LinkTarget  string
	Capture     string
	JSONValid   sql.NullBool
	JSONEntries sql.NullInt64
	DBCheck     string
	FpCtimeNs   int64
	FpIno       uint64
	FpExtra     string
	// UID and GID owned the entry at capture; -1 when not recorded.
	UID, GID    int64
	First, Last int64
}

func joinTags(tags []string) string { return strings.Join(tags, ",") }

func splitTags(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func nsTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }

package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/cairn-dev/cairn"
)

// warningLine renders a snapshot warning of source for people: the path,
// the message, and for a warning that names a snapshot to restore from the
// command that does it. The catalog stores only the snapshot id, so the
// command is worded here, where the CLI's vocabulary lives.
func warningLine(source string, w cairn.Warning) string {
	line := displayPath(w.Path) + ": " + displayText(w.Message)
	if w.RefSnapshotID != 0 {
		target := filepath.Join(source, filepath.FromSlash(w.Path))
		line += fmt.Sprintf(" (cairn restore --snapshot %d %s)", w.RefSnapshotID, quoteAll([]string{target})[0])
	}
	return line
}

// snapshotList names snapshots for people: "snapshot 3", "snapshots 3, 4
// and 7".
func snapshotList(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	if len(s) == 1 {
		return "snapshot " + s[0]
	}
	return "snapshots " + strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

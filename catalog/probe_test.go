package catalog

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A foreign or newer WAL-mode database is refused from its header alone:
// SQLite is never asked to open it, so no -wal or -shm appears beside it.
func TestProbeLeavesNoSidecars(t *testing.T) {
	for name, tc := range map[string]struct {
		pragmas string
		want    error
	}{
		"foreign": {"PRAGMA application_id = 4660", ErrNotCatalog},
		// Most SQLite files leave application_id 0.
		"foreign without application_id": {"SELECT 1", ErrNotCatalog},
		"newer":                          {"PRAGMA application_id = 1668443697; PRAGMA user_version = 99", ErrTooNew},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "catalog.db")
			db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec("CREATE TABLE t(x); " + tc.pragmas); err != nil {
				t.Fatal(err)
			}
			db.Close() // checkpoints and removes -wal and -shm
			before, _ := os.ReadFile(path)
			_, err = Open(context.Background(), path, true)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
			for _, side := range []string{"-wal", "-shm"} {
				if _, err := os.Stat(path + side); err == nil {
					t.Errorf("refusing the file created %s beside it", side)
				}
			}
			if after, _ := os.ReadFile(path); string(after) != string(before) {
				t.Error("refusing the file changed it")
			}
		})
	}
}

package mountfs

import (
	"testing"
	"time"

	"github.com/cairn-dev/cairn/catalog"
)

func TestSourceNames(t *testing.T) {
	got := sourceNames([]catalog.Source{{ID: 1, Path: "/a/.agent"}, {ID: 2, Path: "/b/.agent"}, {ID: 3, Path: "/notes"}, {ID: 4, Path: "/"}})
	want := map[string]int64{".agent~1": 1, ".agent~2": 2, "notes": 3, "root": 4}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("got %v, want %v", got, want)
		}
	}
}

func TestTimeNames(t *testing.T) {
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	order, names := timeNames([]catalog.Snapshot{{ID: 3, Started: at}, {ID: 5, Started: at.Add(400 * time.Millisecond)}, {ID: 9, Started: at.Add(time.Hour).In(time.FixedZone("", 3600))}})
	want := []string{"2026-01-01T12:00:00Z", "2026-01-01T12:00:00Z~5", "2026-01-01T13:00:00Z"}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
	if names["2026-01-01T12:00:00Z~5"] != 5 {
		t.Errorf("names %v", names)
	}
}

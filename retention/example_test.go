package retention_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/cairn-dev/cairn/retention"
)

func ExampleApply() {
	at := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	snaps := []retention.Snapshot{
		{ID: 1, Time: at("2024-03-01T09:00:00Z")},
		{ID: 2, Time: at("2024-03-02T09:00:00Z"), Tags: []string{"release"}},
		{ID: 3, Time: at("2024-03-03T09:00:00Z")},
		{ID: 4, Time: at("2024-03-03T18:00:00Z")},
		{ID: 5, Time: at("2024-03-04T09:00:00Z")},
	}
	p := retention.Policy{Last: 1, Daily: 2, Tags: []string{"release"}}
	fmt.Println(p)
	for _, d := range retention.Apply(snaps, p, at("2024-03-04T12:00:00Z"), time.UTC) {
		verdict := "forget"
		if d.Keep {
			verdict = "keep: " + strings.Join(d.Reasons, ", ")
		}
		fmt.Printf("%d %s %s\n", d.Snapshot.ID, d.Snapshot.Time.Format("2006-01-02 15:04"), verdict)
	}
	// Output:
	// keep-last 1, keep-daily 2, keep-tag release
	// 5 2024-03-04 09:00 keep: last snapshot, daily snapshot
	// 4 2024-03-03 18:00 keep: daily snapshot
	// 3 2024-03-03 09:00 forget
	// 2 2024-03-02 09:00 keep: tag release
	// 1 2024-03-01 09:00 forget
}

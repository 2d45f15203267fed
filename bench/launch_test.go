package main

import (
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == launchArg {
		launchMain(os.Args[2:])
	}
	os.Exit(m.Run())
}

// TestLaunchedRSSIsTheChilds: a bench holding much memory (a 1M-file
// list) reported its own size as every small child's peak RSS. Measured
// through the launcher, a small child's figure stays small.
func TestLaunchedRSSIsTheChilds(t *testing.T) {
	sh, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1)")
	}
	hold := make([]byte, 300<<20)
	for i := range hold {
		if i%4096 == 0 {
			hold[i] = 1
		}
	}
	// Started directly, true(1) reports about the bench's 300 MiB.
	direct := exec.Command(sh)
	if err := direct.Run(); err != nil {
		t.Fatal(err)
	}
	t.Logf("true(1) started directly: %d KiB", direct.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
	_, _, rss, err := runOne(cmdSpec{argv: []string{sh}}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 || rss > 64<<10 {
		t.Fatalf("true(1) measured at %d KiB peak RSS while the bench holds 300 MiB", rss)
	}
	hold[0] = 2 // keep it alive until here
	if _, _, _, err := runOne(cmdSpec{argv: []string{"sh", "-c", "exit 3"}, okCodes: []int{3}}, io.Discard); err != nil {
		t.Fatalf("an accepted exit code: %v", err)
	}
	if _, _, _, err := runOne(cmdSpec{argv: []string{"sh", "-c", "exit 4"}}, io.Discard); err == nil {
		t.Fatal("exit 4 was not an error")
	}
}

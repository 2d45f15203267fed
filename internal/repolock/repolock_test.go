package repolock

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSharedAllowsSharedBlocksExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	ctx := context.Background()
	a, err := Acquire(ctx, path, Shared, "repository lock", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Acquire(ctx, path, Shared, "repository lock", nil)
	if err != nil {
		t.Fatalf("second shared lock: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	var msg string
	if _, err := Acquire(short, path, Exclusive, "repository lock", func(s string) { msg = s }); err == nil {
		t.Fatal("exclusive lock granted while shared locks are held")
	}
	if !strings.Contains(msg, "waiting for") {
		t.Fatalf("waiting message = %q", msg)
	}
	a.Release()
	b.Release()
	c, err := Acquire(ctx, path, Exclusive, "repository lock", nil)
	if err != nil {
		t.Fatalf("exclusive after release: %v", err)
	}
	c.Release()
}

// A holder killed with SIGKILL leaves no lock behind.
func TestDeadHolderReleases(t *testing.T) {
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock(1) not installed")
	}
	path := filepath.Join(t.TempDir(), "lock")
	os.WriteFile(path, nil, 0o600)
	// -o: the lock belongs to flock itself, not to sleep, so killing flock
	// is killing the holder.
	cmd := exec.Command("flock", "-o", "-x", path, "sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	var msg string
	for {
		short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		l, err := Acquire(short, path, Shared, "repository lock", func(s string) { msg = s })
		cancel()
		if err != nil {
			break // the child holds it now
		}
		l.Release()
		if time.Now().After(deadline) {
			t.Fatal("child never took the lock")
		}
	}
	if !strings.Contains(msg, "pid") {
		t.Errorf("waiting message does not name the holder: %q", msg)
	}
	cmd.Process.Kill()
	cmd.Wait()
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	l, err := Acquire(ctx, path, Exclusive, "repository lock", nil)
	if err != nil {
		t.Fatalf("lock still held after its holder was killed: %v", err)
	}
	l.Release()
}

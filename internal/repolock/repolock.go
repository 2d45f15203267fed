// Package repolock coordinates cairn processes on one repository with
// flock(2) locks. The kernel releases a lock when its holder exits, even by
// kill -9, so a dead process can never leave the repository locked.
//
// Snapshots, restores and checks hold the repository lock shared; gc holds
// it exclusively while it deletes, so a chunk a running snapshot decided to
// reuse cannot vanish before that snapshot commits. Each source also has a
// lock of its own, held exclusively by whatever writes its history.
//
// A process that may not write the repository (read-only media, or another
// user's repository) takes shared locks on the existing lock files opened
// read-only; where no lock file exists and none can be created, a shared
// lock is taken as granted, since no cairn can be writing there with
// locks either.
package repolock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Lock is a held lock; Release it when done.
type Lock struct {
	f *os.File
	// Waited says another process held the lock when Acquire was called:
	// what it wrote meanwhile may not be in a view read before.
	Waited bool
}

// Kind of lock.
type Kind int

const (
	Shared Kind = iota
	Exclusive
)

// poll is how often a waiting process retries; flock itself cannot be
// cancelled, so waits are polls that honour ctx.
const poll = 50 * time.Millisecond

// Acquire takes the lock on path (creating the file) and waits for other
// holders as long as ctx allows. waiting, if set, is called once with a
// line that says who holds the lock.
func Acquire(ctx context.Context, path string, kind Kind, what string, waiting func(string)) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil && kind == Shared && (errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)) {
		// A reader without write access (read-only media, or someone
		// else's repository) still takes the lock shared: flock(2) needs
		// only an open descriptor, so a writer's gc waits for it.
		f, err = os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			// No lock file, and none can be made: no cairn has ever
			// written here with locks, or the media is read-only.
			return &Lock{}, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	how := syscall.LOCK_SH
	if kind == Exclusive {
		how = syscall.LOCK_EX
	}
	told, waited := false, false
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return &Lock{f: f, Waited: waited}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		waited = true
		if !told && waiting != nil {
			waiting(fmt.Sprintf("waiting for %s to release the %s%s", holders(f), what, ""))
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for the %s: %w", what, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// Release drops the lock.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the last descriptor releases the flock
	l.f = nil
	return err
}

// holders names the processes holding a lock on f, from /proc/locks,
// e.g. "cairn gc (pid 4242)"; best effort.
func holders(f *os.File) string {
	fi, err := f.Stat()
	if err != nil {
		return "another cairn process"
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "another cairn process"
	}
	lf, err := os.Open("/proc/locks")
	if err != nil {
		return "another cairn process"
	}
	defer lf.Close()
	suffix := ":" + strconv.FormatUint(st.Ino, 10)
	var names []string
	sc := bufio.NewScanner(lf)
	for sc.Scan() {
		// 1: FLOCK  ADVISORY  WRITE 4242 00:2b:1234 0 EOF
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" || !strings.HasSuffix(fields[5], suffix) {
			continue
		}
		pid := fields[4]
		if pid == strconv.Itoa(os.Getpid()) {
			continue
		}
		names = append(names, describe(pid))
	}
	if len(names) == 0 {
		return "another cairn process"
	}
	return strings.Join(names, ", ")
}

func describe(pid string) string {
	b, err := os.ReadFile("/proc/" + pid + "/cmdline")
	if err != nil || len(b) == 0 {
		return "pid " + pid
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if len(args) > 2 {
		args = args[:2]
	}
	for i, a := range args {
		if i == 0 {
			a = a[strings.LastIndex(a, "/")+1:]
		}
		args[i] = a
	}
	return fmt.Sprintf("%s (pid %s)", strings.Join(args, " "), pid)
}

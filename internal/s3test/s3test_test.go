package s3test

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestVersityStartsAndStops: the server listens on 127.0.0.1 only, has
// its bucket, and is gone when the test that started it ends.
func TestVersityStartsAndStops(t *testing.T) {
	var pid int
	var addr string
	t.Run("server", func(t *testing.T) {
		start := time.Now()
		s := Versity(t)
		t.Logf("versitygw up with a bucket in %v at %s", time.Since(start).Round(time.Millisecond), s.Endpoint)
		if !strings.HasPrefix(s.Endpoint, "http://127.0.0.1:") {
			t.Errorf("endpoint %s is not on loopback", s.Endpoint)
		}
		c, err := s.Client()
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := c.BucketExists(context.Background(), s.Bucket); err != nil || !ok {
			t.Errorf("bucket %s: %v, %v", s.Bucket, ok, err)
		}
		pid, addr = s.procs[0].cmd.Process.Pid, strings.TrimPrefix(s.Endpoint, "http://")
	})
	if pid == 0 {
		t.Skip("no server started")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("versitygw (pid %d) still runs after its test: %v", pid, err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections", addr)
	}
}

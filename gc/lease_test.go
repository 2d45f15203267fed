package gc_test

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/blobstore/memstore"
	"github.com/cairn-dev/cairn/gc"
	"github.com/cairn-dev/cairn/internal/procid"
)

// storeClock is a memstore whose clock the test moves: store time.
func storeClock(t *testing.T) (*memstore.Store, func(time.Duration)) {
	t.Helper()
	s := memstore.New()
	var skew atomic.Int64
	s.SetClock(func() time.Time { return time.Now().Add(time.Duration(skew.Load())) })
	return s, func(d time.Duration) { skew.Add(int64(d)) }
}

func keysUnder(t *testing.T, o blobstore.Objects, prefix string) []string {
	t.Helper()
	var keys []string
	if err := o.ListObjects(context.Background(), prefix, func(k string, _ int64) error {
		keys = append(keys, k)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestLeaseHeldThenExpired: a second gc on another host is refused with
// who holds the lease; once the holder's last heartbeat is older than
// the TTL in store time (the holder's host crashed), it breaks the lease,
// and the old holder finds its lease lost before deleting anything.
func TestLeaseHeldThenExpired(t *testing.T) {
	ctx := context.Background()
	s, advance := storeClock(t)
	a, err := gc.AcquireLease(ctx, s, gc.Holder{Writer: "writera", Host: "host-a", PID: 1}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, err = gc.AcquireLease(ctx, s, gc.Holder{Writer: "writerb", Host: "host-b", PID: 2}, time.Minute)
	var held *gc.LeaseHeldError
	if !errors.Is(err, gc.ErrLeaseHeld) || !errors.As(err, &held) || held.Holder.Host != "host-a" || held.Holder.Writer != "writera" {
		t.Fatalf("second gc: %v; want ErrLeaseHeld naming host-a", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "host host-a (pid 1)") || strings.Contains(msg, "\n") {
		t.Errorf("message %q: want one line naming the holder", msg)
	}
	// Not yet expired 50 s later in store time; expired after 61 s.
	advance(50 * time.Second)
	if _, err := gc.AcquireLease(ctx, s, gc.Holder{Writer: "writerb", Host: "host-b", PID: 2}, time.Minute); !errors.Is(err, gc.ErrLeaseHeld) {
		t.Fatalf("gc before the lease expired: %v; want ErrLeaseHeld", err)
	}
	advance(11 * time.Second)
	b, err := gc.AcquireLease(ctx, s, gc.Holder{Writer: "writerb", Host: "host-b", PID: 2}, time.Minute)
	if err != nil {
		t.Fatalf("gc after the lease expired: %v", err)
	}
	if _, err := a.Now(ctx); !errors.Is(err, gc.ErrLeaseLost) {
		t.Fatalf("old holder's renewal: %v; want ErrLeaseLost", err)
	}
	if err := a.Check(); !errors.Is(err, gc.ErrLeaseLost) {
		t.Fatalf("old holder's check: %v; want ErrLeaseLost", err)
	}
	// The old holder's release leaves the new lease alone.
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := gc.AcquireLease(ctx, s, gc.Holder{Writer: "writerc", Host: "host-c", PID: 3}, time.Minute); !errors.Is(err, gc.ErrLeaseHeld) {
		t.Fatalf("third gc after the old holder released: %v; want ErrLeaseHeld (b holds it)", err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if k := keysUnder(t, s, "locks/"); len(k) != 0 {
		t.Fatalf("after release locks/ holds %v", k)
	}
}

// TestLeaseRenewedWhileHeld: renewals keep a lease alive past its TTL.
func TestLeaseRenewedWhileHeld(t *testing.T) {
	ctx := context.Background()
	s, advance := storeClock(t)
	a, err := gc.AcquireLease(ctx, s, gc.Holder{Writer: "writera", Host: "host-a", PID: 1}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(ctx)
	for i := 0; i < 5; i++ {
		advance(30 * time.Second)
		if _, err := a.Now(ctx); err != nil { // a renewal, as the heartbeat does
			t.Fatal(err)
		}
	}
	if _, err := gc.AcquireLease(ctx, s, gc.Holder{Writer: "writerb", Host: "host-b", PID: 2}, time.Minute); !errors.Is(err, gc.ErrLeaseHeld) {
		t.Fatalf("gc against a renewed lease 150 s old: %v; want ErrLeaseHeld", err)
	}
}

// TestLeaseTwoBreakers: two gcs that find the same expired lease break
// it at once; exactly one wins, every time.
func TestLeaseTwoBreakers(t *testing.T) {
	ctx := context.Background()
	for round := 0; round < 30; round++ {
		s, advance := storeClock(t)
		if _, err := gc.AcquireLease(ctx, s, gc.Holder{Writer: "writera", Host: "host-a", PID: 1}, time.Minute); err != nil {
			t.Fatal(err)
		}
		advance(2 * time.Minute)
		var wg sync.WaitGroup
		var won atomic.Int32
		errs := make(chan error, 2)
		for _, host := range []string{"host-b", "host-c"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := gc.AcquireLease(ctx, s, gc.Holder{Writer: "w" + host, Host: host, PID: 2}, time.Minute)
				if err == nil {
					won.Add(1)
					return // held: not released, so the other cannot take it after
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		if won.Load() != 1 {
			t.Fatalf("round %d: %d breakers won", round, won.Load())
		}
		for err := range errs {
			if !errors.Is(err, gc.ErrLeaseHeld) {
				t.Fatalf("round %d: losing breaker: %v; want ErrLeaseHeld", round, err)
			}
		}
	}
}

// TestLeaseOfDeadProcessHere: a gc killed on this host leaves its lease;
// the next gc here sees its process is gone and takes over at once.
func TestLeaseOfDeadProcessHere(t *testing.T) {
	ctx := context.Background()
	s, _ := storeClock(t)
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	dead := cmd.Process.Pid
	if _, err := gc.AcquireLease(ctx, s, gc.Holder{Writer: "writera", Host: "here", PID: dead}, time.Hour); err != nil {
		t.Fatal(err)
	}
	// Another host cannot tell: it waits for the TTL.
	if _, err := gc.AcquireLease(ctx, s, gc.Holder{Writer: "writerb", Host: "elsewhere", PID: dead}, time.Hour); !errors.Is(err, gc.ErrLeaseHeld) {
		t.Fatalf("gc on another host: %v; want ErrLeaseHeld", err)
	}
	l, err := gc.AcquireLease(ctx, s, gc.Holder{Writer: "writera", Host: "here", PID: 99}, time.Hour)
	if err != nil {
		t.Fatalf("gc here after the holder died: %v", err)
	}
	l.Release(ctx)
}

// TestLeaseOfSameNamedHost: a lease taken on another machine (or in
// another container) that carries this host's name is not broken because
// its pid is not running here: it is waited for until its TTL expires.
// Breaking it at once let two gcs run together.
func TestLeaseOfSameNamedHost(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		take func(s blobstore.Objects) error
	}{
		{"another space", func(s blobstore.Objects) error {
			_, err := gc.AcquireLease(ctx, s, gc.Holder{Writer: "writera", Host: "here", PID: deadPID(t), Space: "another-boot/pid:[4026531836]"}, time.Minute)
			return err
		}},
		{"written before spaces", func(s blobstore.Objects) error {
			b, _ := json.Marshal(gc.Holder{Writer: "writera", Host: "here", PID: deadPID(t), Token: "aaaaaaaa", TTL: 60})
			return s.PutObject(ctx, "locks/gc", b)
		}},
	} {
		s, advance := storeClock(t)
		if err := c.take(s); err != nil {
			t.Fatal(err)
		}
		var held *gc.LeaseHeldError
		_, err := gc.AcquireLease(ctx, s, gc.Holder{Writer: "writerb", Host: "here", PID: 99}, time.Minute)
		if !errors.As(err, &held) || held.Breaking {
			t.Fatalf("%s: gc while a same-named host holds the lease: %v; want it held", c.name, err)
		}
		advance(61 * time.Second)
		l, err := gc.AcquireLease(ctx, s, gc.Holder{Writer: "writerb", Host: "here", PID: 99}, time.Minute)
		if err != nil {
			t.Fatalf("%s: gc after the lease expired: %v", c.name, err)
		}
		l.Release(ctx)
	}
}

// leaseToken reads the token of the lease in s.
func leaseToken(t *testing.T, o blobstore.Objects) string {
	t.Helper()
	b, err := o.GetObject(context.Background(), "locks/gc")
	if err != nil {
		t.Fatal(err)
	}
	var h gc.Holder
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Token
}

func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	return cmd.Process.Pid
}

// TestLeaseBreakerKilled: a gc killed after it claimed the break of a
// dead gc's lease (its tombstone put, the lease not yet deleted) does not
// block every later gc: here its process is gone, so the next gc takes
// over at once; a breaker on another host is waited for one TTL. The
// new holder sweeps what the killed ones left, and its release leaves
// locks/ empty.
func TestLeaseBreakerKilled(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		breaker func(token string) []byte
		wait    bool
	}{
		{"here", func(string) []byte {
			b, _ := json.Marshal(gc.Holder{Writer: "writerb", Host: "here", PID: deadPID(t), Space: procid.Space(), Token: "bbbbbbbb"})
			return b
		}, false},
		{"elsewhere", func(string) []byte {
			b, _ := json.Marshal(gc.Holder{Writer: "writerb", Host: "elsewhere", PID: 7, Token: "bbbbbbbb"})
			return b
		}, true},
		{"older-format", func(string) []byte { return []byte("bbbbbbbb") }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, advance := storeClock(t)
			if _, err := gc.AcquireLease(ctx, s, gc.Holder{Writer: "writera", Host: "here", PID: deadPID(t)}, time.Minute); err != nil {
				t.Fatal(err)
			}
			token := leaseToken(t, s)
			// What the killed breaker left: its tombstone and its probe.
			for key, body := range map[string][]byte{
				"locks/gc-broken-" + token:    c.breaker(token),
				"locks/gc-probe-bbbbbbbb":     nil,
				"locks/gc-beat-cccccccc-0001": nil, // an older holder's
			} {
				if err := s.PutObject(ctx, key, body); err != nil {
					t.Fatal(err)
				}
			}
			me := gc.Holder{Writer: "writerc", Host: "here", PID: 99}
			if c.wait {
				var held *gc.LeaseHeldError
				if _, err := gc.AcquireLease(ctx, s, me, time.Minute); !errors.As(err, &held) || !held.Breaking {
					t.Fatalf("gc while the breaker may be at work: %v; want a break in progress", err)
				}
				advance(61 * time.Second)
			}
			l, err := gc.AcquireLease(ctx, s, me, time.Minute)
			if err != nil {
				t.Fatalf("gc after the breaker was killed: %v", err)
			}
			if got := leaseToken(t, s); got == token {
				t.Fatal("the dead gc's lease is still in place")
			}
			if err := l.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if k := keysUnder(t, s, "locks/"); len(k) != 0 {
				t.Fatalf("after release locks/ holds %v", k)
			}
		})
	}
}

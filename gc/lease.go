package gc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/internal/procid"
)

// The gc lease. Snapshots take no cross-host lock; gc is the one thing
// that coordinates hosts sharing a store, and only one gc may run its
// deleting phase at a time, whichever host it runs on (a directory's
// local/lock is never seen by a host sharing its bucket). The lease is
// the object locks/gc, put create-only: the put that makes it is the one
// that wins. Its holder proves it is alive with heartbeats
// (locks/gc-beat-<token>-<n>, create-only, each replacing the last), and
// every age is measured in the store's clock (the dates of
// ListObjectsDated), never in a host's: two hosts' clocks may disagree by
// minutes, the store has one clock.
//
// A lease whose newest sign of life is older than its TTL in store time
// has expired (its gc crashed or hangs), and so has one held on this host
// by a process that no longer exists (a gc killed here need not be waited
// for). Breaking it takes three steps: a create-only put of
// locks/gc-broken-<its token>, which only one breaker of that lease can
// win; a read that the lease is still that one; then its delete and a
// create-only put of the breaker's own. A second breaker that judged the
// same lease expired loses at the tombstone and never deletes the lease
// the first one put.

const (
	leaseKey     = "locks/gc"
	beatPrefix   = "locks/gc-beat-"
	brokenPrefix = "locks/gc-broken-"
	probePrefix  = "locks/gc-probe-"
)

// DefaultLeaseTTL is how long a gc's lease outlives its last heartbeat.
// The holder renews it every third of that, so a slow request or two
// never loses it; a gc that crashed on another host blocks the next one
// for at most this long.
const DefaultLeaseTTL = 5 * time.Minute

// ErrLeaseHeld means another gc holds the lease; the error is a
// *LeaseHeldError that says who.
var ErrLeaseHeld = errors.New("gc: another gc holds the lease")

// ErrLeaseLost means this gc's lease was broken while it ran (it was
// taken for dead: a pause longer than the TTL); it stopped before
// deleting anything more.
var ErrLeaseLost = errors.New("gc: lease lost to another gc")

// Holder says who holds a lease: written into locks/gc as JSON.
type Holder struct {
	Writer string `json:"writer"` // the installation's writer id
	Host   string `json:"host"`
	PID    int    `json:"pid"`
	// Space is where PID means something (procid.Space: boot and pid
	// namespace), set by AcquireLease: two machines or containers can
	// share a host name, and only a holder in this space can be found
	// dead by its pid.
	Space string `json:"space,omitempty"`
	Token string `json:"token"` // random, names this lease's heartbeats
	TTL   int64  `json:"ttl_seconds"`
}

// LeaseHeldError is ErrLeaseHeld with the holder and when, in store
// time, its lease expires unless renewed.
type LeaseHeldError struct {
	Holder  Holder
	Expires time.Time
	// Breaking: the lease expired and another gc is taking it over.
	Breaking bool
}

func (e *LeaseHeldError) Error() string {
	who := fmt.Sprintf("writer %s on host %s (pid %d)", short(e.Holder.Writer), e.Holder.Host, e.Holder.PID)
	if e.Breaking {
		return fmt.Sprintf("gc: the gc lease of %s expired and another gc is taking it over; run gc again in a few minutes", who)
	}
	return fmt.Sprintf("gc: another gc holds the lease (%s), until %s store time unless it renews it",
		who, e.Expires.UTC().Format(time.RFC3339))
}

func (e *LeaseHeldError) Is(target error) bool { return target == ErrLeaseHeld }

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Lease is a held gc lease. Its heartbeats run until Release.
type Lease struct {
	o    blobstore.Objects
	me   Holder
	ttl  time.Duration
	mu   sync.Mutex
	beat int
	last string // key of the newest heartbeat
	lost error
	now  time.Time // store time of the newest heartbeat
	stop chan struct{}
	done chan struct{}
}

// AcquireLease takes the gc lease for me (Token and TTL are filled in;
// ttl 0 is DefaultLeaseTTL), breaking an expired one, and starts its
// heartbeats. A live lease of another gc gives a *LeaseHeldError.
func AcquireLease(ctx context.Context, o blobstore.Objects, me Holder, ttl time.Duration) (*Lease, error) {
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	me.Token = randomToken()
	if me.Space == "" {
		me.Space = procid.Space()
	}
	me.TTL = int64((ttl + time.Second - 1) / time.Second)
	body, err := json.Marshal(me)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		err := o.PutObject(ctx, leaseKey, body)
		if err == nil {
			break
		}
		if !errors.Is(err, blobstore.ErrExists) {
			return nil, fmt.Errorf("take gc lease: %w", err)
		}
		if attempt >= 3 {
			return nil, fmt.Errorf("take gc lease: %w", ErrLeaseHeld) // others keep winning the race
		}
		if err := breakExpired(ctx, o, me); err != nil {
			return nil, err
		}
	}
	l := &Lease{o: o, me: me, ttl: ttl, stop: make(chan struct{}), done: make(chan struct{})}
	if err := l.renew(ctx); err != nil {
		l.o.DeleteObject(context.WithoutCancel(ctx), leaseKey)
		return nil, err
	}
	l.sweep(ctx)
	go l.run(context.WithoutCancel(ctx))
	return l, nil
}

// sweep removes what gcs killed earlier left beside the lease: heartbeats
// of leases no longer held, store-time probes, tombstones of breaks that
// are over. Only the holder sweeps, and only what is not its own: a
// breaker still at work whose probe goes finds the lease held anyway.
func (l *Lease) sweep(ctx context.Context) {
	mine := []string{beatPrefix + l.me.Token + "-", brokenPrefix + l.me.Token, probePrefix + l.me.Token}
	var stale []string
	l.o.ListObjects(ctx, "locks/gc-", func(key string, _ int64) error {
		for _, p := range mine {
			if strings.HasPrefix(key, p) {
				return nil
			}
		}
		if strings.HasPrefix(key, beatPrefix) || strings.HasPrefix(key, brokenPrefix) || strings.HasPrefix(key, probePrefix) {
			stale = append(stale, key)
		}
		return nil
	})
	for _, key := range stale {
		l.o.DeleteObject(ctx, key)
	}
}

// breakExpired looks at the lease in the way and breaks it if it has
// expired; nil means try the create-only put again.
func breakExpired(ctx context.Context, o blobstore.Objects, me Holder) error {
	b, err := o.GetObject(ctx, leaseKey)
	if errors.Is(err, blobstore.ErrNotFound) {
		return nil // released meanwhile
	}
	if err != nil {
		return fmt.Errorf("read gc lease: %w", err)
	}
	var h Holder
	if err := json.Unmarshal(b, &h); err != nil || h.Token == "" || !validToken(h.Token) {
		// Not a lease this cairn wrote: never guess that it expired.
		return fmt.Errorf("read gc lease: %s holds no lease cairn understands; remove it if no gc runs", leaseKey)
	}
	// The store's clock now: the date of an object put now.
	probe := probePrefix + me.Token
	if err := o.PutObject(ctx, probe, nil); err != nil && !errors.Is(err, blobstore.ErrExists) {
		return fmt.Errorf("read store time: %w", err)
	}
	defer o.DeleteObject(context.WithoutCancel(ctx), probe)
	var now, alive time.Time
	var beats []string
	tombstones := map[string]time.Time{}
	err = o.ListObjectsDated(ctx, "locks/gc", func(key string, _ int64, modified time.Time) error {
		switch {
		case key == probe:
			now = modified
		case key == leaseKey || strings.HasPrefix(key, beatPrefix+h.Token+"-"):
			if modified.After(alive) {
				alive = modified
			}
			if key != leaseKey {
				beats = append(beats, key)
			}
		case strings.HasPrefix(key, brokenPrefix):
			tombstones[key] = modified
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list gc lease: %w", err)
	}
	if now.IsZero() || alive.IsZero() {
		return nil // gone meanwhile: try again
	}
	expires := alive.Add(time.Duration(h.TTL) * time.Second)
	if !isDead(h, me, expires, now) {
		return &LeaseHeldError{Holder: h, Expires: expires}
	}
	if err := claimBreak(ctx, o, h, me, tombstones, now); err != nil {
		return err
	}
	// Still the lease judged expired? (It may have been released and
	// taken by a gc that saw no lease at all.)
	b, err = o.GetObject(ctx, leaseKey)
	if errors.Is(err, blobstore.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read gc lease: %w", err)
	}
	var again Holder
	if json.Unmarshal(b, &again) != nil || again.Token != h.Token {
		return nil
	}
	if err := o.DeleteObject(ctx, leaseKey); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
		return fmt.Errorf("break gc lease: %w", err)
	}
	for _, k := range beats {
		o.DeleteObject(ctx, k)
	}
	return nil
}

// isDead: a holder is taken for dead once its lease expired in store
// time, or at once when it ran here (this host, boot and pid namespace:
// a host name alone may be another machine's too) and its process is
// gone. A holder written before Space was recorded waits for its TTL.
func isDead(h, me Holder, expires, now time.Time) bool {
	if h.Host == me.Host && h.Space != "" && h.Space == me.Space && h.PID > 0 && !processAlive(h.PID) {
		return true
	}
	return !now.Before(expires)
}

// claimBreak wins the right to break h's lease: the create-only put of
// locks/gc-broken-<h's token>, which names its breaker. A breaker that
// was killed between that put and the lease's delete would hold the
// right forever, so the right passes on when its holder is dead too (its
// process gone on this host, or its tombstone older than a TTL in store
// time: a break takes a few requests) through the same put for the dead
// breaker's token. tombstones are the dates of the tombstones listed.
func claimBreak(ctx context.Context, o blobstore.Objects, h, me Holder, tombstones map[string]time.Time, now time.Time) error {
	body, err := json.Marshal(me)
	if err != nil {
		return err
	}
	ttl := time.Duration(me.TTL) * time.Second
	target := h.Token
	for range 8 {
		key := brokenPrefix + target
		err := o.PutObject(ctx, key, body)
		if err == nil {
			return nil
		}
		if !errors.Is(err, blobstore.ErrExists) {
			return fmt.Errorf("break gc lease: %w", err)
		}
		b, err := o.GetObject(ctx, key)
		if errors.Is(err, blobstore.ErrNotFound) {
			continue // removed by a release meanwhile: put it again
		}
		if err != nil {
			return fmt.Errorf("read gc lease tombstone: %w", err)
		}
		var breaker Holder
		if json.Unmarshal(b, &breaker) != nil {
			breaker = Holder{Token: string(b)} // written before tombstones named their breaker
		}
		at, listed := tombstones[key]
		if !validToken(breaker.Token) || breaker.Token == target ||
			!listed || !isDead(breaker, me, at.Add(ttl), now) {
			return &LeaseHeldError{Holder: h, Breaking: true}
		}
		target = breaker.Token
	}
	return &LeaseHeldError{Holder: h, Breaking: true}
}

// processAlive reports whether pid runs on this host (a process we may
// not signal runs too).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func randomToken() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return len(s) > 0 && len(s) <= 64
}

// renew writes the next heartbeat, reads back its date (the store's
// time now), removes the previous one, and checks the lease is still
// this one's.
func (l *Lease) renew(ctx context.Context) error {
	l.mu.Lock()
	l.beat++
	key := fmt.Sprintf("%s%s-%010d", beatPrefix, l.me.Token, l.beat)
	prev := l.last
	l.mu.Unlock()
	if err := l.o.PutObject(ctx, key, nil); err != nil && !errors.Is(err, blobstore.ErrExists) {
		return fmt.Errorf("renew gc lease: %w", err)
	}
	var at time.Time
	err := l.o.ListObjectsDated(ctx, key, func(k string, _ int64, modified time.Time) error {
		if k == key {
			at = modified
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("renew gc lease: %w", err)
	}
	if at.IsZero() {
		return fmt.Errorf("renew gc lease: heartbeat %s not listed after its put", key)
	}
	if prev != "" {
		l.o.DeleteObject(ctx, prev)
	}
	b, err := l.o.GetObject(ctx, leaseKey)
	var h Holder
	switch {
	case errors.Is(err, blobstore.ErrNotFound):
		err = ErrLeaseLost
	case err != nil:
		return fmt.Errorf("renew gc lease: %w", err)
	case json.Unmarshal(b, &h) != nil || h.Token != l.me.Token:
		err = ErrLeaseLost
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = key
	if at.After(l.now) {
		l.now = at
	}
	if err != nil {
		l.lost = err
		return err
	}
	return nil
}

func (l *Lease) run(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			// A failed renewal is retried at the next tick; the lease
			// expires only after three in a row fail.
			if err := l.renew(ctx); errors.Is(err, ErrLeaseLost) {
				return
			}
		}
	}
}

// Now renews the lease and returns the store's time, for measuring the
// age of gc plans. It fails once the lease is lost.
func (l *Lease) Now(ctx context.Context) (time.Time, error) {
	if err := l.renew(ctx); err != nil {
		return time.Time{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.now, nil
}

// Check returns ErrLeaseLost once another gc broke this lease.
func (l *Lease) Check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// Holder is who holds the lease: this gc.
func (l *Lease) Holder() Holder { return l.me }

// Release stops the heartbeats and removes the lease, if still this
// gc's, with its heartbeat.
func (l *Lease) Release(ctx context.Context) error {
	select {
	case <-l.stop:
		return nil
	default:
	}
	close(l.stop)
	<-l.done
	ctx = context.WithoutCancel(ctx)
	l.mu.Lock()
	last := l.last
	l.mu.Unlock()
	b, err := l.o.GetObject(ctx, leaseKey)
	var h Holder
	if err == nil && json.Unmarshal(b, &h) == nil && h.Token == l.me.Token {
		if err := l.o.DeleteObject(ctx, leaseKey); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
			return fmt.Errorf("release gc lease: %w", err)
		}
	}
	if last != "" {
		l.o.DeleteObject(ctx, last)
	}
	// Tombstones of leases this one replaced are no longer needed once
	// a lease was released after them.
	l.o.ListObjects(ctx, brokenPrefix, func(key string, _ int64) error {
		l.o.DeleteObject(ctx, key)
		return nil
	})
	return nil
}

// Package keycache keeps small secrets for a while in the Linux kernel's
// key retention service (keyrings(7)), so that processes of one user can
// share them without writing them to disk: the kernel holds them in
// unswappable memory, drops them when their timeout passes, and shows
// them to no other user.
//
// Every call fails soft: where keyctl(2) is unavailable (a seccomp
// filter, a kernel without keys, a container without a keyring) Get
// finds nothing and Put reports an error the caller may ignore.
//
// A process's keyrings (thread, process, session) belong to each
// thread's credentials: a keyring one thread links into its process
// keyring is not possessed by another thread that existed before, and a
// Go program's goroutines move between threads. So every call here runs
// locked to one thread and makes whatever it needs to possess (the
// persistent keyring, a new entry before it is linked) possessed by that
// thread itself, from start to end.
package keycache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Ring is a keyring to keep entries in.
type Ring struct {
	id         int  // a serial, or a special id such as KEY_SPEC_USER_KEYRING
	persistent bool // the uid's persistent keyring, found at each call
}

// User returns the keyring of this uid's that outlives its processes:
// its persistent keyring (KEYCTL_GET_PERSISTENT), which the kernel keeps
// for /proc/sys/kernel/keys/persistent_keyring_expiry (3 days) after its
// last use even when no process of the uid is left between two cron
// jobs; where the kernel has none, the user keyring (@u), which goes with
// the uid's last process.
func User() Ring {
	var err error
	onThread(func() { _, err = persistent() })
	if err != nil {
		return Ring{id: unix.KEY_SPEC_USER_KEYRING}
	}
	return Ring{persistent: true}
}

// persistent links the uid's persistent keyring into this thread's
// process keyring (so that this thread possesses it) and returns it.
func persistent() (int, error) {
	return unix.KeyctlInt(unix.KEYCTL_GET_PERSISTENT, -1, unix.KEY_SPEC_PROCESS_KEYRING, 0, 0)
}

// onThread runs fn locked to the thread it is on, so that every keyctl
// call of fn is made with the same credentials. The thread goes back to
// the pool afterwards, with at most a process keyring of its own that
// links the persistent keyring: it is not thrown away, since a child
// started from it with Pdeathsig (as internal/s3test starts its servers)
// would be killed with it.
func onThread(fn func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fn()
}

// resolve is r's id on this (locked) thread.
func (r Ring) resolve() (int, error) {
	if r.persistent {
		return persistent()
	}
	return r.id, nil
}

// NewPrivate makes a keyring of this process's own, for tests, so that
// they neither see nor leave entries in the uid's keyrings: it is linked
// from the process keyring of a thread kept for the purpose until the
// process ends, and goes with it. Other threads and other processes of
// the same uid (a test's children) use it by its Serial, through its
// user permissions.
func NewPrivate(name string) (Ring, error) {
	type made struct {
		id  int
		err error
	}
	ch := make(chan made, 1)
	go func() {
		runtime.LockOSThread()
		id, err := unix.AddKey("keyring", name, nil, unix.KEY_SPEC_PROCESS_KEYRING)
		if err == nil {
			err = unix.KeyctlSetperm(id, 0x3f3f0000) // KEY_POS_ALL | KEY_USR_ALL
		}
		ch <- made{id, err}
		if err == nil {
			select {} // this thread's process keyring keeps the keyring
		}
	}()
	m := <-ch
	if m.err != nil {
		return Ring{}, fmt.Errorf("make keyring %s: %w", name, m.err)
	}
	return Ring{id: m.id}, nil
}

// Serial is the keyring with that serial number (NewPrivate's, in
// another process).
func Serial(id int) Ring { return Ring{id: id} }

// Serial is r's serial number, 0 for the persistent keyring, or a
// special id (negative) such as KEY_SPEC_USER_KEYRING's.
func (r Ring) Serial() int { return r.id }

// Close invalidates a keyring NewPrivate made, and every entry in it.
func (r Ring) Close() error {
	if r.id <= 0 || r.persistent {
		return errors.New("keycache: not a keyring of its own")
	}
	var err error
	onThread(func() { err = invalidate(r.id) })
	return err
}

// keyType is the kernel's key type for entries: "user" keys can be read
// back (a "logon" key cannot, from user space).
const keyType = "user"

// perm is what an entry allows: everything to a process that possesses
// it, view, read and search to other processes of the same uid (a key in
// @u is possessed only through the special @u id, not by its serial,
// unless the session keyring links @u, which systemd's do not), nothing
// to anyone else.
const perm = 0x3f000000 | 0x000b0000 // KEY_POS_ALL | KEY_USR_VIEW|READ|SEARCH

// Get returns the payload of the entry named name, and whether there was
// one (not expired, readable).
func (r Ring) Get(name string) (payload []byte, ok bool) {
	onThread(func() { payload, ok = r.get(name) })
	return payload, ok
}

func (r Ring) get(name string) ([]byte, bool) {
	ring, err := r.resolve()
	if err != nil {
		return nil, false
	}
	id, err := unix.KeyctlSearch(ring, keyType, name, 0)
	if err != nil {
		return nil, false
	}
	buf := make([]byte, 256)
	for {
		n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
		if err != nil {
			clear(buf)
			return nil, false
		}
		if n <= len(buf) {
			return buf[:n], true
		}
		clear(buf)
		buf = make([]byte, n)
	}
}

// Put stores payload as the entry named name for ttl (rounded up to a
// second), replacing one of that name. The entry is made in the calling
// thread's process keyring, given its permissions and timeout there, and
// only then linked into r: a process killed half way leaves nothing
// behind without a timeout.
func (r Ring) Put(name string, payload []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return errors.New("keycache: no lifetime")
	}
	var err error
	onThread(func() { err = r.put(name, payload, ttl) })
	return err
}

func (r Ring) put(name string, payload []byte, ttl time.Duration) error {
	ring, err := r.resolve()
	if err != nil {
		return fmt.Errorf("keycache: find keyring: %w", err)
	}
	// An expired entry of the name would make the link fail (EACCES)
	// until the kernel's key collector removes it, minutes later.
	if old, err := unix.KeyctlSearch(ring, keyType, name, 0); errors.Is(err, unix.EKEYEXPIRED) {
		unix.KeyctlInt(unix.KEYCTL_UNLINK, old, ring, 0, 0)
	}
	secs := int((ttl + time.Second - 1) / time.Second)
	id, err := unix.AddKey(keyType, name, payload, unix.KEY_SPEC_PROCESS_KEYRING)
	if err != nil {
		return fmt.Errorf("keycache: add %s: %w", name, err)
	}
	defer unix.KeyctlInt(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_PROCESS_KEYRING, 0, 0)
	if err := unix.KeyctlSetperm(id, perm); err != nil {
		invalidate(id)
		return fmt.Errorf("keycache: set permissions of %s: %w", name, err)
	}
	if _, err := unix.KeyctlInt(unix.KEYCTL_SET_TIMEOUT, id, secs, 0, 0); err != nil {
		invalidate(id)
		return fmt.Errorf("keycache: set timeout of %s: %w", name, err)
	}
	// Linking displaces an entry of the same name in r.
	if _, err := unix.KeyctlInt(unix.KEYCTL_LINK, id, ring, 0, 0); err != nil {
		invalidate(id)
		return fmt.Errorf("keycache: link %s: %w", name, err)
	}
	return nil
}

// Drop removes the entry named name, if there is one, for every process.
func (r Ring) Drop(name string) {
	onThread(func() {
		ring, err := r.resolve()
		if err != nil {
			return
		}
		if id, err := unix.KeyctlSearch(ring, keyType, name, 0); err == nil {
			invalidate(id)
		}
	})
}

// Names returns the names of r's entries that start with prefix.
func (r Ring) Names(prefix string) ([]string, error) {
	var names []string
	var err error
	onThread(func() { err = r.each(prefix, func(id int, name string) { names = append(names, name) }) })
	return names, err
}

// DropPrefix removes every entry of r whose name starts with prefix, and
// returns how many it removed.
func (r Ring) DropPrefix(prefix string) (int, error) {
	dropped := 0
	var err error
	onThread(func() {
		err = r.each(prefix, func(id int, _ string) {
			if invalidate(id) == nil {
				dropped++
			}
		})
	})
	return dropped, err
}

// each calls fn with every entry of r whose name starts with prefix.
func (r Ring) each(prefix string, fn func(id int, name string)) error {
	ring, err := r.resolve()
	if err != nil {
		return fmt.Errorf("keycache: find keyring: %w", err)
	}
	buf := make([]byte, 4096)
	var n int
	for {
		var err error
		n, err = unix.KeyctlBuffer(unix.KEYCTL_READ, ring, buf, 0)
		if errors.Is(err, unix.ENOKEY) {
			return nil // @u is made when first used: none yet
		}
		if err != nil {
			return fmt.Errorf("keycache: list keyring: %w", err)
		}
		if n <= len(buf) {
			break
		}
		buf = make([]byte, n)
	}
	for i := 0; i+4 <= n; i += 4 {
		id := int(int32(binary.NativeEndian.Uint32(buf[i:]))) // key_serial_t
		desc, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, id)
		if err != nil {
			continue // expired or gone meanwhile
		}
		// type;uid;gid;perm;description
		parts := strings.SplitN(desc, ";", 5)
		if len(parts) == 5 && parts[0] == keyType && strings.HasPrefix(parts[4], prefix) {
			fn(id, parts[4])
		}
	}
	return nil
}

// invalidate makes the key unusable at once, wherever it is linked.
func invalidate(id int) error {
	_, err := unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0)
	return err
}

package cairn

import (
	"crypto/subtle"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cairn-dev/cairn/internal/keycache"
	"github.com/cairn-dev/cairn/keys"
)

// A password costs argon2id (0.3-1 s, by design) at every command that
// opens the repository: most of what an unchanged snapshot from cron
// costs. So the master key a password unwrapped is kept, for
// KeyCacheLifetime from the argon2id that paid for it, in the kernel's
// keyring of the uid (keyrings(7); its persistent keyring, which outlives
// the uid's processes, else the user keyring: keycache.User): in kernel
// memory, never on disk, readable only by processes of the same uid, gone
// at its timeout, at reboot or at `cairn key forget-cached`. An entry is named by the repository id
// and the key file id ("cairn:<repo id>:<key id>") and holds the master
// key and the key file's PasswordCheck of the password that opened it.
// A command with a password first looks for the entry of each password
// key file it would try, and takes the master key only when the
// password it was given gives the same check; otherwise it runs
// argon2id as before, so a wrong password fails as it always did.
//
// Why this is safe enough to be on by default:
//   - It holds nothing the key files in the bucket do not protect for
//     who may read it. Reading it takes the same uid (or root), which
//     can read the password itself where cron or the systemd unit gets
//     it (CAIRN_PASSWORD in /proc/PID/environ, the --password-file) and
//     the master key from any running cairn's memory; the entry adds
//     only that the master key is there between commands, for at most
//     the lifetime.
//   - The check is keyed with the master key, so without the master key
//     it tells nothing about the password; with it, it turns each guess
//     at the password into an HMAC instead of an argon2id. That matters
//     only to someone who already holds the whole repository and wants
//     the password for somewhere else it is reused.
//   - It never widens who opens the repository, nor for how long: an
//     entry is consulted only for a key file that the listing being
//     unlocked with holds (the bucket's, or this machine's copy of it
//     younger than RecheckInterval, as without the cache), so a removed
//     key file stops working exactly when it would have, and a changed
//     password is a new key file (a new entry name). This process drops
//     the entries of the keys it removes.

// KeyCacheLifetime is how long an unwrapped master key stays in the user
// keyring after the argon2id that unwrapped it; $CAIRN_KEY_CACHE (a Go
// duration, or 0 or "off" for none) overrides it. Using an entry does
// not extend it.
var KeyCacheLifetime = 10 * time.Minute

// keyRing is where entries are kept: the uid's (keycache.User), but for tests
// (this package's use a private keyring; the command's give their
// children one by its serial in $CAIRN_TEST_KEYRING, so that no test
// leaves entries in the uid's).
// It is found at first use: a command without a password makes no
// keyctl call.
var keyRing = sync.OnceValue(func() keycache.Ring {
	if s := os.Getenv("CAIRN_TEST_KEYRING"); s != "" {
		id, _ := strconv.Atoi(s)
		return keycache.Serial(id) // not a number: serial 0, which fails every call
	}
	return keycache.User()
})

// keyCachePrefix starts the name of every entry.
const keyCachePrefix = "cairn:"

// keyCacheVersion is the first byte of an entry: its layout (the master
// key, then the check) may change with it.
const keyCacheVersion = 1

func keyCacheLifetime() time.Duration {
	s, ok := os.LookupEnv("CAIRN_KEY_CACHE")
	if !ok || s == "" {
		return KeyCacheLifetime
	}
	switch strings.ToLower(s) {
	case "0", "off", "no", "false":
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		// Whoever set it meant something other than the default; of the
		// two readings, off is the one that keeps less.
		return 0
	}
	return d
}

// keyCache is the key cache of one repository; nil (no repository id,
// or the cache turned off) caches nothing.
type keyCache struct {
	repoID string
	ttl    time.Duration
}

func newKeyCache(repoID string) *keyCache {
	ttl := keyCacheLifetime()
	if repoID == "" || ttl <= 0 {
		return nil
	}
	return &keyCache{repoID: repoID, ttl: ttl}
}

func (c *keyCache) name(fileID string) string {
	return keyCachePrefix + c.repoID + ":" + fileID
}

// get returns the master key cached for f when password is the one that
// opened it.
func (c *keyCache) get(f *keys.File, password []byte) (keys.Master, bool) {
	var m keys.Master
	if c == nil {
		return m, false
	}
	b, ok := keyRing().Get(c.name(f.ID))
	if !ok {
		return m, false
	}
	defer clear(b)
	if len(b) != 1+keys.MasterSize+32 || b[0] != keyCacheVersion {
		return m, false
	}
	copy(m[:], b[1:])
	check := f.PasswordCheck(m, password)
	if subtle.ConstantTimeCompare(check[:], b[1+keys.MasterSize:]) != 1 {
		clear(m[:])
		return keys.Master{}, false
	}
	return m, true
}

// put caches m, which password unwrapped from f. A keyring that cannot
// take it costs argon2id next time, nothing else.
func (c *keyCache) put(f *keys.File, password []byte, m keys.Master) {
	if c == nil {
		return
	}
	check := f.PasswordCheck(m, password)
	b := make([]byte, 0, 1+keys.MasterSize+len(check))
	b = append(append(append(b, keyCacheVersion), m[:]...), check[:]...)
	keyRing().Put(c.name(f.ID), b, c.ttl)
	clear(b)
}

// drop removes the entry of key file id, whatever CAIRN_KEY_CACHE says
// now.
func dropCachedKey(repoID, id string) {
	if repoID != "" {
		keyRing().Drop(keyCachePrefix + repoID + ":" + id)
	}
}

// ForgetCachedKeys removes every master key this user's keyring caches
// for cairn, of every repository, and returns how many there were: the
// next command of each repository with a password pays argon2id again.
func ForgetCachedKeys() (int, error) {
	return keyRing().DropPrefix(keyCachePrefix)
}

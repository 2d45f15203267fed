package cairn

import (
	"fmt"
	"net/http"
	"os"
	"sync"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/keycache"
	"github.com/cairn-dev/cairn/keys"
)

// CatalogForTest hands tests of package cairn_test the catalog underneath,
// for measurements and checks the public API has no business offering
// (row counts of internal tables).
func CatalogForTest(r *Repo) *catalog.DB { return r.db }

// SetKeysForTest makes r an encrypted (format-2) repository with master key
// m and repository id: every pack it writes from now on is sealed. Until
// the format-2 layout (cairn.repo, local/key) records them, they last as
// long as r is open.
func SetKeysForTest(r *Repo, m keys.Master, id string) error {
	k, err := keys.Derive(m)
	if err != nil {
		return err
	}
	r.keys, r.id = k, id
	r.codecOnce, r.packCodec = sync.Once{}, nil
	return nil
}

// PlainPacksForTest makes a format-2 repository r write format-1 packs
// from now on (plain blobs and footers, unkeyed chunk ids, the public gear
// table) while its log stays as it is, sealed: the control of
// TestMeasureEncryptionCPU, which measures what sealing the packs costs.
// It lasts as long as r is open; the repository is for that measurement
// only.
func PlainPacksForTest(r *Repo) {
	r.codecOnce = sync.Once{}
	r.codecOnce.Do(func() {})
	r.packCodec = nil
}

// SealedForTest reports whether r writes format-2 packs.
func SealedForTest(r *Repo) bool { return r.codec().Sealed() }

// GearSeedForTest returns the seed of r's keyed gear table (ok false in
// format 1), for tests that cut files as the repository does.
func GearSeedForTest(r *Repo) (seed [32]byte, ok bool) { return r.codec().GearSeed() }

// SetS3TransportForTest wraps the HTTP transport of every S3 store Open
// makes from now on (nil: none), so tests count requests.
func SetS3TransportForTest(wrap func(http.RoundTripper) http.RoundTripper) { s3Transport = wrap }

func init() {
	// The key cache of this package's tests is a keyring of the test
	// process's own, gone when it ends; where there is none, the zero
	// Ring, which fails every call (the cache is off).
	r, _ := keycache.NewPrivate(fmt.Sprintf("cairn-test-%d", os.Getpid()))
	keyRing = func() keycache.Ring { return r }
}

// Argon2UnwrapsForTest is how many key files this process has unwrapped
// with argon2id.
func Argon2UnwrapsForTest() int64 { return argon2Unwraps.Load() }

// CachedKeysForTest are the names of the entries of the key cache.
func CachedKeysForTest() []string {
	names, _ := keyRing().Names(keyCachePrefix)
	return names
}

// BreakKeyCacheForTest makes every keyctl call of the key cache fail, as
// where a seccomp filter refuses them, until the returned func is called.
func BreakKeyCacheForTest() (restore func()) {
	saved := keyRing
	keyRing = func() keycache.Ring { return keycache.Serial(0) }
	return func() { keyRing = saved }
}

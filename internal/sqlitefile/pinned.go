package sqlitefile

/*
#include <stdlib.h>
#include <string.h>

// The parts of sqlite3.h this file needs, declared here because the
// header ships inside github.com/mattn/go-sqlite3, which compiles SQLite
// into the binary (its symbols are what these calls link to). The
// sqlite3_vfs layout is part of SQLite's stable ABI: fields are only
// ever appended, with iVersion raised.
typedef struct sqlite3_vfs sqlite3_vfs;
struct sqlite3_vfs {
	int iVersion;
	int szOsFile;
	int mxPathname;
	sqlite3_vfs *pNext;
	const char *zName;
	void *pAppData;
	void *xOpen;
	void *xDelete;
	void *xAccess;
	int (*xFullPathname)(sqlite3_vfs*, const char *zName, int nOut, char *zOut);
	void *xDlOpen;
	void *xDlError;
	void *xDlSym;
	void *xDlClose;
	void *xRandomness;
	void *xSleep;
	void *xCurrentTime;
	void *xGetLastError;
	void *xCurrentTimeInt64;
	void *xSetSystemCall;
	void *xGetSystemCall;
	void *xNextSystemCall;
};
extern sqlite3_vfs *sqlite3_vfs_find(const char *zVfsName);
extern int sqlite3_vfs_register(sqlite3_vfs*, int makeDflt);

#define CAIRN_SQLITE_OK 0
#define CAIRN_SQLITE_CANTOPEN 14

static sqlite3_vfs cairn_pinned_vfs;

static const char cairn_fd_prefix[] = "/proc/self/fd/";

// cairn_pinned_full_pathname takes a /proc/self/fd/N/name path as it is.
// The unix VFS would resolve every symlink on the way by reading it, and
// /proc/self/fd/N reads as the directory's path at that moment: the very
// path, open to a swapped parent, that the descriptor is there to avoid.
// Kept verbatim, the kernel follows the magic link to the directory the
// descriptor holds, for the database and for the -wal, -shm and -journal
// names SQLite makes from it. Anything else is refused.
static int cairn_pinned_full_pathname(sqlite3_vfs *vfs, const char *zName, int nOut, char *zOut) {
	size_t n = strlen(zName);
	if (strncmp(zName, cairn_fd_prefix, sizeof(cairn_fd_prefix) - 1) != 0 || n + 1 > (size_t)nOut) {
		return CAIRN_SQLITE_CANTOPEN;
	}
	memcpy(zOut, zName, n + 1);
	return CAIRN_SQLITE_OK;
}

static int cairn_register_pinned_vfs(const char *name) {
	sqlite3_vfs *base = sqlite3_vfs_find("unix");
	if (base == 0) {
		return CAIRN_SQLITE_CANTOPEN;
	}
	// Copy only the fields declared above (version 3).
	memcpy(&cairn_pinned_vfs, base, sizeof(cairn_pinned_vfs));
	if (cairn_pinned_vfs.iVersion > 3) {
		cairn_pinned_vfs.iVersion = 3;
	}
	cairn_pinned_vfs.pNext = 0;
	cairn_pinned_vfs.zName = name;
	cairn_pinned_vfs.xFullPathname = cairn_pinned_full_pathname;
	return sqlite3_vfs_register(&cairn_pinned_vfs, 0);
}
*/
import "C"

import (
	"fmt"
	"sync"

	_ "github.com/mattn/go-sqlite3" // the SQLite the VFS registers with
)

// pinnedVFS is the name of the VFS that opens /proc/self/fd/N/name paths
// without resolving them (see cairn_pinned_full_pathname).
const pinnedVFS = "cairn-pinned"

var registerPinned = sync.OnceValue(func() error {
	if rc := C.cairn_register_pinned_vfs(C.CString(pinnedVFS)); rc != 0 {
		return fmt.Errorf("register SQLite VFS %s: code %d", pinnedVFS, int(rc))
	}
	return nil
})

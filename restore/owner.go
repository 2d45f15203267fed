package restore

import (
	"fmt"
	"io/fs"
	"os"

	"syscall"

	"github.com/cairn-dev/cairn/catalog"
	"github.com/cairn-dev/cairn/internal/secretname"
)

// owner is the uid and gid a restored entry is given (only as root).
type owner struct{ uid, gid int }

// ownerOf is the recorded owner of v when the restore can give it: only
// root can, and only when the owner was recorded.
func (pl *planner) ownerOf(v *catalog.Version) *owner {
	if pl.euid != 0 || v.UID < 0 || v.GID < 0 {
		return nil
	}
	return &owner{uid: int(v.UID), gid: int(v.GID)}
}

// ownerDiffers reports whether fi is not owned by want (nil: any owner).
func (pl *planner) ownerDiffers(want *owner, fi fs.FileInfo) bool {
	if want == nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && (int(st.Uid) != want.uid || int(st.Gid) != want.gid)
}

// modeOf is the mode, owner and notes of a restored file or directory.
// The recorded mode is restored exactly; only an unknown mode (0: an
// imported archive without modes) gets a default, 0600 for a secret. A
// setuid or setgid bit is kept only where the entry gets its recorded
// owner: root restoring a user's setuid file without its owner would make
// a setuid-root binary.
func (pl *planner) modeOf(v *catalog.Version, unknown uint32) (fs.FileMode, *owner, []string) {
	m := v.Mode
	if m&0o7777 == 0 {
		m = unknown
		if v.Type == catalog.TypeFile && secretname.Match(v.Path) {
			m = 0o600
		}
	}
	own := pl.ownerOf(v)
	var notes []string
	if m&0o6000 != 0 && !pl.keepsOwner(v, own) {
		dropped := m & 0o6000
		m &^= 0o6000
		why := "not running as root, so it cannot get its recorded owner"
		if pl.euid == 0 {
			why = "its owner was not recorded"
		}
		notes = append(notes, fmt.Sprintf("%s dropped: %s", setBitsName(dropped), why))
	}
	return unixMode(m), own, notes
}

// keepsOwner reports whether a restored entry ends up owned as recorded:
// given its owner by root, or recorded as owned by the user restoring it.
func (pl *planner) keepsOwner(v *catalog.Version, own *owner) bool {
	if own != nil {
		return true
	}
	if pl.euid == 0 || v.UID < 0 {
		return false
	}
	if v.Mode&0o4000 != 0 && int(v.UID) != pl.euid {
		return false
	}
	return v.Mode&0o2000 == 0 || inGroup(int(v.GID))
}

func inGroup(gid int) bool {
	if gid == os.Getegid() {
		return true
	}
	groups, _ := os.Getgroups()
	for _, g := range groups {
		if g == gid {
			return true
		}
	}
	return false
}

func setBitsName(m uint32) string {
	switch m {
	case 0o4000:
		return "setuid"
	case 0o2000:
		return "setgid"
	}
	return "setuid and setgid"
}

func unixMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

func kind(fi fs.FileInfo) string {
	switch {
	case fi.IsDir():
		return "directory"
	case fi.Mode()&fs.ModeSymlink != 0:
		return "symlink"
	}
	return "file"
}

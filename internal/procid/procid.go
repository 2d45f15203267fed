// Package procid names a process so that another process can later tell
// whether it still runs. A pid means something only inside one boot of
// one kernel and one pid namespace: two machines (cloned VMs, hosts left
// at a default name) can share a host name, and two containers on one
// machine share its boot but not their pids. A process outside the
// caller's space can only be judged by time.
package procid

import (
	"os"
	"strconv"
	"strings"
)

// Space names where this process's pids are meaningful: its kernel's boot
// id and its pid namespace, "boot/pid:[inode]". It is "" where /proc does
// not say, and then no pid is ever judged here.
func Space() string {
	boot, ns := BootID(), PIDNamespace()
	if boot == "" || ns == "" {
		return ""
	}
	return boot + "/" + ns
}

// PIDNamespace is this process's pid namespace, "pid:[inode]" ("" if
// unknown).
func PIDNamespace() string {
	ns, _ := os.Readlink("/proc/self/ns/pid")
	return ns
}

// BootID is the kernel's random id of this boot ("" if unknown).
func BootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// StartTicks is field 22 of /proc/PID/stat, the process's start time in
// clock ticks since boot ("" if unknown): with the pid it names one
// process, not whatever later reuses the pid. The command name (field 2)
// may hold spaces and parentheses, so fields are counted after its last
// ')'.
func StartTicks(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19] // fields 3.. follow the name; starttime is field 22
}

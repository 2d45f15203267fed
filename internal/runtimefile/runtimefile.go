// Package runtimefile recognises files that belong to a running program,
// never to a backup (*.pid, *.lock, *.sock, plus a source's own patterns):
// restore never writes or deletes them, import never brings them in, since
// a pid file or lock from another time would make a program think it is
// already running.
package runtimefile

import "path"

// Default are the patterns every source has; a source adds its own.
// Read-only.
var Default = []string{"*.pid", "*.lock", "*.sock"}

// Match reports whether the file at rel ('/'-separated) matches Default or
// extra, by base name or by whole path.
func Match(rel string, extra []string) bool {
	base := path.Base(rel)
	for _, pats := range [][]string{Default, extra} {
		for _, p := range pats {
			if ok, _ := path.Match(p, base); ok {
				return true
			}
			if ok, _ := path.Match(p, rel); ok {
				return true
			}
		}
	}
	return false
}

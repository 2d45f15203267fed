// Package secretname recognises files that hold credentials by their name
// (.env, *.key, *.pem, auth.json): snap warns when one is readable by
// others, restore never makes one wider than recorded.
package secretname

import "path"

// Patterns are matched against a file's base name.
var Patterns = []string{".env", ".env.*", "*.key", "*.pem", "auth.json"}

// Match reports whether the file at rel ('/'-separated) has a secret's name.
func Match(rel string) bool {
	base := path.Base(rel)
	for _, p := range Patterns {
		if ok, _ := path.Match(p, base); ok {
			return true
		}
	}
	return false
}

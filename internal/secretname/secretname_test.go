package secretname

import "testing"

func TestMatch(t *testing.T) {
	for rel, want := range map[string]bool{
		".env": true, "conf/.env.prod": true, "tls/server.key": true, "cert.pem": true, "auth.json": true,
		"config.yaml": false, "env": false, "x.env.bak/y": false, "keys.json": false, "a/auth.json.tmp": false,
	} {
		if got := Match(rel); got != want {
			t.Errorf("Match(%q) = %v, want %v", rel, got, want)
		}
	}
}

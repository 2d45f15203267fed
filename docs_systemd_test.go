package cairn

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// systemdUnits are the unit files docs/continuous.md tells users to
// install, with keys each must set.
var systemdUnits = map[string][]string{
	"cairn-watch.service": {"Service.ExecStart", "Service.Type", "Install.WantedBy"},
	"cairn-snap.service":  {"Service.ExecStart", "Service.Type"},
	"cairn-snap.timer":    {"Timer.OnBootSec", "Timer.OnCalendar", "Timer.Persistent", "Install.WantedBy"},
}

// TestSystemdUnitsParse reads each unit as INI (sections, key=value,
// comments) and checks the keys it must have and the cairn commands it
// runs.
func TestSystemdUnitsParse(t *testing.T) {
	for name, required := range systemdUnits {
		keys := parseUnit(t, filepath.Join("docs", "systemd", name))
		for _, k := range required {
			if keys[k] == "" {
				t.Errorf("%s: no %s", name, k)
			}
		}
		if exec := keys["Service.ExecStart"]; exec != "" {
			fields := strings.Fields(exec)
			if len(fields) < 3 || filepath.Base(fields[0]) != "cairn" || (fields[1] != "watch" && fields[1] != "snap") {
				t.Errorf("%s: ExecStart=%s does not run cairn watch or cairn snap on a directory", name, exec)
			}
		}
	}
}

func parseUnit(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	known := map[string]bool{"Unit": true, "Service": true, "Timer": true, "Install": true}
	keys := map[string]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if !known[section] {
				t.Errorf("%s:%d: unknown section [%s]", path, n, section)
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.TrimSpace(k) == "" {
				t.Errorf("%s:%d: not a key=value line in a section: %q", path, n, line)
				continue
			}
			keys[section+"."+strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestSystemdUnitsVerify runs systemd-analyze verify on the units, which
// must print nothing (it warns about unknown keys and sections but still
// exits 0). ExecStart's binary is replaced by one that exists, since the
// verifier checks it and cairn need not be installed where tests run.
func TestSystemdUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed; TestSystemdUnitsParse still checks the units")
	}
	stand, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) to stand in for cairn")
	}
	dir := t.TempDir()
	var paths []string
	for name := range systemdUnits {
		b, err := os.ReadFile(filepath.Join("docs", "systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "%h/go/bin/cairn", stand)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, err := exec.Command(analyze, append([]string{"verify"}, paths...)...).CombinedOutput()
	if err != nil && strings.Contains(string(out), "Failed to initialize manager") {
		t.Skipf("systemd-analyze cannot run here: %s", out)
	}
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// Corpus generation is deterministic: every generator takes a fixed seed,
// so each repetition (and each machine) sees the same bytes. Only mtimes,
// inodes and the SQLite page layout of reused pages differ.

var vocab = strings.Fields(`the agent task user tool call result memory context session plan step
file config model token prompt response error retry cache index query schedule job cron deploy build
test review commit branch merge patch diff summary note idea follow check status pending done failed
success timeout request api key value list map item entry record event log trace span metric latency
budget quota limit window update delete create read write open close start stop run wait sync worker
queue batch stream chunk snapshot restore backup repository path directory search fetch parse render
validate schema field type string number boolean array object null default option flag setting
environment variable secret credential token refresh expire rotate policy rule allow deny approve
reject escalate notify message channel thread reply mention summary digest report weekly daily hourly
customer ticket issue bug feature release version upgrade migrate rollback incident alert page oncall
calendar meeting invite reminder todo backlog sprint estimate priority owner team project milestone
document draft outline section paragraph heading table figure citation source link reference quote`)

func words(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(vocab[r.IntN(len(vocab))])
	}
	return b.String()
}

func sentence(r *rand.Rand) string {
	s := words(r, 5+r.IntN(14))
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

func paragraph(r *rand.Rand, minLen int) string {
	var b strings.Builder
	for b.Len() < minLen {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(sentence(r))
	}
	return b.String()
}

// smallSize is log-uniform between 200 B and 20 KiB.
func smallSize(r *rand.Rand) int {
	return int(200 * math.Pow(20480.0/200, r.Float64()))
}

var baseTime = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

func stamp(r *rand.Rand) string {
	return baseTime.Add(time.Duration(r.Int64N(int64(300 * 24 * time.Hour)))).Format(time.RFC3339)
}

type toolCall struct {
	Name string            `json:"name"`
	Args map[string]string `json:"args"`
}

type message struct {
	Role      string     `json:"role"`
	TS        string     `json:"ts"`
	Content   string     `json:"content"`
	ToolCalls []toolCall `json:"tool_calls,omitempty"`
}

type session struct {
	ID       string         `json:"id"`
	Agent    string         `json:"agent"`
	Model    string         `json:"model"`
	Created  string         `json:"created"`
	Title    string         `json:"title"`
	Tags     []string       `json:"tags"`
	Messages []message      `json:"messages"`
	Usage    map[string]int `json:"usage"`
}

var roles = []string{"user", "assistant", "tool", "assistant"}
var models = []string{"model-large-2026-03", "model-small-2026-01", "model-code-2025-11"}
var toolNames = []string{"web_search", "read_file", "write_file", "shell", "calendar", "email", "browser"}

func sessionJSON(r *rand.Rand, id, agent string, size int) []byte {
	s := session{ID: id, Agent: agent, Model: models[r.IntN(len(models))], Created: stamp(r),
		Title: words(r, 3+r.IntN(5)), Tags: strings.Fields(words(r, 1+r.IntN(3))),
		Usage: map[string]int{"input_tokens": r.IntN(90000), "output_tokens": r.IntN(9000), "tool_calls": r.IntN(40)}}
	est := 250
	for est < size {
		m := message{Role: roles[r.IntN(len(roles))], TS: stamp(r), Content: paragraph(r, 40+r.IntN(600))}
		if m.Role == "assistant" && r.IntN(3) == 0 {
			m.ToolCalls = []toolCall{{Name: toolNames[r.IntN(len(toolNames))], Args: map[string]string{"query": words(r, 4), "path": "/home/agent/" + words(r, 1) + ".md"}}}
		}
		est += len(m.Content) + 90
		s.Messages = append(s.Messages, m)
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	return append(b, '\n')
}

type cacheResult struct {
	Title   string `json:"title"`
	URL     string `json:"url"`
	Snippet string `json:"snippet"`
	Score   int    `json:"score"`
}

func cacheJSON(r *rand.Rand, tool string, size int) []byte {
	v := struct {
		Tool    string        `json:"tool"`
		Key     string        `json:"key"`
		Fetched string        `json:"fetched"`
		TTL     int           `json:"ttl_seconds"`
		Results []cacheResult `json:"results"`
	}{Tool: tool, Key: fmt.Sprintf("%016x", r.Uint64()), Fetched: stamp(r), TTL: 3600 * (1 + r.IntN(48))}
	for est := 150; est < size; {
		c := cacheResult{Title: words(r, 4+r.IntN(6)), URL: "https://example.org/" + strings.ReplaceAll(words(r, 3), " ", "/"),
			Snippet: paragraph(r, 60+r.IntN(300)), Score: r.IntN(1000)}
		est += len(c.Title) + len(c.URL) + len(c.Snippet) + 70
		v.Results = append(v.Results, c)
	}
	b, _ := json.Marshal(v)
	return append(b, '\n')
}

func configYAML(r *rand.Rand, size int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\nversion: %d\n", sentence(r), 1+r.IntN(5))
	for b.Len() < size {
		fmt.Fprintf(&b, "%s:\n", strings.ReplaceAll(words(r, 2), " ", "_"))
		for i := 0; i < 2+r.IntN(6); i++ {
			switch r.IntN(4) {
			case 0:
				fmt.Fprintf(&b, "  %s: %d\n", vocab[r.IntN(len(vocab))], r.IntN(100000))
			case 1:
				fmt.Fprintf(&b, "  %s: %t\n", vocab[r.IntN(len(vocab))], r.IntN(2) == 0)
			case 2:
				fmt.Fprintf(&b, "  %s:\n    - %s\n    - %s\n", vocab[r.IntN(len(vocab))], words(r, 2), words(r, 3))
			default:
				fmt.Fprintf(&b, "  %s: %q\n", vocab[r.IntN(len(vocab))], words(r, 3+r.IntN(8)))
			}
		}
	}
	return []byte(b.String())
}

func noteMarkdown(r *rand.Rand, size int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", strings.TrimSuffix(sentence(r), "."))
	for b.Len() < size {
		switch r.IntN(5) {
		case 0:
			fmt.Fprintf(&b, "## %s\n\n", words(r, 2+r.IntN(4)))
		case 1:
			for i := 0; i < 2+r.IntN(4); i++ {
				fmt.Fprintf(&b, "- %s\n", sentence(r))
			}
			b.WriteByte('\n')
		case 2:
			fmt.Fprintf(&b, "```\n%s --%s=%d\n```\n\n", vocab[r.IntN(len(vocab))], vocab[r.IntN(len(vocab))], r.IntN(100))
		default:
			fmt.Fprintf(&b, "%s\n\n", paragraph(r, 100+r.IntN(500)))
		}
	}
	return []byte(b.String())
}

// agentParams sizes the agent-state corpus.
type agentParams struct {
	files           int
	bigDB, smallDB  int64
	addN, removeN   int
	oneFile         string // restored alone
	historyFile     string // tracked over the history snapshots
	bigDBRel, smRel string
}

func agentParamsFor(quick bool) agentParams {
	p := agentParams{files: 20000, bigDB: 200 << 20, smallDB: 20 << 20, addN: 100, removeN: 50}
	if quick {
		p = agentParams{files: 1000, bigDB: 8 << 20, smallDB: 2 << 20, addN: 10, removeN: 5}
	}
	p.oneFile = "agents/agent-00/config/agent.yaml"
	p.historyFile = "agents/agent-00/state.json"
	p.bigDBRel, p.smRel = "db/history.db", "db/index.db"
	return p
}

// smallFile writes the content of small file number i (kind by path).
func smallContent(r *rand.Rand, rel string) []byte {
	size := smallSize(r)
	agent := strings.Split(rel, "/")[1]
	switch {
	case strings.Contains(rel, "/sessions/"):
		return sessionJSON(r, strings.TrimSuffix(filepath.Base(rel), ".json"), agent, size)
	case strings.Contains(rel, "/tools/"):
		return cacheJSON(r, strings.Split(rel, "/")[3], size)
	case strings.HasSuffix(rel, ".yaml"):
		return configYAML(r, size)
	default:
		return noteMarkdown(r, size)
	}
}

var configAreas = []string{"providers", "channels", "skills", "policies"}

// smallPath is where small file i lives: 3-4 directories deep.
func smallPath(r *rand.Rand, i int) string {
	agent := fmt.Sprintf("agent-%02d", i%20)
	switch k := r.IntN(20); {
	case k < 10:
		return fmt.Sprintf("agents/%s/sessions/2026-%02d/sess-%05d.json", agent, 1+r.IntN(10), i)
	case k < 14:
		return fmt.Sprintf("agents/%s/memory/%s/note-%05d.md", agent, vocab[r.IntN(24)], i)
	case k < 17:
		return fmt.Sprintf("agents/%s/tools/%s/cache-%05d.json", agent, toolNames[r.IntN(len(toolNames))], i)
	default:
		return fmt.Sprintf("agents/%s/config/%s/%s-%05d.yaml", agent, configAreas[r.IntN(len(configAreas))], vocab[r.IntN(len(vocab))], i)
	}
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func genAgentState(dir string, p agentParams) error {
	r := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < p.files-2; i++ {
		rel := smallPath(r, i)
		if err := writeFile(filepath.Join(dir, rel), smallContent(r, rel)); err != nil {
			return err
		}
	}
	if err := writeFile(filepath.Join(dir, p.oneFile), configYAML(r, 1500)); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, p.historyFile), historyState(0)); err != nil {
		return err
	}
	if err := genDB(filepath.Join(dir, p.bigDBRel), p.bigDB, 2); err != nil {
		return err
	}
	return genDB(filepath.Join(dir, p.smRel), p.smallDB, 3)
}

func historyState(n int) []byte {
	r := rand.New(rand.NewPCG(7, uint64(n)))
	v := map[string]any{"revision": n, "updated": baseTime.Add(time.Duration(n) * time.Minute).Format(time.RFC3339),
		"current_task": sentence(r), "queue": strings.Fields(words(r, 6)), "notes": paragraph(r, 400)}
	b, _ := json.MarshalIndent(v, "", "  ")
	return append(b, '\n')
}

const dbSchema = `CREATE TABLE events(id INTEGER PRIMARY KEY, session TEXT NOT NULL, ts INTEGER NOT NULL,
	kind TEXT NOT NULL, body TEXT NOT NULL, meta TEXT NOT NULL);
CREATE INDEX events_session ON events(session, ts);`

// bytes per row in the file, measured: body ~1 KiB of text, meta ~150 B of JSON, index, page slack.
const rowBytes = 1440

func eventRow(r *rand.Rand) (session string, ts int64, kind, body, meta string) {
	session = fmt.Sprintf("sess-%05d", r.IntN(20000))
	ts = baseTime.Unix() + r.Int64N(300*86400)
	kind = []string{"message", "tool_call", "tool_result", "memory_write", "plan"}[r.IntN(5)]
	body = paragraph(r, 100+r.IntN(1700))
	m, _ := json.Marshal(map[string]any{"model": models[r.IntN(len(models))], "tokens": r.IntN(4000),
		"latency_ms": r.IntN(9000), "tool": toolNames[r.IntN(len(toolNames))], "ok": r.IntN(10) > 0})
	return session, ts, kind, body, string(m)
}

// genDB creates a WAL-mode SQLite database of about size bytes.
func genDB(path string, size int64, seed uint64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=NORMAL")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(dbSchema); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, 11))
	rows := int(size / rowBytes)
	for done := 0; done < rows; {
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		st, err := tx.Prepare("INSERT INTO events(session, ts, kind, body, meta) VALUES (?, ?, ?, ?, ?)")
		if err != nil {
			return err
		}
		for i := 0; i < 10000 && done < rows; i, done = i+1, done+1 {
			s, ts, k, b, m := eventRow(r)
			if _, err := st.Exec(s, ts, k, b, m); err != nil {
				return err
			}
		}
		st.Close()
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	_, err = db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}

// liveWriter is the harness's open connection to the big database: with
// wal_autocheckpoint off, its commits stay in the -wal while it is open.
type liveWriter struct {
	db   *sql.DB
	conn *sql.Conn
}

func (w *liveWriter) Close() error {
	if w == nil {
		return nil
	}
	w.conn.Close()
	return w.db.Close()
}

// updateRows updates frac of the rows of the database at path, at
// scattered positions, through a connection left open (a live WAL).
func updateRows(path string, frac float64, seed uint64) (*liveWriter, int, error) {
	ctx := context.Background()
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		return nil, 0, err
	}
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, 0, err
	}
	w := &liveWriter{db, conn}
	fail := func(err error) (*liveWriter, int, error) { w.Close(); return nil, 0, err }
	for _, q := range []string{"PRAGMA journal_mode=WAL", "PRAGMA wal_autocheckpoint=0", "PRAGMA synchronous=NORMAL"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fail(err)
		}
	}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT max(id) FROM events").Scan(&n); err != nil {
		return fail(err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	r := rand.New(rand.NewPCG(seed, 13))
	count := int(float64(n) * frac)
	for i := 0; i < count; i++ {
		_, _, _, body, meta := eventRow(r)
		if _, err := tx.ExecContext(ctx, "UPDATE events SET body = ?, meta = ? WHERE id = ?", body, meta, 1+r.IntN(n)); err != nil {
			tx.Rollback()
			return fail(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return w, count, nil
}

// listFiles returns the regular files under dir, relative, sorted.
func listFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// mutation describes what mutate changed, for the report.
type mutation struct {
	changed, added, removed int
	rows                    int
	note                    string
}

// mutateSmall changes 1% of the small files (those keep matches), adds
// addN and removes removeN, never removing a protected path.
func mutateSmall(dir string, keep func(string) bool, addN, removeN int, protect []string, seed uint64,
	content func(r *rand.Rand, rel string) []byte, newName func(r *rand.Rand, i int, like string) string) (mutation, error) {
	var m mutation
	all, err := listFiles(dir)
	if err != nil {
		return m, err
	}
	var small []string
	for _, f := range all {
		if keep(f) {
			small = append(small, f)
		}
	}
	if len(small) == 0 {
		return m, fmt.Errorf("no files to mutate in %s", dir)
	}
	prot := map[string]bool{}
	for _, p := range protect {
		prot[p] = true
	}
	r := rand.New(rand.NewPCG(seed, 17))
	perm := r.Perm(len(small))
	nChange := max(1, len(small)/100)
	for _, i := range perm[:nChange] {
		rel := small[i]
		if err := os.Chmod(filepath.Join(dir, rel), 0o644); err != nil {
			return m, err
		}
		if err := os.WriteFile(filepath.Join(dir, rel), content(r, rel), 0o644); err != nil {
			return m, err
		}
		m.changed++
	}
	for _, i := range perm[nChange:] {
		if m.removed == removeN {
			break
		}
		if prot[small[i]] {
			continue
		}
		if err := os.Remove(filepath.Join(dir, small[i])); err != nil {
			return m, err
		}
		m.removed++
	}
	for i := 0; i < addN; i++ {
		like := small[r.IntN(len(small))]
		rel := newName(r, i, like)
		if err := writeFile(filepath.Join(dir, rel), content(r, rel)); err != nil {
			return m, err
		}
		m.added++
	}
	return m, nil
}

func mutateAgentState(dir string, p agentParams) (*liveWriter, mutation, error) {
	isSmall := func(rel string) bool { return strings.HasPrefix(rel, "agents/") }
	m, err := mutateSmall(dir, isSmall, p.addN, p.removeN, []string{p.oneFile, p.historyFile}, 5, smallContent,
		func(r *rand.Rand, i int, like string) string {
			return fmt.Sprintf("agents/agent-%02d/sessions/2026-11/sess-new-%04d.json", r.IntN(20), i)
		})
	if err != nil {
		return nil, m, err
	}
	w, rows, err := updateRows(filepath.Join(dir, p.bigDBRel), 0.01, 5)
	m.rows = rows
	m.note = fmt.Sprintf("%d small files changed, %d added, %d removed; %d rows of %s updated through a connection held open (wal_autocheckpoint=0, live -wal)",
		m.changed, m.added, m.removed, rows, p.bigDBRel)
	return w, m, err
}

// copyTree copies src to dst: regular files, directories and symlinks.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		case d.Type().IsRegular():
			return copyFile(p, target, info.Mode().Perm())
		}
		return nil
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// sourceParams: the source-tree corpus is a copy of GOROOT (quick: one
// package directory of it).
type sourceParams struct {
	goroot, sub   string
	addN, removeN int
	oneFile       string
	historyFile   string
}

func sourceParamsFor(quick bool, goroot string) sourceParams {
	p := sourceParams{goroot: goroot, addN: 100, removeN: 50, oneFile: "src/fmt/print.go", historyFile: "src/fmt/format.go"}
	if quick {
		p.sub, p.addN, p.removeN = "src/fmt", 10, 5
	}
	return p
}

func genSource(dir string, p sourceParams) error {
	return copyTree(filepath.Join(p.goroot, p.sub), filepath.Join(dir, p.sub))
}

func mutateSource(dir string, p sourceParams) (mutation, error) {
	appendLine := func(r *rand.Rand, rel string) []byte {
		orig := rel
		if i := strings.LastIndex(rel, "_bench"); i >= 0 { // a new file: a copy of the file it is named after
			orig = rel[:i] + filepath.Ext(rel)
		}
		b, _ := os.ReadFile(filepath.Join(dir, orig))
		return append(b, fmt.Sprintf("\n// bench mutation %d: %s\n", r.IntN(1e6), sentence(r))...)
	}
	m, err := mutateSmall(dir, func(string) bool { return true }, p.addN, p.removeN, []string{p.oneFile, p.historyFile}, 6, appendLine,
		func(r *rand.Rand, i int, like string) string {
			ext := filepath.Ext(like)
			return strings.TrimSuffix(like, ext) + "_bench" + strconv.Itoa(i) + ext
		})
	m.note = fmt.Sprintf("%d files changed (a line appended), %d added, %d removed", m.changed, m.added, m.removed)
	return m, err
}

// Big files: two incompressible (random) and two compressible (log text).
var bigNames = []string{"random-0.bin", "log-0.log", "random-1.bin", "log-1.log"}

func genBig(dir string, total int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	each := total / 4
	for i, name := range bigNames {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		fill := bigFiller(name, uint64(i))
		buf := make([]byte, 4<<20)
		for left := each; left > 0; {
			n := int(min(int64(len(buf)), left))
			fill(buf[:n])
			if _, err := f.Write(buf[:n]); err != nil {
				f.Close()
				return err
			}
			left -= int64(n)
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// bigFiller returns a function filling buffers with the file's kind of
// content: ChaCha8 output, or log lines.
func bigFiller(name string, seed uint64) func([]byte) {
	if strings.HasSuffix(name, ".bin") {
		var s [32]byte
		s[0] = byte(seed)
		c := rand.NewChaCha8(s)
		return func(b []byte) { c.Read(b) }
	}
	r := rand.New(rand.NewPCG(seed, 19))
	var pending []byte
	ts := baseTime.Add(time.Duration(seed) * time.Hour)
	levels := []string{"INFO ", "INFO ", "INFO ", "DEBUG", "WARN ", "ERROR"}
	return func(b []byte) {
		for len(pending) < len(b) {
			ts = ts.Add(time.Duration(r.IntN(900)) * time.Millisecond)
			pending = ts.AppendFormat(pending, "2006-01-02T15:04:05.000Z07:00")
			pending = append(pending, ' ')
			pending = append(pending, levels[r.IntN(len(levels))]...)
			pending = append(pending, " ["...)
			pending = append(pending, vocab[r.IntN(len(vocab))]...)
			pending = append(pending, "] job="...)
			pending = append(pending, toolNames[r.IntN(len(toolNames))]...)
			pending = append(pending, '-')
			pending = strconv.AppendInt(pending, int64(r.IntN(500)), 10)
			pending = append(pending, " took="...)
			pending = strconv.AppendInt(pending, int64(r.IntN(5000)), 10)
			pending = append(pending, "ms bytes="...)
			pending = strconv.AppendInt(pending, int64(r.IntN(1<<20)), 10)
			pending = append(pending, " msg=\""...)
			for j := 4 + r.IntN(10); j > 0; j-- {
				pending = append(pending, vocab[r.IntN(len(vocab))]...)
				if j > 1 {
					pending = append(pending, ' ')
				}
			}
			pending = append(pending, "\"\n"...)
		}
		copy(b, pending)
		pending = append(pending[:0], pending[len(b):]...)
	}
}

// mutateBig overwrites about 1% of each file in scattered 64 KiB blocks
// and appends 1 MiB (scaled down for small files) to each log.
func mutateBig(dir string) (mutation, error) {
	var m mutation
	var written int64
	for i, name := range bigNames {
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return m, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return m, err
		}
		fill := bigFiller(name, 100+uint64(i))
		r := rand.New(rand.NewPCG(23, uint64(i)))
		block := int64(64 << 10)
		buf := make([]byte, block)
		for n := max(1, st.Size()/100/block); n > 0; n-- {
			off := r.Int64N(max(1, st.Size()-block))
			fill(buf)
			if _, err := f.WriteAt(buf, off); err != nil {
				f.Close()
				return m, err
			}
			written += block
		}
		if strings.HasSuffix(name, ".log") {
			tail := make([]byte, min(1<<20, st.Size()/64))
			fill(tail)
			if _, err := f.WriteAt(tail, st.Size()); err != nil {
				f.Close()
				return m, err
			}
			written += int64(len(tail))
		}
		if err := f.Close(); err != nil {
			return m, err
		}
		m.changed++
	}
	m.note = fmt.Sprintf("%s overwritten in scattered 64 KiB blocks (~1%% of each file) or appended to the logs", mib(written))
	return m, nil
}

// removeAll deletes a tree even where modes forbid it.
func removeAll(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

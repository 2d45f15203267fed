package main

import (
	"bytes"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// readmeCommandRows reads README.md's command table: each row's commands
// (the backquoted `cairn ...` of its first cell) and the row's whole text.
func readmeCommandRows(t *testing.T) []readmeRow {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []readmeRow
	code := regexp.MustCompile("`(cairn [^`]*)`")
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `cairn ") {
			continue
		}
		// Cells are split at a "|" that is not escaped.
		first := line[1:]
		for i := 1; i < len(first); i++ {
			if first[i] == '|' && first[i-1] != '\\' {
				first = first[:i]
				break
			}
		}
		var usages []string
		for _, m := range code.FindAllStringSubmatch(first, -1) {
			usages = append(usages, strings.ReplaceAll(m[1], `\|`, "|"))
		}
		rows = append(rows, readmeRow{usages, strings.ReplaceAll(line, `\|`, "|")})
	}
	if len(rows) == 0 {
		t.Fatal("README.md has no command table")
	}
	return rows
}

type readmeRow struct {
	usages []string // "cairn snap DIR... [--label L]", ...
	text   string
}

// expandAlternatives turns "cairn completion bash|zsh" into one usage
// per alternative of its second word.
func expandAlternatives(usage string) []string {
	words := strings.Fields(usage)
	if len(words) < 3 || !strings.Contains(words[2], "|") {
		return []string{usage}
	}
	var out []string
	for _, alt := range strings.Split(words[2], "|") {
		out = append(out, strings.Join(append([]string{words[0], words[1], alt}, words[3:]...), " "))
	}
	return out
}

// commandPath finds the command a usage names, as cobra would: the words
// after "cairn" that are subcommands.
func commandPath(root *cobra.Command, usage string) (*cobra.Command, string) {
	c := root
	words := strings.Fields(usage)[1:]
	for _, w := range words {
		next := (*cobra.Command)(nil)
		for _, sub := range c.Commands() {
			if sub.Name() == w {
				next = sub
			}
		}
		if next == nil {
			break
		}
		c = next
	}
	return c, c.CommandPath()
}

// TestReadmeCommandTable holds README's command table to the commands
// cobra knows: every command (each subcommand of a group) has a row and
// every row names a command, and each row mentions every flag its
// command's --help lists.
func TestReadmeCommandTable(t *testing.T) {
	a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	root := a.rootCommand()
	root.InitDefaultCompletionCmd()
	rowOf := map[string]string{}
	for _, r := range readmeCommandRows(t) {
		for _, u := range r.usages {
			for _, u := range expandAlternatives(u) {
				c, path := commandPath(root, u)
				if c == root || c.HasSubCommands() {
					t.Errorf("README's command table names %q, which is not a command of cairn --help", u)
					continue
				}
				rowOf[path] += r.text
			}
		}
	}
	var walk func(c *cobra.Command)
	var missing []string
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			if sub.HasSubCommands() {
				walk(sub)
				continue
			}
			row, ok := rowOf[sub.CommandPath()]
			if !ok {
				missing = append(missing, sub.CommandPath())
				continue
			}
			sub.LocalFlags().VisitAll(func(f *pflag.Flag) {
				if f.Hidden || f.Name == "help" {
					return
				}
				if !mentionsFlag(row, f) {
					t.Errorf("%s --help lists --%s, README's command table does not", sub.CommandPath(), f.Name)
				}
			})
		}
	}
	walk(root)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) {
		if !mentionsFlag(string(readme), f) {
			t.Errorf("cairn --help lists the global flag --%s, README does not", f.Name)
		}
	})
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("README's command table has no row for %q", m)
	}
}

// mentionsFlag says whether a README row names a flag: --name, its
// shorthand, or a family written --keep-* or --keep-....
func mentionsFlag(row string, f *pflag.Flag) bool {
	if regexp.MustCompile(`--` + regexp.QuoteMeta(f.Name) + `\b`).MatchString(row) {
		return true
	}
	if f.Shorthand != "" && regexp.MustCompile(`(^|[\s\[|(])-`+regexp.QuoteMeta(f.Shorthand)+`\b`).MatchString(row) {
		return true
	}
	if prefix, _, ok := strings.Cut(f.Name, "-"); ok {
		return strings.Contains(row, "--"+prefix+"-*") || strings.Contains(row, "--"+prefix+"-...")
	}
	return false
}

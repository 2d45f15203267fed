package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/cairn-dev/cairn"
)

// keepFlags are the retention rules shared by forget and policy set. Only
// the flags given count: forget applies exactly those rules, policy set
// changes exactly those rules of the stored policy.
type keepFlags struct {
	p      cairn.Policy
	within string
	flags  *pflag.FlagSet
}

var keepNames = []string{"keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly", "keep-within", "keep-tag"}

func (k *keepFlags) register(f *pflag.FlagSet) {
	k.flags = f
	f.IntVar(&k.p.Last, "keep-last", 0, "keep the newest snapshot of each of the N newest states (a run of unchanged snapshots is one state; -1: all)")
	f.IntVar(&k.p.Hourly, "keep-hourly", 0, "keep the newest snapshot of each of the last N hours that have one (-1: all)")
	f.IntVar(&k.p.Daily, "keep-daily", 0, "keep the newest snapshot of each of the last N days (-1: all)")
	f.IntVar(&k.p.Weekly, "keep-weekly", 0, "keep the newest snapshot of each of the last N weeks (-1: all)")
	f.IntVar(&k.p.Monthly, "keep-monthly", 0, "keep the newest snapshot of each of the last N months (-1: all)")
	f.IntVar(&k.p.Yearly, "keep-yearly", 0, "keep the newest snapshot of each of the last N years (-1: all)")
	f.StringVar(&k.within, "keep-within", "", "keep every snapshot newer than this: numbers with units y (365 days), m (30 days), w, d, h, e.g. 24h, 7d, 1y2m")
	f.StringArrayVar(&k.p.Tags, "keep-tag", nil, "keep every snapshot with this tag (repeatable)")
}

// given reports whether any --keep-* flag was on the command line.
func (k *keepFlags) given() bool {
	for _, n := range keepNames {
		if k.flags.Changed(n) {
			return true
		}
	}
	return false
}

// policy returns the rules given, for forget, or nil when none was. Rules
// that keep everything (every count 0) are refused rather than taken to
// mean "use the stored policy".
func (k *keepFlags) policy() (*cairn.Policy, error) {
	if !k.given() {
		return nil, nil
	}
	p, err := k.merge(cairn.Policy{})
	if err != nil {
		return nil, err
	}
	if p.Empty() {
		return nil, usageError{fmt.Errorf("the --keep-* rules given keep every snapshot (a count of 0 is no rule); give a count of 1 or more, or -1")}
	}
	return &p, nil
}

// merge returns base with the rules given changed: a count replaces the
// stored one and 0 removes the rule; --keep-within 0 removes that rule;
// --keep-tag replaces the tag list and --keep-tag ” clears it.
func (k *keepFlags) merge(base cairn.Policy) (cairn.Policy, error) {
	p := base
	for _, c := range []struct {
		name string
		dst  *int
		val  int
	}{
		{"keep-last", &p.Last, k.p.Last}, {"keep-hourly", &p.Hourly, k.p.Hourly}, {"keep-daily", &p.Daily, k.p.Daily},
		{"keep-weekly", &p.Weekly, k.p.Weekly}, {"keep-monthly", &p.Monthly, k.p.Monthly}, {"keep-yearly", &p.Yearly, k.p.Yearly},
	} {
		if !k.flags.Changed(c.name) {
			continue
		}
		if c.val < -1 {
			return p, usageError{fmt.Errorf("--%s %d: keep counts must be -1 (all), 0 (no rule) or more", c.name, c.val)}
		}
		*c.dst = c.val
	}
	if k.flags.Changed("keep-within") {
		p.Within = 0
		if k.within != "0" {
			d, err := cairn.ParseDuration(k.within)
			if err != nil {
				return p, usageError{fmt.Errorf("--keep-within: %v", strings.TrimPrefix(err.Error(), cairn.ErrDuration.Error()+": "))}
			}
			p.Within = d
		}
	}
	if k.flags.Changed("keep-tag") {
		p.Tags = nil
		for _, t := range k.p.Tags {
			if t = strings.TrimSpace(t); t != "" {
				p.Tags = append(p.Tags, t)
			}
		}
	}
	return p, nil
}

func reasons(d cairn.Decision) string {
	switch {
	case len(d.Reasons) > 0:
		return "(" + strings.Join(d.Reasons, ", ") + ")"
	case d.SameAs != 0:
		return fmt.Sprintf("(same content as %d)", d.SameAs)
	}
	return ""
}

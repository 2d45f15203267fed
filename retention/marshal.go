package retention

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// policyJSON is the stored form of a Policy. Field order fixes the output
// order, so Marshal is stable.
type policyJSON struct {
	Last    int      `json:"last,omitempty"`
	Hourly  int      `json:"hourly,omitempty"`
	Daily   int      `json:"daily,omitempty"`
	Weekly  int      `json:"weekly,omitempty"`
	Monthly int      `json:"monthly,omitempty"`
	Yearly  int      `json:"yearly,omitempty"`
	Within  *string  `json:"within,omitempty"`
	Tags    []string `json:"tags,omitempty"`
}

// Marshal returns the stable JSON form stored in the catalog, e.g.
// {"last":10,"hourly":24,"within":"72h0m0s","tags":["keep"]}. Zero fields are
// omitted. Invalid values that Apply ignores (counts below -1, a negative
// Within) are omitted too, so the result always passes Unmarshal and
// describes a policy that decides exactly like p.
func (p Policy) Marshal() string {
	active := func(n int) int {
		if countActive(n) {
			return n
		}
		return 0
	}
	j := policyJSON{
		Last:    active(p.Last),
		Hourly:  active(p.Hourly),
		Daily:   active(p.Daily),
		Weekly:  active(p.Weekly),
		Monthly: active(p.Monthly),
		Yearly:  active(p.Yearly),
		Tags:    p.Tags,
	}
	if p.Within > 0 {
		s := p.Within.String()
		j.Within = &s
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(j); err != nil {
		panic("retention: marshal policy: " + err.Error()) // cannot happen: only ints and strings
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// Unmarshal parses the form written by Marshal. It rejects anything that is
// not a single JSON object, unknown fields, counts below -1, and a Within
// that is not a non-negative Go duration string (time.ParseDuration syntax).
func Unmarshal(s string) (Policy, error) {
	if !strings.HasPrefix(strings.TrimSpace(s), "{") {
		return Policy{}, errors.New("retention: policy is not a JSON object")
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	var j policyJSON
	if err := dec.Decode(&j); err != nil {
		return Policy{}, fmt.Errorf("retention: parse policy: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Policy{}, errors.New("retention: parse policy: trailing data after JSON object")
	}
	p := Policy{
		Last:    j.Last,
		Hourly:  j.Hourly,
		Daily:   j.Daily,
		Weekly:  j.Weekly,
		Monthly: j.Monthly,
		Yearly:  j.Yearly,
	}
	for i, n := range p.counts() {
		if n < unlimited {
			return Policy{}, fmt.Errorf("retention: %s is %d; want a count >= 0 or -1 (unlimited)", countNames[i], n)
		}
	}
	if j.Within != nil {
		d, err := time.ParseDuration(*j.Within)
		if err != nil {
			return Policy{}, fmt.Errorf("retention: within: %w", err)
		}
		if d < 0 {
			return Policy{}, fmt.Errorf("retention: within is negative (%s)", d)
		}
		p.Within = d
	}
	if len(j.Tags) > 0 {
		p.Tags = j.Tags
	}
	return p, nil
}

package chunker

import (
	"fmt"
	"math/bits"
)

// version names the cut-point algorithm together with the Gear table.
// Any change that moves a chunk boundary must bump it: repositories store
// Params.String and would otherwise silently stop deduplicating.
const version = "fastcdc-v1"

// maxLimit is the largest Max accepted, so buffers stay reasonable.
const maxLimit = 64 << 20

// Params are the content-defined chunking sizes in bytes. They are recorded
// in each repository and never change under it.
type Params struct {
	Min, Avg, Max int
}

// Default: chosen for cairn's data (see the package documentation).
var Default = Params{Min: 32 << 10, Avg: 128 << 10, Max: 512 << 10}

// Validate reports whether p is usable: 64 <= Min < Avg < Max <= 64 MiB and
// Avg a power of two (the masks are derived from log2(Avg)).
func (p Params) Validate() error {
	switch {
	case p.Min < 64:
		return fmt.Errorf("chunker: min %d is below 64", p.Min)
	case p.Avg <= p.Min:
		return fmt.Errorf("chunker: avg %d is not above min %d", p.Avg, p.Min)
	case p.Max <= p.Avg:
		return fmt.Errorf("chunker: max %d is not above avg %d", p.Max, p.Avg)
	case p.Max > maxLimit:
		return fmt.Errorf("chunker: max %d is above 64 MiB", p.Max)
	case p.Avg&(p.Avg-1) != 0:
		return fmt.Errorf("chunker: avg %d is not a power of two", p.Avg)
	}
	return nil
}

// String renders p as "fastcdc-v1 min=32768 avg=131072 max=524288", the form
// stored in the repository.
func (p Params) String() string {
	return fmt.Sprintf("%s min=%d avg=%d max=%d", version, p.Min, p.Avg, p.Max)
}

// ParseParams reverses Params.String. Only the exact canonical form of
// valid params is accepted, so a stored string maps to one Params.
func ParseParams(s string) (Params, error) {
	var p Params
	_, err := fmt.Sscanf(s, version+" min=%d avg=%d max=%d", &p.Min, &p.Avg, &p.Max)
	// The round trip rejects what Sscanf tolerates: trailing text, signs,
	// leading zeros, other spacing.
	if err != nil || p.String() != s {
		return Params{}, fmt.Errorf("chunker: malformed params %q", s)
	}
	if err := p.Validate(); err != nil {
		return Params{}, err
	}
	return p, nil
}

// BufferSize returns the buffer length New needs for p, so callers can pool
// []byte of that size. Two Max lets every refill read at least Max bytes.
func BufferSize(p Params) int {
	return 2 * p.Max
}

// masks returns the normalized-chunking masks for p: maskS with
// log2(Avg)+2 bits (harder to match, used before Avg) and maskL with
// log2(Avg)-2 bits (easier, used after Avg). The bits are the top bits of
// the hash, the only ones that depend on a full 64-byte window.
func (p Params) masks() (maskS, maskL uint64) {
	b := bits.Len(uint(p.Avg)) - 1
	return topBits(b + 2), topBits(b - 2)
}

func topBits(n int) uint64 {
	return ^uint64(0) << (64 - n)
}

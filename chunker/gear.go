package chunker

import (
	"encoding/binary"

	"github.com/zeebo/blake3"
)

// gearSeed seeds the splitmix64 sequence that fills the public Gear table:
// the ASCII bytes of "cairn-v1". Changing it (or splitmix64) moves every
// boundary, see version.
const gearSeed = 0x636169726e2d7631

// Table maps each byte to a pseudo-random 64-bit value for the Gear hash.
// The public one (format 1) is generated rather than pasted so it can be
// audited from the seed, and never with math/rand, whose sequence is not
// promised to be stable. A repository in format 2 draws its own from a
// secret seed (KeyedTable): with a public table, the chunk boundaries of
// a known file are known, and the sizes of the blobs in a store could
// confirm that the file is there.
type Table struct{ t [256]uint64 }

// public is format 1's table.
var public = &Table{t: makeGear(gearSeed)}

func makeGear(seed uint64) (t [256]uint64) {
	for i := range t {
		t[i] = splitmix64(&seed)
	}
	return t
}

// tableContext is the BLAKE3 key-derivation context of KeyedTable; part of
// the format, like version.
const tableContext = "cairn v2 chunker gear table"

// KeyedTable derives a Gear table from a secret seed (keys.Set.GearSeed):
// the 2048 bytes BLAKE3 in key-derivation mode outputs for it, read as 256
// little-endian uint64. Every table of random values gives the same
// boundary statistics; TestKeyedTableStatistics holds that.
func KeyedTable(seed [32]byte) *Table {
	h := blake3.NewDeriveKey(tableContext)
	h.Write(seed[:])
	var raw [256 * 8]byte
	if _, err := h.Digest().Read(raw[:]); err != nil {
		panic("chunker: BLAKE3 output: " + err.Error()) // an XOF never fails
	}
	t := &Table{}
	for i := range t.t {
		t.t[i] = binary.LittleEndian.Uint64(raw[8*i:])
	}
	return t
}

// splitmix64 is Steele, Lea and Flood's generator (as in java.util.SplittableRandom).
func splitmix64(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

package chunker

// gearSeed seeds the splitmix64 sequence that fills the Gear table: the
// ASCII bytes of "cairn-v1". Changing it (or splitmix64) moves every
// boundary, see version.
const gearSeed = 0x636169726e2d7631

// gear maps each byte to a pseudo-random 64-bit value for the Gear hash.
// It is generated rather than pasted so it can be audited from the seed,
// and never with math/rand, whose sequence is not promised to be stable.
var gear = makeGear(gearSeed)

func makeGear(seed uint64) (t [256]uint64) {
	for i := range t {
		t[i] = splitmix64(&seed)
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

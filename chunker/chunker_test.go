package chunker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"testing"
	"testing/iotest"
)

var small = Params{Min: 2 << 10, Avg: 8 << 10, Max: 64 << 10}

// randBytes returns n deterministic pseudo-random bytes (not math/rand,
// whose sequence may change between Go versions).
func randBytes(seed uint64, n int) []byte {
	b := make([]byte, n+7)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], splitmix64(&seed))
	}
	return b[:n]
}

// split returns copies of all chunks and fails on any error but io.EOF.
func split(t testing.TB, s Splitter) [][]byte {
	t.Helper()
	var chunks [][]byte
	for {
		c, err := s.Next()
		if err == io.EOF {
			if c != nil {
				t.Fatalf("chunk of %d bytes returned with io.EOF", len(c))
			}
			return chunks
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(c) == 0 {
			t.Fatal("empty chunk")
		}
		chunks = append(chunks, bytes.Clone(c))
	}
}

func lengths(chunks [][]byte) []int {
	l := make([]int, len(chunks))
	for i, c := range chunks {
		l[i] = len(c)
	}
	return l
}

func TestBoundariesPinned(t *testing.T) {
	// If this fails you changed chunk boundaries, which ruins dedup for
	// every existing repository; bump the params version instead.
	data := randBytes(1, 8<<20)
	for _, tc := range []struct {
		p      Params
		count  int
		first  []int
		digest uint64
	}{
		{Default, 59, []int{
			139720, 171267, 132988, 136871, 150621, 113326, 187445, 145666, 131100, 56832,
			132287, 112550, 132129, 71119, 33738, 58861, 229786, 201617, 162789, 65911,
		}, 0xeedc714a0606f4cd},
		{small, 887, []int{
			10335, 11504, 8571, 9502, 7888, 12474, 8644, 13256, 10254, 9657,
			9905, 10404, 9585, 7741, 9515, 8943, 9809, 12476, 19045, 9484,
		}, 0x7f5a759cc6d3a26f},
	} {
		l := lengths(split(t, New(bytes.NewReader(data), tc.p, nil)))
		h := fnv.New64a()
		for _, n := range l {
			binary.Write(h, binary.LittleEndian, uint32(n))
		}
		got := h.Sum64()
		first := l[:min(20, len(l))]
		if len(l) != tc.count || fmt.Sprint(first) != fmt.Sprint(tc.first) || got != tc.digest {
			t.Errorf("%v: got %d chunks, first %v, digest %#x; want %d, %v, %#x",
				tc.p, len(l), first, got, tc.count, tc.first, tc.digest)
		}
	}
}

// readers wraps input the ways that must not change cut points.
var readers = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"full", func(r io.Reader) io.Reader { return r }},
	{"onebyte", iotest.OneByteReader},
	{"half", iotest.HalfReader},
	{"dataerr", iotest.DataErrReader},
}

func TestReassembly(t *testing.T) {
	for _, p := range []Params{Default, small} {
		sizes := []int{0, 1, p.Min - 1, p.Min, p.Min + 1, p.Avg, p.Max - 1, p.Max, p.Max + 1, 2*p.Max + 1, 3*p.Max + 12345}
		seed := uint64(7)
		for range 4 {
			sizes = append(sizes, int(splitmix64(&seed)%uint64(3*p.Max)))
		}
		for i, n := range sizes {
			data := randBytes(uint64(i), n)
			want := lengths(split(t, New(bytes.NewReader(data), p, nil)))
			if n == 0 && len(want) != 0 {
				t.Fatalf("empty input gave %d chunks", len(want))
			}
			for _, rd := range readers {
				chunks := split(t, New(rd.wrap(bytes.NewReader(data)), p, nil))
				if got := bytes.Join(chunks, nil); !bytes.Equal(got, data) {
					t.Errorf("%v, %d bytes, %s reader: chunks do not reassemble the input", p, n, rd.name)
				}
				if got := lengths(chunks); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%v, %d bytes, %s reader: lengths %v, full reader gave %v", p, n, rd.name, got, want)
				}
			}
		}
	}
}

func TestEOFRepeats(t *testing.T) {
	s := New(bytes.NewReader(nil), small, nil)
	for range 3 {
		if c, err := s.Next(); c != nil || err != io.EOF {
			t.Fatalf("Next() = %d bytes, %v; want nil, io.EOF", len(c), err)
		}
	}
}

func TestBounds(t *testing.T) {
	data := randBytes(2, 32<<20)
	for _, p := range []Params{Default, small} {
		l := lengths(split(t, New(bytes.NewReader(data), p, nil)))
		for i, n := range l[:len(l)-1] {
			if n < p.Min || n > p.Max {
				t.Fatalf("%v: chunk %d has %d bytes", p, i, n)
			}
		}
		mean := float64(len(data)) / float64(len(l))
		t.Logf("%v: %d chunks, mean %.0f bytes (%.2f avg)", p, len(l), mean, mean/float64(p.Avg))
		if mean < 0.75*float64(p.Avg) || mean > 1.25*float64(p.Avg) {
			t.Errorf("%v: mean chunk %.0f bytes, not within 25%% of avg", p, mean)
		}
	}
}

func TestShiftResistance(t *testing.T) {
	a := randBytes(3, 4<<20)
	mid := len(a) / 2
	b := append(append(append([]byte(nil), a[:mid]...), randBytes(4, 100)...), a[mid:]...)
	for _, p := range []Params{Default, small} {
		seen := map[string]bool{}
		for _, c := range split(t, New(bytes.NewReader(a), p, nil)) {
			seen[string(c)] = true
		}
		shared := 0
		for _, c := range split(t, New(bytes.NewReader(b), p, nil)) {
			if seen[string(c)] {
				shared += len(c)
			}
		}
		frac := float64(shared) / float64(len(b))
		t.Logf("%v: %.1f%% of bytes in shared chunks", p, 100*frac)
		if frac < 0.9 {
			t.Errorf("%v: only %.1f%% of bytes in shared chunks", p, 100*frac)
		}
	}
}

func TestFixed(t *testing.T) {
	for _, tc := range []struct{ n, size, bufCap int }{
		{0, 4096, 0},
		{1, 4096, 0},
		{4096, 4096, 0},
		{4097, 4096, 0},
		{1 << 20, 4096, 0},
		{1<<20 + 100, 4096, 3 * 4096},
		{100000, 1000, 2500},
		{5000, 1 << 20, 0},
	} {
		data := randBytes(5, tc.n)
		for _, rd := range readers {
			var buf []byte
			if tc.bufCap > 0 {
				buf = make([]byte, tc.bufCap)
			}
			chunks := split(t, NewFixed(rd.wrap(bytes.NewReader(data)), tc.size, buf))
			if !bytes.Equal(bytes.Join(chunks, nil), data) {
				t.Errorf("%+v, %s reader: chunks do not reassemble the input", tc, rd.name)
			}
			for i, c := range chunks {
				want := tc.size
				if i == len(chunks)-1 && tc.n%tc.size != 0 {
					want = tc.n % tc.size
				}
				if len(c) != want {
					t.Errorf("%+v, %s reader: chunk %d has %d bytes, want %d", tc, rd.name, i, len(c), want)
				}
			}
			if want := (tc.n + tc.size - 1) / tc.size; len(chunks) != want {
				t.Errorf("%+v, %s reader: %d chunks, want %d", tc, rd.name, len(chunks), want)
			}
		}
	}
}

func TestInvalidArgs(t *testing.T) {
	if _, err := New(bytes.NewReader([]byte("x")), Params{Min: 1, Avg: 2, Max: 3}, nil).Next(); err == nil {
		t.Error("New with invalid params: Next returned no error")
	}
	if _, err := NewFixed(bytes.NewReader([]byte("x")), 0, nil).Next(); err == nil {
		t.Error("NewFixed with size 0: Next returned no error")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		p   Params
		err string
	}{
		{Default, ""},
		{small, ""},
		{Params{64, 128, 129}, ""},
		{Params{1 << 20, 16 << 20, 64 << 20}, ""},
		{Params{63, 128, 256}, "chunker: min 63 is below 64"},
		{Params{128, 128, 256}, "chunker: avg 128 is not above min 128"},
		{Params{64, 256, 256}, "chunker: max 256 is not above avg 256"},
		{Params{1 << 20, 16 << 20, 64<<20 + 1}, "chunker: max 67108865 is above 64 MiB"},
		{Params{64, 1000, 4096}, "chunker: avg 1000 is not a power of two"},
		{Params{}, "chunker: min 0 is below 64"},
	} {
		err := tc.p.Validate()
		if got := fmt.Sprint(err); (err == nil) != (tc.err == "") || err != nil && got != tc.err {
			t.Errorf("%+v: Validate() = %v, want %q", tc.p, err, tc.err)
		}
	}
}

func TestParseParams(t *testing.T) {
	if got := Default.String(); got != "fastcdc-v1 min=32768 avg=131072 max=524288" {
		t.Errorf("Default.String() = %q", got)
	}
	for _, p := range []Params{Default, small, {64, 128, 129}} {
		if got, err := ParseParams(p.String()); err != nil || got != p {
			t.Errorf("ParseParams(%q) = %+v, %v", p.String(), got, err)
		}
	}
	for _, s := range []string{
		"",
		"fastcdc-v1",
		"fastcdc-v2 min=32768 avg=131072 max=524288",
		"fastcdc-v1 min=32768 avg=131072 max=524288 ",
		"fastcdc-v1 min=32768 avg=131072 max=524288x",
		"fastcdc-v1  min=32768 avg=131072 max=524288",
		"fastcdc-v1 min=32768 max=524288 avg=131072",
		"fastcdc-v1 min=+32768 avg=131072 max=524288",
		"fastcdc-v1 min=032768 avg=131072 max=524288",
		"fastcdc-v1 min=32768 avg=131072 max=524288\n",
		"fastcdc-v1 min=32768 avg=100000 max=524288", // well formed, invalid
		"fastcdc-v1 min=-1 avg=131072 max=524288",
	} {
		if p, err := ParseParams(s); err == nil {
			t.Errorf("ParseParams(%q) = %+v, want error", s, p)
		}
	}
}

var errBoom = errors.New("boom")

// failReader returns errBoom once n bytes have been read.
type failReader struct {
	r io.Reader
	n int
}

func (f *failReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errBoom
	}
	n, err := f.r.Read(p[:min(len(p), f.n)])
	f.n -= n
	return n, err
}

func TestReadError(t *testing.T) {
	data := randBytes(6, 1<<20)
	for _, tc := range []struct {
		name string
		new  func(io.Reader) Splitter
	}{
		{"fastcdc", func(r io.Reader) Splitter { return New(r, small, nil) }},
		{"fixed", func(r io.Reader) Splitter { return NewFixed(r, 4096, nil) }},
	} {
		want := split(t, tc.new(bytes.NewReader(data)))
		for _, n := range []int{0, 1000, 70000, 300001} {
			s := tc.new(&failReader{bytes.NewReader(data), n})
			var got int
			var err error
			for ; ; got++ {
				var c []byte
				if c, err = s.Next(); err != nil {
					break
				}
				// Chunks before the error are the ones a full read gives.
				if got >= len(want) || !bytes.Equal(c, want[got]) {
					t.Fatalf("%s, fail at %d: chunk %d differs from full read", tc.name, n, got)
				}
			}
			if err != errBoom {
				t.Errorf("%s, fail at %d: Next() error %v, want %v", tc.name, n, err, errBoom)
			}
			if _, err := s.Next(); err != errBoom {
				t.Errorf("%s, fail at %d: error not sticky, got %v", tc.name, n, err)
			}
		}
	}
}

// randReader is an endless deterministic pseudo-random stream.
type randReader struct{ seed uint64 }

func (r *randReader) Read(p []byte) (int, error) {
	for i := range p {
		if i%8 == 0 {
			r.seed = splitmix64(&r.seed)
		}
		p[i] = byte(r.seed >> (8 * (i % 8)))
	}
	return len(p), nil
}

func TestNextAllocs(t *testing.T) {
	s := New(&randReader{8}, small, nil)
	if n := testing.AllocsPerRun(1000, func() { s.Next() }); n != 0 {
		t.Errorf("Next allocates %v times per chunk", n)
	}
	f := NewFixed(&randReader{9}, 4096, nil)
	if n := testing.AllocsPerRun(1000, func() { f.Next() }); n != 0 {
		t.Errorf("fixed Next allocates %v times per chunk", n)
	}
}

func FuzzSplit(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x00\x00"))
	f.Add(randBytes(10, 3000))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Small params from the first two bytes, so short inputs still
		// span several chunks.
		var a, b int
		if len(data) >= 2 {
			a, b = int(data[0]), int(data[1])
		}
		avg := 128 << (a % 4)
		p := Params{Min: 64 + b%(avg-64), Avg: avg, Max: avg * (2 + a>>4%7)}
		chunks := split(t, New(bytes.NewReader(data), p, nil))
		if !bytes.Equal(bytes.Join(chunks, nil), data) {
			t.Fatalf("%v: chunks do not reassemble the input", p)
		}
		for i, c := range chunks {
			if len(c) > p.Max || len(c) < p.Min && i < len(chunks)-1 {
				t.Fatalf("%v: chunk %d of %d has %d bytes", p, i, len(chunks), len(c))
			}
		}
		short := split(t, New(iotest.OneByteReader(bytes.NewReader(data)), p, nil))
		if fmt.Sprint(lengths(short)) != fmt.Sprint(lengths(chunks)) {
			t.Fatalf("%v: one-byte reader moved the cut points", p)
		}
	})
}

func BenchmarkFastCDC(b *testing.B) {
	data := randBytes(11, 64<<20)
	buf := make([]byte, BufferSize(Default))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		s := New(bytes.NewReader(data), Default, buf)
		for {
			if _, err := s.Next(); err != nil {
				break
			}
		}
	}
}

func BenchmarkFixed(b *testing.B) {
	data := randBytes(12, 64<<20)
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		s := NewFixed(bytes.NewReader(data), 4096, buf)
		for {
			if _, err := s.Next(); err != nil {
				break
			}
		}
	}
}

// TestBytesCutsAsNew holds NewBytes to New's boundaries: a small file read
// whole is split in memory, and a different cut would store its chunks
// again under other ids.
func TestBytesCutsAsNew(t *testing.T) {
	keyed := KeyedTable(testSeed(9))
	for _, tab := range []*Table{nil, keyed} {
		for _, p := range []Params{Default, small} {
			sizes := []int{0, 1, p.Min - 1, p.Min, p.Min + 1, p.Avg, p.Max - 1, p.Max, p.Max + 1, 2*p.Max + 1, 3*p.Max + 12345}
			for i, n := range sizes {
				data := randBytes(uint64(i)+100, n)
				want := split(t, NewWithTable(bytes.NewReader(data), p, tab, nil))
				var got [][]byte
				for b := NewBytes(data, p, tab); ; {
					c, ok := b.Next()
					if !ok {
						break
					}
					got = append(got, c)
				}
				if fmt.Sprint(lengths(got)) != fmt.Sprint(lengths(want)) {
					t.Errorf("%v, keyed %v, %d bytes: lengths %v, New gave %v", p, tab != nil, n, lengths(got), lengths(want))
				}
				if !bytes.Equal(bytes.Join(got, nil), data) {
					t.Errorf("%v, %d bytes: chunks do not reassemble the input", p, n)
				}
			}
		}
	}
}

package quantizer

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestActStatsPieceByPiece checks that the statistics gathered batch by batch are those of
// the whole value: its range, and the elements at the positions a generator seeded with the
// element count draws (the sample the search used when it held every element).
func TestActStatsPieceByPiece(t *testing.T) {
	for _, tc := range []struct {
		name   string
		total  int
		pieces []int
	}{
		{"fewer than the sample", 1000, []int{1000}},
		{"fewer, in pieces", 5000, []int{1, 2047, 2952}},
		{"exactly the sample", maxSearchSamples, []int{100, maxSearchSamples - 100}},
		{"more, whole", 100000, []int{100000}},
		{"more, batches", 3 * 33000, []int{33000, 33000, 33000}},
		{"more, ragged", 70001, []int{1, 17, 40000, 29983}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, uint64(tc.total)))
			x := make([]float32, tc.total)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			st := newActStats(tc.total)
			off := 0
			for _, k := range tc.pieces {
				if st.complete() {
					t.Fatal("complete before the last piece")
				}
				st.add(x[off : off+k])
				off += k
			}
			if !st.complete() {
				t.Fatalf("not complete after %d of %d elements", st.seen, st.total)
			}
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, v := range x {
				lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
			}
			if st.lo != lo || st.hi != hi {
				t.Errorf("range [%g, %g], want [%g, %g]", st.lo, st.hi, lo, hi)
			}
			want := x
			if tc.total > maxSearchSamples {
				g := rand.New(rand.NewPCG(uint64(tc.total), 0x5eed))
				want = make([]float32, maxSearchSamples)
				for i := range want {
					want[i] = x[g.IntN(tc.total)]
				}
			}
			if len(st.sample) != len(want) {
				t.Fatalf("%d samples, want %d", len(st.sample), len(want))
			}
			for i := range want {
				if st.sample[i] != want[i] {
					t.Fatalf("sample %d = %g, want %g", i, st.sample[i], want[i])
				}
			}
		})
	}
}

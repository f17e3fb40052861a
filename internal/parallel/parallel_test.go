package parallel

import (
	"sync/atomic"
	"testing"
)

// Every index is visited exactly once, whatever the number of workers.
func TestFor(t *testing.T) {
	for _, tt := range []struct{ n, workers int }{{0, 4}, {1, 4}, {7, 1}, {7, 3}, {1000, 8}, {3, 0}} {
		seen := make([]atomic.Int32, tt.n)
		For(tt.n, tt.workers, func(i int) { seen[i].Add(1) })
		for i := range seen {
			if c := seen[i].Load(); c != 1 {
				t.Errorf("n=%d workers=%d: index %d visited %d times", tt.n, tt.workers, i, c)
			}
		}
	}
}

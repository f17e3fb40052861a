// Package parallel runs independent pieces of host-side work on several goroutines.
package parallel

import (
	"sync"
	"sync/atomic"
)

// For calls f(0) … f(n−1) on up to workers goroutines (at least one) and returns when all
// are done. The calls must be independent; which goroutine runs which is not fixed.
func For(n, workers int, f func(i int)) {
	if workers <= 1 || n <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				f(i)
			}
		})
	}
	wg.Wait()
}

// Package steptime times the steady steps of an iterative job: the first steps are left
// out (the first creates the ONNX Runtime sessions and, on CUDA, searches convolution
// algorithms; the second, where ONNX Runtime lays out its memory, takes several times a
// steady step too), so a few timed steps predict many.
package steptime

import (
	"sync"
	"time"
)

// Skip is how many steps of a unit a Clock leaves out.
const Skip = 2

// Clock measures steps Skip+1 … Skip+k of one unit of work (a batch, a block): from the end
// of step Skip to the end of step Skip+k. It is safe for concurrent use, as the progress
// callbacks of batches run side by side need.
type Clock struct {
	mu          sync.Mutex
	k           int
	first, last time.Time
}

// New returns a Clock that times k steps after the first Skip; the unit must run Skip+k.
func New(k int) *Clock { return &Clock{k: k} }

// Done records that step n (1-based) has ended.
func (c *Clock) Done(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch n {
	case Skip:
		c.first = time.Now()
	case Skip + c.k:
		c.last = time.Now()
	}
}

// Warm returns when step Skip ended (the zero time until it has): the time before it, less
// Skip steady steps, is what the unit spent setting up.
func (c *Clock) Warm() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.first
}

// PerStep returns the mean seconds of the timed steps, or 0 until step Skip+k has ended.
func (c *Clock) PerStep() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.first.IsZero() || c.last.IsZero() || c.k <= 0 {
		return 0
	}
	return c.last.Sub(c.first).Seconds() / float64(c.k)
}

package steptime

import (
	"testing"
	"time"
)

// PerStep is the mean of steps Skip+1 … Skip+k, not counting the first Skip steps or any
// after them, and 0 until step Skip+k has ended.
func TestClock(t *testing.T) {
	c := New(2)
	durations := []time.Duration{50, 60, 10, 20, 80} // ms of steps 1 … 5
	for i, d := range durations {
		time.Sleep(d * time.Millisecond)
		c.Done(i + 1)
		if i == Skip && c.PerStep() != 0 {
			t.Errorf("after step %d of %d: %g s per step, want 0", i+1, Skip+2, c.PerStep())
		}
	}
	// Steps 3 and 4 take 30 ms together; sleeps overshoot, never undershoot.
	if got := c.PerStep(); got < 0.015 || got > 0.040 {
		t.Errorf("%g s per step, want about 0.015 (steps 2 and 3 only)", got)
	}
}

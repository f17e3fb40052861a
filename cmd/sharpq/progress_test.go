package main

import (
	"testing"
	"time"
)

// TestStagePace checks the time-left estimate on report sequences of a sequential stage, a
// resumed one and one whose units run side by side.
func TestStagePace(t *testing.T) {
	type report struct{ at, unit, step int } // at: seconds since the first report
	tests := []struct {
		name         string
		units, steps int
		reports      []report
		want         time.Duration // after the last report
	}{
		// 1 s per step; after step 4 of block 0, 6 steps of it and 10 of block 1 remain.
		{"sequential", 2, 10, []report{{0, 0, 1}, {1, 0, 2}, {2, 0, 3}, {3, 0, 4}}, 16 * time.Second},
		{"first report: pace unknown", 2, 10, []report{{0, 0, 1}}, 0},
		// Blocks 0–2 were done before the resume: only blocks 3 and 4 are left.
		{"resumed at block 3", 5, 10, []report{{0, 3, 1}, {2, 3, 2}, {4, 3, 3}}, 2 * (7 + 10) * time.Second},
		// Two batches side by side, a step of each taking 2 s, so 1 s per step in all; batch 2
		// of 3 has not started: 8 + 8 + 10 steps left.
		{"two batches side by side", 3, 10, []report{{0, 0, 1}, {1, 1, 1}, {2, 0, 2}, {3, 1, 2}}, 26 * time.Second},
		{"last step", 1, 3, []report{{0, 0, 1}, {1, 0, 2}, {2, 0, 3}}, 0},
		// Reports every 50 steps, 0.1 s per step; block 1 of 3 at step 150: 50 + 200 left.
		{"every 50 steps", 3, 200, []report{{0, 0, 50}, {5, 0, 100}, {10, 0, 150}, {15, 0, 200}, {20, 1, 50}, {30, 1, 150}}, 25 * time.Second},
	}
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p stagePace
			var got time.Duration
			for _, r := range tc.reports {
				got = p.observe(t0.Add(time.Duration(r.at)*time.Second), r.unit, tc.units, r.step, tc.steps)
			}
			if got != tc.want {
				t.Errorf("left %v, want %v", got, tc.want)
			}
		})
	}
	if s := leftText(90*time.Second + 400*time.Millisecond); s != "~1m30s left" {
		t.Errorf("leftText: %q", s)
	}
	if s := leftText(0); s != "" {
		t.Errorf("leftText(0) = %q, want nothing", s)
	}
}

package english

import "testing"

func TestCount(t *testing.T) {
	tests := []struct {
		n    int
		noun string
		want string
	}{
		{1, "batch", "1 batch"},
		{2, "batch", "2 batches"},
		{0, "image", "0 images"},
		{1, "thread", "1 thread"},
		{3, "pass", "3 passes"},
		{-1, "step", "-1 steps"},
	}
	for _, tt := range tests {
		if got := Count(tt.n, tt.noun); got != tt.want {
			t.Errorf("Count(%d, %q) = %q, want %q", tt.n, tt.noun, got, tt.want)
		}
	}
}

package calib

import (
	"fmt"
	"math"
)

// Accuracy is a classification result over a number of images.
type Accuracy struct {
	// Top1 and Top5 are the percentages (0–100) of images whose label is
	// the highest logit, or among the five highest (among all classes
	// when there are fewer than five).
	Top1, Top5 float64
	// Images is the number of images counted.
	Images int
}

// String formats a as "top-1 93.75%, top-5 99.87% (10000 images)".
func (a Accuracy) String() string {
	return fmt.Sprintf("top-1 %.2f%%, top-5 %.2f%% (%d images)", a.Top1, a.Top5, a.Images)
}

// Tally accumulates top-1 and top-5 counts batch by batch. The zero value is
// ready to use.
type Tally struct {
	// Correct1 and Correct5 count images right at top-1 and top-5.
	Correct1, Correct5 int
	// Images counts the images added.
	Images int
}

// Add counts one batch as TopK does: logits holds len(labels) rows of
// classes values each.
func (t *Tally) Add(logits []float32, classes int, labels []int64) {
	c1, c5 := TopK(logits, classes, labels)
	t.Correct1 += c1
	t.Correct5 += c5
	t.Images += len(labels)
}

// Accuracy returns the tally as percentages; zero for no images.
func (t Tally) Accuracy() Accuracy {
	a := Accuracy{Images: t.Images}
	if t.Images > 0 {
		a.Top1 = 100 * float64(t.Correct1) / float64(t.Images)
		a.Top5 = 100 * float64(t.Correct5) / float64(t.Images)
	}
	return a
}

// TopK counts, over a batch, the images whose label has the highest logit
// (correct1) and those whose label is among the min(5, classes) highest
// (correct5). logits holds len(labels) rows of classes values each.
//
// Ranking is stable: of equal logits the lower class index ranks first, so
// ties never count for more than one class. NaN ranks below every number
// (and NaNs among themselves by index). A label outside [0, classes) is
// never correct. TopK panics if classes < 1 or len(logits) is not
// classes×len(labels).
func TopK(logits []float32, classes int, labels []int64) (correct1, correct5 int) {
	if classes < 1 || len(logits) != classes*len(labels) {
		panic(fmt.Sprintf("calib: TopK: %d logits for %d labels of %d classes", len(logits), len(labels), classes))
	}
	k := min(5, classes)
	for i, label := range labels {
		if label < 0 || label >= int64(classes) {
			continue
		}
		row := logits[i*classes : (i+1)*classes]
		l := int(label)
		// rank = number of classes ranked ahead of the label.
		rank := 0
		for j, v := range row {
			if j != l && ahead(v, j, row[l], l) {
				rank++
				if rank >= k {
					break
				}
			}
		}
		if rank == 0 {
			correct1++
		}
		if rank < k {
			correct5++
		}
	}
	return correct1, correct5
}

// ahead reports whether logit a of class i ranks ahead of logit b of class
// j: higher value first, NaN last, ties by lower index.
func ahead(a float32, i int, b float32, j int) bool {
	an, bn := math.IsNaN(float64(a)), math.IsNaN(float64(b))
	switch {
	case an && bn:
		return i < j
	case an:
		return false
	case bn:
		return true
	case a != b:
		return a > b
	}
	return i < j
}

package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/sharpq/sharpq/convert"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/quantizer"
)

// availableMemory returns the memory the kernel says new work can use without swapping
// (/proc/meminfo's MemAvailable), or 0 where it cannot tell.
func availableMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// memoryCheck is convert's estimated peak memory for a schedule, set against what the machine
// has available.
type memoryCheck struct {
	Estimate  convert.Memory
	GenBatch  int
	Method    convert.Method
	Available int64 // 0: unknown
	// Fits is the largest generator batch whose estimate is within Available (0: none, or
	// Available unknown); only meaningful when Over.
	Fits int
}

// Over reports whether the estimate exceeds the available memory.
func (mc memoryCheck) Over() bool { return mc.Available > 0 && mc.Estimate.Bytes > mc.Available }

// checkMemory estimates convert's peak memory for model m, schedule s, method and parallel
// synthesis batches, and compares it with the memory available now.
func checkMemory(m *ir.Model, s convert.Schedule, method convert.Method, parallel int) (memoryCheck, error) {
	e, err := convert.EstimateMemory(m, s, method, parallel)
	if err != nil {
		return memoryCheck{}, err
	}
	return newMemoryCheck(e, s.GenBatch, method, availableMemory()), nil
}

// newMemoryCheck sets estimate e, made for generator batches of batch images, against
// available bytes (0: unknown).
func newMemoryCheck(e convert.Memory, batch int, method convert.Method, available int64) memoryCheck {
	mc := memoryCheck{Estimate: e, GenBatch: batch, Method: method, Available: available}
	if mc.Over() {
		// The estimate is good to about 15 %: suggest a batch with room to spare.
		limit := mc.Available / 100 * 85
		mc.Fits = e.BatchWithin(limit, batch, method)
	}
	return mc
}

// gb writes a byte count in GB (10⁹ bytes), or MB below one GB.
func gb(b int64) string {
	if b < 1e7 {
		return fmt.Sprintf("%.1f MB", float64(b)/1e6)
	}
	if b < 1e9 {
		return fmt.Sprintf("%.0f MB", float64(b)/1e6)
	}
	return fmt.Sprintf("%.1f GB", float64(b)/1e9)
}

// String says the estimate in one line, with what to do when it exceeds the available memory.
func (mc memoryCheck) String() string {
	perImage := mc.Estimate.At(mc.GenBatch+1, mc.Method) - mc.Estimate.Bytes
	s := fmt.Sprintf("about %s at its peak for %d images in generator batches of %d (%s more per image of a batch)",
		gb(mc.Estimate.Bytes), mc.Estimate.Images, mc.GenBatch, gb(perImage))
	if mc.Estimate.Disk > 0 {
		s += fmt.Sprintf(", and %s of disk for the generators until refinement", gb(mc.Estimate.Disk))
	}
	if mc.Available > 0 {
		s += fmt.Sprintf("; %s available", gb(mc.Available))
	}
	if mc.Over() {
		if mc.Fits > 0 {
			s += fmt.Sprintf(": the system may stop the run for want of memory; --gen-batch %d would need about %s",
				mc.Fits, gb(mc.Estimate.At(mc.Fits, mc.Method)))
			if d := mc.Estimate.DiskAt(mc.Fits, mc.Method); d > 0 {
				s += fmt.Sprintf(" (and %s of disk)", gb(d))
			}
		} else {
			s += ": the system may stop the run for want of memory, at any generator batch"
		}
	}
	return s
}

// checkImagesFit refuses, before any work, a count of images that flag asks for whose float32
// values (perImage each) could not be held in the memory available: such a run would end in
// an allocation failure, after minutes of work or at once with a Go stack trace.
func checkImagesFit(flag string, images, perImage int64) error {
	avail := availableMemory()
	if avail <= 0 || perImage <= 0 {
		return nil
	}
	if images > avail/(4*perImage) {
		return usageError{fmt.Errorf("%s: %d images of %d values take %.1f GB; %.1f GB of memory is available",
			flag, images, perImage, float64(images)*float64(perImage)*4/1e9, float64(avail)/1e9)}
	}
	return nil
}

// checkReconFits refuses, before any work, a reconstruction of m on more images than the
// memory available can hold: it keeps every block's inputs (quantized and float) and output
// for all the images at once (quantizer.EstimateReconMemory), so too many end in an
// allocation failure after the set-up's minutes (at 224×224 it is a few MB per image).
// flag names the setting that chose the count.
func checkReconFits(m *ir.Model, flag string, images int) error {
	avail := availableMemory()
	if avail <= 0 {
		return nil
	}
	r, err := quantizer.EstimateReconMemory(m)
	if err != nil || r.PerImage <= 0 {
		return nil // the run's own checks name what is wrong with the model
	}
	need := int64(images) * r.PerImage
	if need <= avail {
		return nil
	}
	return usageError{fmt.Errorf("%s: reconstruction holds %s per image (%s's inputs and output, quantized and float) for all %d calibration images at once, %s; %s of memory is available, enough for at most %d",
		flag, gb(r.PerImage), r.Block, images, gb(need), gb(avail), avail/r.PerImage)}
}

// widenedCount is how many images calibration takes from n with --mirror and --mixup.
func widenedCount(n int, mirror bool, mixtures int) int {
	if mirror {
		n *= 2
	}
	return n + max(mixtures, 0)
}

// calibFlag names the flags that set quantize's number of calibration images.
func calibFlag(c interface{ IsSet(string) bool }) string {
	flags := []string{"--calib-data"}
	if c.IsSet("calib-images") {
		flags[0] = "--calib-images"
	}
	for _, f := range []string{"mirror", "mixup"} {
		if c.IsSet(f) {
			flags = append(flags, "--"+f)
		}
	}
	if len(flags) == 1 {
		return flags[0]
	}
	return strings.Join(flags[:len(flags)-1], ", ") + " and " + flags[len(flags)-1]
}

// inputValues is the number of values in one image of m's NCHW input (0 if not static).
func inputValues(m *ir.Model) int64 {
	if len(m.Graph.Inputs) == 0 {
		return 0
	}
	n := int64(1)
	for _, d := range m.Graph.Inputs[0].Shape[1:] {
		if d <= 0 {
			return 0
		}
		n *= d
	}
	return n
}

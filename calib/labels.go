package calib

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sharpq/sharpq/option"
)

// folderLabels reads the labels of the images of a folder without class subfolders, paths
// in name order, from labelsPath: an .npy array of one integer per image in that order, or a
// text file of either one label per line in that order (as ImageNet's
// ILSVRC2012_validation_ground_truth.txt is laid out; its ids must already be the model's
// class indices), or "NAME LABEL" lines, NAME a file name within dir and the two separated
// by spaces, a tab or a comma (as Caffe's val.txt). The NAME form may list files the
// folder does not hold (a folder holding part of a validation set), but every image must
// have its label. Blank lines are skipped. Errors are *option.Error named Dataset.Labels.
func folderLabels(labelsPath, dir string, paths []string) ([]int64, error) {
	if strings.EqualFold(filepath.Ext(labelsPath), ".npy") {
		return loadLabels(labelsPath, dir, len(paths))
	}
	labelsErr := func(format string, args ...any) error {
		return fmt.Errorf("calib: %w", option.Errorf("Dataset.Labels", "%s: %s: "+format, append([]any{labelsPath}, args...)...))
	}
	f, err := os.Open(labelsPath)
	if err != nil {
		e := option.Errorf("Dataset.Labels", "%s: %v", err)
		e.Err = err
		return nil, fmt.Errorf("calib: %w", e)
	}
	defer f.Close()
	var (
		inOrder []int64          // labels of "LABEL" lines
		byName  map[string]int64 // labels of "NAME LABEL" lines
		line    int
	)
	s := bufio.NewScanner(f)
	for s.Scan() {
		line++
		fields := strings.FieldsFunc(s.Text(), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' })
		if len(fields) == 0 {
			continue
		}
		if len(fields) > 2 {
			return nil, labelsErr("line %d has %d fields: want a label, or a file name and a label", line, len(fields))
		}
		label, err := strconv.ParseInt(fields[len(fields)-1], 10, 64)
		if err != nil || label < 0 {
			return nil, labelsErr("line %d: %q is not a label (a class index, 0 or more)", line, fields[len(fields)-1])
		}
		switch {
		case len(fields) == 1 && byName == nil:
			inOrder = append(inOrder, label)
		case len(fields) == 2 && inOrder == nil:
			if byName == nil {
				byName = map[string]int64{}
			}
			name := filepath.Clean(fields[0])
			if old, ok := byName[name]; ok && old != label {
				return nil, labelsErr("line %d: %s has label %d here and %d on an earlier line", line, fields[0], label, old)
			}
			byName[name] = label
		default:
			return nil, labelsErr("line %d: lines of a label alone and lines of a file name and a label are mixed", line)
		}
	}
	if err := s.Err(); err != nil {
		return nil, labelsErr("line %d: %v", line+1, err)
	}
	switch {
	case byName != nil:
		labels := make([]int64, len(paths))
		for i, p := range paths {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				rel = filepath.Base(p)
			}
			l, ok := byName[rel]
			if !ok {
				return nil, labelsErr("no label for %s, one of the %d images in %s (the file labels %d names)", rel, len(paths), dir, len(byName))
			}
			labels[i] = l
		}
		return labels, nil
	case len(inOrder) != len(paths):
		return nil, labelsErr("%d labels, one a line, but %s holds %d images (labels one a line go to the images in name order)", len(inOrder), dir, len(paths))
	}
	return inOrder, nil
}

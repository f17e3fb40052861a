package calib

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"reflect"
	"strings"

	"codeberg.org/sbinet/npyio/npy"

	"github.com/sharpq/sharpq/internal/atomicfile"
	"github.com/sharpq/sharpq/option"
)

// LoadNPY reads images from the .npy file dataPath and, unless labelsPath is
// "", their labels from the .npy file labelsPath.
//
// The images are NCHW, or NHW which is read as one channel (C=1). uint8
// data is scaled to [0,1] by dividing by 255, as torchvision's ToTensor
// does; float32 and float64 data is taken as it is (so it should already be
// in the range the model was trained on before normalisation), converted to
// float32; NaN, ±Inf and float64 values beyond float32's range are an
// error naming the first image that holds one. Then, with p.Grayscale,
// three-channel images become one channel of luma; and every value is
// normalised to (x - mean[c]) / std[c] with p.Mean and p.Std (empty: no
// shift or no scaling). Arrays are never resized or cropped: p.Resize must be
// 0, and p.Size and p.Crop 0 or the images' height and width.
//
// The labels are a 1-D array of any integer dtype (int64, int32, uint8, …)
// with one non-negative class index per image; errors about them are an
// *option.Error named Dataset.Labels. Fortran-ordered arrays of more than one
// dimension are not supported, and a file cut short in its header is an error.
func LoadNPY(dataPath, labelsPath string, p Preprocess) (*Dataset, error) {
	nf, err := openNPY(dataPath)
	if err != nil {
		return nil, err
	}
	defer nf.close()
	d := &Dataset{}
	channels, err := npyImageDims(nf, p, &d.N, &d.C, &d.H, &d.W)
	if err != nil {
		return nil, err
	}

	switch nf.dtype {
	case "u1":
		u, err := readAll[uint8](nf)
		if err != nil {
			return nil, err
		}
		d.X = make([]float32, len(u))
		for i, v := range u {
			d.X[i] = float32(v) / 255
		}
	case "f4":
		if d.X, err = readAll[float32](nf); err != nil {
			return nil, err
		}
	case "f8":
		f, err := readAll[float64](nf)
		if err != nil {
			return nil, err
		}
		d.X = make([]float32, len(f))
		for i, v := range f {
			d.X[i] = float32(v)
			if err := checkFloat64(dataPath, v, d.X[i], i/d.SampleLen()); err != nil {
				return nil, err
			}
		}
	}
	if nf.dtype != "u1" {
		if d.NegativeFloats, err = checkFloats(dataPath, d.X, 0, d.SampleLen()); err != nil {
			return nil, err
		}
	}
	if channels != d.C {
		d.X = rgbToLuma(d.X, d.N, d.H*d.W)
		d.C = channels
	}
	p.normalize(d.X, d.C, d.H*d.W)
	if d.Labels, err = loadLabels(labelsPath, dataPath, d.N); err != nil {
		return nil, err
	}
	return d, nil
}

// npyImageDims reads the images' number, channels, height and width from nf's shape into
// n, c, h and w, checks them and p against each other and nf's dtype, and returns the
// channels the images have once prepared (1 for three-channel images with p.Grayscale).
func npyImageDims(nf *npyFile, p Preprocess, n, c, h, w *int) (int, error) {
	dataPath := nf.path
	switch s := nf.shape; len(s) {
	case 4:
		*n, *c, *h, *w = s[0], s[1], s[2], s[3]
	case 3:
		*n, *c, *h, *w = s[0], 1, s[1], s[2]
	default:
		return 0, fmt.Errorf("calib: %s: shape %v: want images as NCHW (4-D) or NHW (3-D)", dataPath, s)
	}
	if *n == 0 || *c == 0 || *h == 0 || *w == 0 {
		return 0, fmt.Errorf("calib: %s: shape %v holds no images", dataPath, nf.shape)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"Preprocess.Size", p.Size}, {"Preprocess.Resize", p.Resize}, {"Preprocess.Crop", p.Crop}} {
		if f.v > 0 && (f.name == "Preprocess.Resize" || f.v != *h || f.v != *w) {
			return 0, fmt.Errorf("calib: %w", option.Errorf(f.name, "%s = %d: %s holds %d×%d images and .npy data is never resized or cropped: set %[1]s to 0",
				f.v, dataPath, *h, *w))
		}
	}
	channels := *c
	if p.Grayscale {
		switch *c {
		case 1:
		case 3:
			channels = 1
		default:
			return 0, fmt.Errorf("calib: %w", option.Errorf("Preprocess.Grayscale", "%s is set but %s holds %d-channel images: want 1 or 3 channels", dataPath, *c))
		}
	}
	if err := p.Validate(channels); err != nil {
		return 0, err
	}
	switch nf.dtype {
	case "u1", "f4", "f8":
	default:
		return 0, fmt.Errorf("calib: %s: dtype %s: want images as uint8, float32 or float64", dataPath, nf.dtype)
	}
	return channels, nil
}

// checkFloat64 reports a finite float64 v too large for float32 (f is v as float32): it would
// pass the non-finite check as an Inf it never held.
func checkFloat64(path string, v float64, f float32, image int) error {
	if math.IsInf(float64(f), 0) && !math.IsInf(v, 0) && !math.IsNaN(v) {
		return fmt.Errorf("calib: %s: image %d holds %g, beyond float32's range", path, image, v)
	}
	return nil
}

// checkFloats refuses NaN and Inf in x, the images from first on of sampleLen values each
// (they would pass through the model and leave its calibration ranges or accuracy
// meaningless), naming the image, and reports whether x holds a negative value.
func checkFloats(path string, x []float32, first, sampleLen int) (negative bool, err error) {
	for i, v := range x {
		if v < 0 {
			negative = true
		}
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false, fmt.Errorf("calib: %s: image %d holds a non-finite value (NaN or Inf)", path, first+i/sampleLen)
		}
	}
	return negative, nil
}

// loadLabels reads the labels of the n images of dataPath from labelsPath (nil for ""):
// a 1-D integer array, one non-negative label per image. Errors are *option.Error named
// Dataset.Labels, so that a front end names its labels flag, not its data flag.
func loadLabels(labelsPath, dataPath string, n int) ([]int64, error) {
	if labelsPath == "" {
		return nil, nil
	}
	labels, shape, err := ReadNPYInt64(labelsPath)
	if err != nil {
		e := option.Errorf("Dataset.Labels", "%s: %s", strings.TrimPrefix(err.Error(), "calib: "))
		if errors.As(err, new(*fs.PathError)) {
			e.Err = err // unreadable, not wrong
		}
		return nil, fmt.Errorf("calib: %w", e)
	}
	if len(shape) != 1 {
		return nil, fmt.Errorf("calib: %w", option.Errorf("Dataset.Labels", "%s: %s: labels of shape %v: want a 1-D array", labelsPath, shape))
	}
	if len(labels) != n {
		return nil, fmt.Errorf("calib: %w", option.Errorf("Dataset.Labels", "%s: %s holds %d labels but %s holds %d images",
			labelsPath, len(labels), dataPath, n))
	}
	if i := negativeLabel(labels); i >= 0 {
		return nil, fmt.Errorf("calib: %w", option.Errorf("Dataset.Labels", "%s: %s: label %d of image %d is negative", labelsPath, labels[i], i))
	}
	return labels, nil
}

// rgbToLuma turns n three-channel NCHW images of hw values per channel into
// n one-channel images of ITU-R BT.601 luma.
func rgbToLuma(x []float32, n, hw int) []float32 {
	out := make([]float32, n*hw)
	for i := range n {
		r := x[(3*i)*hw : (3*i+1)*hw]
		g := x[(3*i+1)*hw : (3*i+2)*hw]
		b := x[(3*i+2)*hw : (3*i+3)*hw]
		o := out[i*hw : (i+1)*hw]
		for j := range o {
			o[j] = 0.299*r[j] + 0.587*g[j] + 0.114*b[j]
		}
	}
	return out
}

// ReadNPYUint8 reads a uint8 array of any shape from the .npy file path,
// returning its values in C order and its shape.
func ReadNPYUint8(path string) (x []uint8, shape []int, err error) {
	nf, err := openNPY(path)
	if err != nil {
		return nil, nil, err
	}
	defer nf.close()
	if nf.dtype != "u1" {
		return nil, nil, fmt.Errorf("calib: %s: dtype %s: want uint8", path, nf.dtype)
	}
	x, err = readAll[uint8](nf)
	return x, nf.shape, err
}

// ReadNPYInt64 reads an integer array (int8 to int64, uint8 to uint64) of
// any shape from the .npy file path, returning its values in C order
// converted to int64, and its shape. uint64 values above the int64 range are
// an error.
func ReadNPYInt64(path string) (x []int64, shape []int, err error) {
	nf, err := openNPY(path)
	if err != nil {
		return nil, nil, err
	}
	defer nf.close()
	switch nf.dtype {
	case "i8":
		x, err = readAll[int64](nf)
	case "i4":
		x, err = readInts[int32](nf)
	case "i2":
		x, err = readInts[int16](nf)
	case "i1":
		x, err = readInts[int8](nf)
	case "u4":
		x, err = readInts[uint32](nf)
	case "u2":
		x, err = readInts[uint16](nf)
	case "u1":
		x, err = readInts[uint8](nf)
	case "u8":
		var u []uint64
		if u, err = readAll[uint64](nf); err == nil {
			x = make([]int64, len(u))
			for i, v := range u {
				if v > math.MaxInt64 {
					return nil, nil, fmt.Errorf("calib: %s: value %d at %d overflows int64", path, v, i)
				}
				x[i] = int64(v)
			}
		}
	default:
		return nil, nil, fmt.Errorf("calib: %s: dtype %s: want an integer dtype (int64, int32, uint8, …)", path, nf.dtype)
	}
	if err != nil {
		return nil, nil, err
	}
	return x, nf.shape, nil
}

// npyFile is an open .npy file whose header has been read.
type npyFile struct {
	path  string
	f     *os.File
	r     *npy.Reader
	dtype string // kind and size without byte order: "u1", "f4", "i8", …
	shape []int
	n     int // number of elements
	// dataStart is where the data starts in the file (0 for a header version checkHeaderLength
	// does not know), and order the data's byte order.
	dataStart int64
	order     binary.ByteOrder
}

// dtypeSizes maps the dtypes calib reads to their element sizes in bytes.
var dtypeSizes = map[string]int64{
	"u1": 1, "u2": 2, "u4": 4, "u8": 8,
	"i1": 1, "i2": 2, "i4": 4, "i8": 8,
	"f4": 4, "f8": 8,
}

func openNPY(path string) (*npyFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("calib: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("calib: %w", err)
	}
	dataStart, err := checkHeaderLength(f, path, fi.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	var r *npy.Reader
	err = npyCall(func() (err error) {
		r, err = npy.NewReader(bufio.NewReaderSize(f, 1<<20))
		return err
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("calib: %s: not a readable .npy file: %w", path, err)
	}
	nf := &npyFile{path: path, f: f, r: r, shape: r.Header.Descr.Shape, dataStart: dataStart, order: binary.LittleEndian}
	dt := strings.Trim(r.Header.Descr.Type, `'"`)
	if dt != "" && strings.ContainsRune("<>|=", rune(dt[0])) {
		if dt[0] == '>' {
			nf.order = binary.BigEndian
		}
		dt = dt[1:]
	}
	nf.dtype = dt
	size, ok := dtypeSizes[dt]
	if !ok {
		f.Close()
		return nil, fmt.Errorf("calib: %s: dtype %s is not supported", path, r.Header.Descr.Type)
	}
	if r.Header.Descr.Fortran && len(nf.shape) > 1 {
		f.Close()
		return nil, fmt.Errorf("calib: %s: Fortran-ordered array of shape %v is not supported: save it in C order", path, nf.shape)
	}
	// Check the shape against the file size before allocating, so that a
	// corrupt header cannot ask for more memory than the file holds.
	n := int64(1)
	for _, s := range nf.shape {
		if s < 0 || (s > 0 && n > fi.Size()/int64(s)) {
			f.Close()
			return nil, fmt.Errorf("calib: %s: shape %v does not fit the file's %d bytes", path, nf.shape, fi.Size())
		}
		n *= int64(s)
	}
	if n*size > fi.Size() {
		f.Close()
		return nil, fmt.Errorf("calib: %s: shape %v of %s needs %d bytes of data, the file has %d in all",
			path, nf.shape, dt, n*size, fi.Size())
	}
	// Data shorter than the shape is reported where it is read; more than it means the
	// header's shape is not the data's (a malformed shape that npyio read short, or bytes
	// appended).
	if dataStart > 0 && dataStart+n*size < fi.Size() {
		f.Close()
		return nil, fmt.Errorf("calib: %s: shape %v of %s is %d bytes of data, but %d follow the header",
			path, nf.shape, dt, n*size, fi.Size()-dataStart)
	}
	nf.n = int(n)
	return nf, nil
}

func (nf *npyFile) close() { nf.f.Close() }

// npyMagic starts every .npy file.
const npyMagic = "\x93NUMPY"

// checkHeaderLength returns where the data of a .npy file of size bytes starts (0 when it
// is not a .npy file of a version it knows), and reports a file that ends before the end of
// the header its first bytes announce: npyio slices a short header without checking it and
// panics. The magic, 2 version bytes, then the header length, 2 bytes little-endian in
// version 1 and 4 in versions 2 and 3. A file that is not .npy at all, or of another
// version, is left to npyio to refuse.
func checkHeaderLength(f *os.File, path string, size int64) (dataStart int64, err error) {
	if size == 0 {
		return 0, fmt.Errorf("calib: %s is empty: not a .npy file", path)
	}
	var b [12]byte
	n, err := f.ReadAt(b[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("calib: %w", err)
	}
	cut := fmt.Errorf("calib: %s: not a complete .npy file (the header is cut short)", path)
	if !strings.HasPrefix(string(b[:n]), npyMagic[:min(n, len(npyMagic))]) {
		return 0, nil
	}
	if n < len(npyMagic)+2 {
		return 0, cut
	}
	var start, hdrLen int64
	switch b[6] {
	case 1:
		start, hdrLen = 10, int64(binary.LittleEndian.Uint16(b[8:10]))
	case 2, 3:
		start, hdrLen = 12, int64(binary.LittleEndian.Uint32(b[8:12]))
	default:
		return 0, nil
	}
	if int64(n) < start || start+hdrLen > size {
		return 0, cut
	}
	return start + hdrLen, nil
}

// npyCall runs f, one call into npyio, turning a panic into an error for the caller to wrap
// with the file's name: npyio slices the header's fields without bounds checks, so a
// malformed header of the right length (no newline, no closing brace, …) panics instead of
// failing.
func npyCall(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("npyio panicked: %v", p)
		}
	}()
	return f()
}

// readAll reads all elements of nf as T, which must match its dtype.
func readAll[T any](nf *npyFile) ([]T, error) {
	x := make([]T, nf.n)
	if nf.n == 0 {
		return x, nil
	}
	if err := npyCall(func() error { return nf.r.Read(&x) }); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("calib: %s: file ends before its %d elements of shape %v: %w", nf.path, nf.n, nf.shape, err)
		}
		return nil, fmt.Errorf("calib: %s: reading data: %w", nf.path, err)
	}
	return x, nil
}

// readInts reads all elements of nf as T and converts them to int64.
func readInts[T int8 | int16 | int32 | uint8 | uint16 | uint32](nf *npyFile) ([]int64, error) {
	v, err := readAll[T](nf)
	if err != nil {
		return nil, err
	}
	x := make([]int64, len(v))
	for i, e := range v {
		x[i] = int64(e)
	}
	return x, nil
}

// SaveNPYUint8 writes x, of the given shape in C order, to the .npy file
// path as uint8. The file is written to a temporary file in the same
// directory and renamed into place, so path is never left half-written.
func SaveNPYUint8(path string, x []uint8, shape []int) error {
	return saveNPY(path, x, shape)
}

// SaveNPYInt64 writes x, of the given shape in C order, to the .npy file
// path as int64, atomically like SaveNPYUint8.
func SaveNPYInt64(path string, x []int64, shape []int) error {
	return saveNPY(path, x, shape)
}

// SaveNPYFloat32 writes x, of the given shape in C order, to the .npy file path as float32,
// atomically like SaveNPYUint8 (e.g. synthetic calibration images, already normalised).
func SaveNPYFloat32(path string, x []float32, shape []int) error {
	return saveNPY(path, x, shape)
}

func saveNPY[T uint8 | int64 | float32](path string, x []T, shape []int) (err error) {
	if len(shape) == 0 {
		return fmt.Errorf("calib: %s: no shape given", path)
	}
	n := 1
	for _, s := range shape {
		if s < 1 {
			return fmt.Errorf("calib: %s: shape %v: every dimension must be ≥ 1", path, shape)
		}
		n *= s
	}
	if n != len(x) {
		return fmt.Errorf("calib: %s: shape %v holds %d elements, got %d", path, shape, n, len(x))
	}

	err = atomicfile.Write(path, func(w io.Writer) error {
		return npy.Write(w, nestedSlices(reflect.ValueOf(x), shape).Interface())
	})
	if err != nil {
		return fmt.Errorf("calib: npy: %w", err)
	}
	return nil
}

// nestedSlices views the flat slice v as nested slices of the given shape
// (e.g. [][][][]uint8 for a 4-D shape), sharing v's memory, so that npy.Write
// records the shape.
func nestedSlices(v reflect.Value, shape []int) reflect.Value {
	if len(shape) == 1 {
		return v
	}
	inner := v.Len() / shape[0]
	t := v.Type()
	for range shape[1:] {
		t = reflect.SliceOf(t)
	}
	out := reflect.MakeSlice(t, shape[0], shape[0])
	for i := range shape[0] {
		out.Index(i).Set(nestedSlices(v.Slice(i*inner, (i+1)*inner), shape[1:]))
	}
	return out
}

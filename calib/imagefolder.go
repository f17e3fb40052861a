package calib

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // decoders for image.Decode
	_ "image/png"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/image/draw"

	"github.com/sharpq/sharpq/internal/parallel"
	"github.com/sharpq/sharpq/option"
)

// ImageFolder is an image folder laid out as torchvision's ImageFolder
// expects, listed and checked but not yet decoded: its images are decoded
// when read, so a folder larger than memory (ImageNet's 50000 validation
// images) can be evaluated batch by batch. It implements Images.
//
// dir holds one subfolder per class, and the classes, sorted by name, give
// the label indices (ClassNames lists them). Each class folder holds JPEG
// (.jpg, .jpeg) and PNG (.png) files, extensions in any case, possibly in
// nested folders; other files, and names starting with a dot, are skipped.
// Images are taken class by class, in name order within a class. A folder
// without class subfolders that holds images itself is read as images
// without labels (ImageLabels is nil), in name order: enough to calibrate on,
// or to compare two models on; Open can give such a folder labels from a
// file.
//
// Each image is decoded and, like PIL's convert("RGB"), any alpha channel is
// dropped. With p.Size > 0 it is resized to Size×Size (bilinear, antialiased
// when shrinking, ignoring the aspect ratio), with p.Resize > 0 so that its
// shorter side is Resize, and with p.Crop > 0 its centre Crop×Crop is cut out
// (torchvision's Resize and CenterCrop: Resize 256 and Crop 224 prepare
// images as its ImageNet evaluation does). All images must come out at one
// size. Each becomes three RGB channels, or with p.Grayscale one channel of
// BT.601 luma, scaled to [0,1], and is then normalised to (x - mean[c]) /
// std[c] with p.Mean and p.Std.
type ImageFolder struct {
	dir        string
	p          Preprocess
	c, h, w    int
	paths      []string
	labels     []int64
	classNames []string
	listed     int
}

// OpenImageFolder lists the image folder dir and reads every image's header,
// so that a folder with neither class subfolders nor images, a class folder without images,
// an image whose header does not decode, one smaller than p.Crop and images
// that would come out at different sizes (an error wrapping ErrImageSizes) are
// reported now, not after minutes of evaluation. Headers are read on every
// core; cancelling ctx stops the reading and returns ctx.Err().
//
// With n > 0 only n of the images are kept, spread evenly through the folder
// (image ⌊i·total/n⌋ for i = 0, …, n−1, so that every class is kept in
// proportion to its images; not the first class alone), and only their
// headers are read: a sample of a training folder of a million images costs
// what the sample costs. n ≤ 0, or n ≥ the images the folder holds, keeps them all.
func OpenImageFolder(ctx context.Context, dir string, p Preprocess, n int) (*ImageFolder, error) {
	return openImageFolder(ctx, dir, "", p, n)
}

// openImageFolder is OpenImageFolder with the labels of a folder without class subfolders
// read from the file labels ("": none; see folderLabels).
func openImageFolder(ctx context.Context, dir, labels string, p Preprocess, n int) (*ImageFolder, error) {
	channels := 3
	if p.Grayscale {
		channels = 1
	}
	if err := p.Validate(channels); err != nil {
		return nil, err
	}
	f := &ImageFolder{dir: dir, p: p, c: channels}
	if err := f.list(); err != nil {
		return nil, err
	}
	if labels != "" {
		if f.classNames != nil {
			return nil, fmt.Errorf("calib: labels file %s given, but %s is an image folder whose labels come from its subfolder names", labels, dir)
		}
		var err error
		if f.labels, err = folderLabels(labels, dir, f.paths); err != nil {
			return nil, err
		}
	}
	f.listed = len(f.paths)
	if n > 0 && n < f.listed {
		paths := make([]string, n)
		var kept []int64
		if f.labels != nil {
			kept = make([]int64, n)
		}
		for i := range n {
			j := i * f.listed / n
			paths[i] = f.paths[j]
			if kept != nil {
				kept[i] = f.labels[j]
			}
		}
		f.paths, f.labels = paths, kept
	}
	sizes := make([]image.Point, len(f.paths))
	err := forEach(ctx, len(f.paths), func(i int) error {
		w, h, err := decodeSize(f.paths[i])
		if err != nil {
			return err
		}
		sizes[i], err = f.outputSize(f.paths[i], w, h)
		return err
	})
	if err != nil {
		return nil, err
	}
	for i := range sizes {
		if sizes[i] != sizes[0] {
			return nil, f.sizesDiffer(i, 0, sizes)
		}
	}
	f.w, f.h = sizes[0].X, sizes[0].Y
	return f, nil
}

// list finds the classes and their images.
func (f *ImageFolder) list() error {
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return fmt.Errorf("calib: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		classDir := filepath.Join(f.dir, e.Name())
		if !e.IsDir() {
			// Follow symbolic links to folders, as torchvision does.
			fi, err := os.Stat(classDir)
			if err != nil || !fi.IsDir() {
				continue
			}
		}
		label := int64(len(f.classNames))
		before := len(f.paths)
		err := filepath.WalkDir(classDir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != classDir && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() && imageFormat(path) != "" {
				f.paths = append(f.paths, path)
				f.labels = append(f.labels, label)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("calib: image folder %s: %w", f.dir, err)
		}
		if len(f.paths) == before {
			return fmt.Errorf("calib: image folder %s: class folder %s has no JPEG or PNG images", f.dir, e.Name())
		}
		f.classNames = append(f.classNames, e.Name())
	}
	if len(f.classNames) > 0 {
		return nil
	}
	// No class subfolders: the images in the folder itself, without labels.
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || imageFormat(e.Name()) == "" {
			continue
		}
		if fi, err := os.Stat(filepath.Join(f.dir, e.Name())); err == nil && fi.Mode().IsRegular() {
			f.paths = append(f.paths, filepath.Join(f.dir, e.Name()))
		}
	}
	if len(f.paths) == 0 {
		return fmt.Errorf("calib: image folder %s has no class subfolders and no images: want one subfolder of JPEG/PNG images per class, or the images themselves (without labels)", f.dir)
	}
	f.labels = nil
	return nil
}

// outputSize returns the size a w×h image at path comes out at.
func (f *ImageFolder) outputSize(path string, w, h int) (image.Point, error) {
	switch {
	case f.p.Size > 0:
		w, h = f.p.Size, f.p.Size
	case f.p.Resize > 0:
		w, h = shorterSideTo(w, h, f.p.Resize)
	}
	if c := f.p.Crop; c > 0 {
		if w < c || h < c {
			return image.Point{}, fmt.Errorf("calib: %w", option.Errorf("Preprocess.Crop", "%s = %d: %s is %d×%d%s, smaller than the crop",
				c, path, w, h, resizedWord(f.p)))
		}
		w, h = c, c
	}
	return image.Pt(w, h), nil
}

func (f *ImageFolder) sizesDiffer(i, j int, sizes []image.Point) error {
	return fmt.Errorf("calib: image folder %s: %w: %s is %d×%d and %s %d×%d%s",
		f.dir, ErrImageSizes, f.paths[i], sizes[i].X, sizes[i].Y, f.paths[j], sizes[j].X, sizes[j].Y, resizedWord(f.p))
}

// Dims returns the number of images and the channels, height and width each comes out at.
func (f *ImageFolder) Dims() (n, c, h, w int) { return len(f.paths), f.c, f.h, f.w }

// ImageLabels returns each image's class index, from its class folder.
func (f *ImageFolder) ImageLabels() []int64 { return f.labels }

// Listed returns how many images the folder holds, of which OpenImageFolder's n kept Dims'
// first result.
func (f *ImageFolder) Listed() int { return f.listed }

// ClassNames returns the class folders' names, indexed by label.
func (f *ImageFolder) ClassNames() []string { return f.classNames }

// ReadImages decodes and prepares images start, start+1, … into dst, as many as it holds
// (len(dst) / (C·H·W)), on every core. A bad image is reported as the first bad one in
// folder order, whichever worker met it; cancelling ctx stops the decoding and returns
// ctx.Err().
func (f *ImageFolder) ReadImages(ctx context.Context, start int, dst []float32) error {
	sl := f.c * f.h * f.w
	n, err := readCount(len(f.paths), start, len(dst), sl)
	if err != nil {
		return err
	}
	err = forEach(ctx, n, func(i int) error {
		path := f.paths[start+i]
		img, err := loadImage(path, f.p)
		if err != nil {
			return err
		}
		// A file that changed since its header was read.
		if b := img.Bounds(); b.Dx() != f.w || b.Dy() != f.h {
			return fmt.Errorf("calib: image folder %s: %w: %s is %d×%d%s, the folder's images %d×%d",
				f.dir, ErrImageSizes, path, b.Dx(), b.Dy(), resizedWord(f.p), f.w, f.h)
		}
		toPlanes(dst[i*sl:(i+1)*sl], img, f.c)
		return nil
	})
	if err != nil {
		return err
	}
	f.p.normalize(dst, f.c, f.h*f.w)
	return nil
}

// readCount checks that dst, of values image values each, holds whole images that lie in
// [start, n), and returns how many it holds.
func readCount(n, start, values, sampleLen int) (int, error) {
	if sampleLen == 0 || values%sampleLen != 0 {
		return 0, fmt.Errorf("calib: reading into %d values: not whole images of %d values", values, sampleLen)
	}
	k := values / sampleLen
	if start < 0 || start+k > n {
		return 0, fmt.Errorf("calib: reading images %d to %d of %d", start, start+k, n)
	}
	return k, nil
}

// forEach calls fn(0), …, fn(n-1) on every core and returns the error of the lowest i that
// failed, whichever finished first, or ctx.Err() when ctx was cancelled.
func forEach(ctx context.Context, n int, fn func(i int) error) error {
	errs := make([]error, n)
	parallel.For(n, runtime.GOMAXPROCS(0), func(i int) {
		if ctx.Err() == nil {
			errs[i] = fn(i)
		}
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// LoadImageFolder reads the whole image folder dir into memory, prepared as
// OpenImageFolder describes. Images are decoded on every core; cancelling ctx
// stops the decoding and returns ctx.Err().
func LoadImageFolder(ctx context.Context, dir string, p Preprocess) (*Dataset, error) {
	f, err := OpenImageFolder(ctx, dir, p, 0)
	if err != nil {
		return nil, err
	}
	return f.Load(ctx)
}

// Load decodes every image of f into memory.
func (f *ImageFolder) Load(ctx context.Context) (*Dataset, error) { return ReadAll(ctx, f) }

// ErrImageSizes is wrapped by LoadImageFolder's error when a folder's images come out at
// different sizes: Preprocess.Size, or Preprocess.Crop, makes them one.
var ErrImageSizes = errors.New("images of different sizes")

// loadImage decodes the image at path without its alpha channel and resizes and crops it as
// p says.
func loadImage(path string, p Preprocess) (image.Image, error) {
	img, err := decodeImage(path)
	if err != nil {
		return nil, err
	}
	img = dropAlpha(img)
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	switch {
	case p.Size > 0:
		w, h = p.Size, p.Size
	case p.Resize > 0:
		w, h = shorterSideTo(w, h, p.Resize)
	}
	if w != b.Dx() || h != b.Dy() {
		dst := image.NewRGBA64(image.Rect(0, 0, w, h))
		draw.BiLinear.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
		img = dst
	}
	if p.Crop > 0 && (w != p.Crop || h != p.Crop) {
		if w < p.Crop || h < p.Crop {
			return nil, fmt.Errorf("calib: %w", option.Errorf("Preprocess.Crop", "%s = %d: %s is %d×%d%s, smaller than the crop",
				p.Crop, path, w, h, resizedWord(p)))
		}
		r := image.Rect(0, 0, p.Crop, p.Crop).Add(img.Bounds().Min).
			Add(image.Pt(centreOffset(w, p.Crop), centreOffset(h, p.Crop)))
		img = subImage(img, r)
	}
	return img, nil
}

// shorterSideTo returns the width and height of a w×h image resized so that its shorter
// side is size, the longer one truncated as torchvision's Resize truncates it.
func shorterSideTo(w, h, size int) (int, int) {
	if w <= h {
		return size, int(float64(size*h) / float64(w))
	}
	return int(float64(size*w) / float64(h)), size
}

// centreOffset returns where a crop of n pixels starts in a side of side pixels: half the
// difference rounded half to even, as torchvision's CenterCrop (Python's round) has it.
func centreOffset(side, n int) int {
	return int(math.RoundToEven(float64(side-n) / 2))
}

// resizedWord says "after resizing" when p resizes images, for errors about their size.
func resizedWord(p Preprocess) string {
	if p.Size > 0 || p.Resize > 0 {
		return " after resizing"
	}
	return ""
}

// subImage returns the part r of img, sharing its pixels where img's type allows.
func subImage(img image.Image, r image.Rectangle) image.Image {
	if s, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	}); ok {
		return s.SubImage(r)
	}
	dst := image.NewRGBA64(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Copy(dst, image.Point{}, img, r, draw.Src, nil)
	return dst
}

// imageFormat returns "jpeg" or "png" from path's extension, or "" for
// other files.
func imageFormat(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jpg", ".jpeg":
		return "jpeg"
	case ".png":
		return "png"
	}
	return ""
}

// maxImagePixels is the largest image decoded, PIL's limit (twice its MAX_IMAGE_PIXELS, where
// PIL raises DecompressionBombError): the decoders allocate the whole image from its header,
// so a 10 MB PNG declaring 60000×60000 pixels took 14 GB.
const maxImagePixels = 2 * 89478485

// decodeSize reads the width and height from the header of the image at path, and refuses
// an image of more than maxImagePixels.
func decodeSize(path string) (w, h int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("calib: %w", err)
	}
	defer f.Close()
	return configSize(f, path)
}

// configSize reads the size from the image header r holds.
func configSize(r io.Reader, path string) (w, h int, err error) {
	cfg, format, err := image.DecodeConfig(bufio.NewReader(r))
	if err != nil {
		return 0, 0, decodeError(path, format, err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxImagePixels {
		return 0, 0, fmt.Errorf("calib: %s: %d×%d pixels, more than the %d sharpq decodes (PIL's limit): downsize it, or leave it out",
			path, cfg.Width, cfg.Height, maxImagePixels)
	}
	return cfg.Width, cfg.Height, nil
}

// decodeImage decodes the image at path, after checking its size as decodeSize does. The
// format comes from the file's first bytes, not its name, as PIL finds it: ImageNet's
// training set holds a PNG and CMYK JPEGs named .JPEG.
func decodeImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("calib: %w", err)
	}
	defer f.Close()
	if _, _, err := configSize(f, path); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("calib: %w", err)
	}
	img, format, err := image.Decode(bufio.NewReader(f))
	if err != nil {
		return nil, decodeError(path, format, err)
	}
	return img, nil
}

func decodeError(path, format string, err error) error {
	if errors.Is(err, image.ErrFormat) {
		return fmt.Errorf("calib: %s: neither JPEG nor PNG data", path)
	}
	return fmt.Errorf("calib: %s: decoding %s: %w", path, format, err)
}

// dropAlpha returns img made opaque by discarding its alpha channel and
// keeping the stored colour values, as PIL's convert("RGB") does. Colour
// that only a premultiplied image held is lost where alpha is 0.
func dropAlpha(img image.Image) image.Image {
	if o, ok := img.(interface{ Opaque() bool }); ok && o.Opaque() {
		return img
	}
	switch m := img.(type) {
	case *image.NRGBA:
		out := &image.NRGBA{Pix: slices.Clone(m.Pix), Stride: m.Stride, Rect: m.Rect}
		for i := 3; i < len(out.Pix); i += 4 {
			out.Pix[i] = 0xff
		}
		return out
	case *image.NRGBA64:
		out := &image.NRGBA64{Pix: slices.Clone(m.Pix), Stride: m.Stride, Rect: m.Rect}
		for i := 6; i < len(out.Pix); i += 8 {
			out.Pix[i], out.Pix[i+1] = 0xff, 0xff
		}
		return out
	case *image.Paletted:
		pal := make(color.Palette, len(m.Palette))
		for i, c := range m.Palette {
			pal[i] = opaque(c)
		}
		return &image.Paletted{Pix: m.Pix, Stride: m.Stride, Rect: m.Rect, Palette: pal}
	}
	b := img.Bounds()
	out := image.NewNRGBA64(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			out.SetNRGBA64(x, y, opaque(img.At(x, y)))
		}
	}
	return out
}

// opaque returns c with its alpha set to the maximum and its colour values
// kept un-premultiplied.
func opaque(c color.Color) color.NRGBA64 {
	var n color.NRGBA64
	switch c := c.(type) {
	case color.NRGBA:
		n = color.NRGBA64{uint16(c.R) * 0x101, uint16(c.G) * 0x101, uint16(c.B) * 0x101, 0}
	case color.NRGBA64:
		n = c
	default:
		n = color.NRGBA64Model.Convert(c).(color.NRGBA64)
	}
	n.A = 0xffff
	return n
}

// toPlanes writes the opaque image img into dst as channels (1: luma,
// 3: RGB) planes of values in [0,1].
func toPlanes(dst []float32, img image.Image, channels int) {
	b := img.Bounds()
	hw := b.Dx() * b.Dy()
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			var r, g, bl uint32
			// Typed accessors avoid boxing each pixel in a color.Color.
			switch m := img.(type) {
			case *image.Gray:
				r, g, bl, _ = m.GrayAt(x, y).RGBA()
			case *image.Gray16:
				r, g, bl, _ = m.Gray16At(x, y).RGBA()
			case *image.YCbCr:
				r, g, bl, _ = m.YCbCrAt(x, y).RGBA()
			case *image.RGBA:
				r, g, bl, _ = m.RGBAAt(x, y).RGBA()
			case *image.NRGBA:
				r, g, bl, _ = m.NRGBAAt(x, y).RGBA()
			case *image.RGBA64:
				r, g, bl, _ = m.RGBA64At(x, y).RGBA()
			case *image.NRGBA64:
				r, g, bl, _ = m.NRGBA64At(x, y).RGBA()
			default:
				r, g, bl, _ = img.At(x, y).RGBA()
			}
			if channels == 1 {
				// color.Gray16Model's BT.601 weights; exact for gray pixels.
				luma := (19595*r + 38470*g + 7471*bl + 1<<15) >> 16
				dst[i] = float32(luma) / 0xffff
			} else {
				dst[i] = float32(r) / 0xffff
				dst[hw+i] = float32(g) / 0xffff
				dst[2*hw+i] = float32(bl) / 0xffff
			}
			i++
		}
	}
}

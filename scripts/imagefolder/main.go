// Command imagefolder writes an ImageNet-like image folder for measuring `sharpq eval` on
// folders: N JPEG photographs' stand-ins (smooth colour waves and noise, sizes as ImageNet's
// validation images come: 500×375, 375×500, 500×333, 640×480, 400×400) in ten class folders
// named as ImageNet's synsets, .JPEG as ImageNet spells it. The same flags write the same
// files.
//
//	go run ./scripts/imagefolder -o DIR [-n 1000] [-seed 0]
package main

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("o", "", "folder to write (created)")
	n := flag.Int("n", 1000, "images")
	seed := flag.Uint64("seed", 0, "random seed")
	flag.Parse()
	if *out == "" || *n < 1 {
		log.Fatal("usage: imagefolder -o DIR [-n N] [-seed S]")
	}
	rng := rand.New(rand.NewPCG(*seed, 0))
	sizes := []image.Point{{500, 375}, {375, 500}, {500, 333}, {640, 480}, {400, 400}}
	for i := range *n {
		class := filepath.Join(*out, fmt.Sprintf("n%08d", i%10))
		if err := os.MkdirAll(class, 0o755); err != nil {
			log.Fatal(err)
		}
		sz := sizes[i%len(sizes)]
		img := image.NewRGBA(image.Rect(0, 0, sz.X, sz.Y))
		fx, fy := float64(17+i%13), float64(23+i%7)
		for y := range sz.Y {
			for x := range sz.X {
				xf, yf := float64(x), float64(y)
				img.SetRGBA(x, y, color.RGBA{
					pixel(128 + 100*math.Sin(xf/fx+float64(i)) + 12*rng.NormFloat64()),
					pixel(128 + 100*math.Cos(yf/fy) + 12*rng.NormFloat64()),
					pixel(128 + 60*math.Sin((xf+yf)/31) + 12*rng.NormFloat64()),
					255,
				})
			}
		}
		f, err := os.Create(filepath.Join(class, fmt.Sprintf("ILSVRC_%05d.JPEG", i)))
		if err != nil {
			log.Fatal(err)
		}
		if err := jpeg.Encode(f, img, &jpeg.Options{Quality: 90}); err != nil {
			log.Fatal(err)
		}
		if err := f.Close(); err != nil {
			log.Fatal(err)
		}
	}
}

func pixel(v float64) uint8 { return uint8(max(0, min(255, math.Round(v)))) }

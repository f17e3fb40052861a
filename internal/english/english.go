// Package english writes counts in messages as English reads them.
package english

import (
	"fmt"
	"strings"
)

// Count writes n with noun, plural unless n is 1: "1 thread", "2 batches", "3 images". The
// plural adds -es after ch, s, sh or x and -s otherwise, which covers sharpq's nouns.
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	for _, end := range []string{"ch", "s", "sh", "x"} {
		if strings.HasSuffix(noun, end) {
			return fmt.Sprintf("%d %ses", n, noun)
		}
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

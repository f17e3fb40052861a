package option_test

import (
	"errors"
	"fmt"

	"github.com/sharpq/sharpq/option"
	"github.com/sharpq/sharpq/quantizer"
)

// A front end shows its own names for the library's settings, and an export step tells a wrong
// setting from a failed run.
func ExampleNames_Rename() {
	err := quantizer.Bits{Weight: 9, Activation: 4}.Validate()
	fmt.Println(err)
	var bad *option.Error
	fmt.Println(errors.As(err, &bad), bad.Name)
	shown := option.Names{"Bits.Weight": "--wbits"}.Rename(err)
	fmt.Println(shown)
	fmt.Println(errors.As(shown, &bad), bad.Name, errors.Is(shown, err))
	// Output:
	// quantizer: Bits.Weight = 9: sharpq supports 2 to 8 bits
	// true Bits.Weight
	// quantizer: --wbits 9: sharpq supports 2 to 8 bits
	// true --wbits true
}

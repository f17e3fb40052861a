package quantizer

// The steps Quantize runs, under the names the external tests (package quantizer_test)
// call them by: they test each step on its own, as a caller of the package never needs to.
var (
	NewPlan         = newPlan
	InitWeights     = initWeights
	CollectActs     = collectActs
	InitActs        = initActs
	Simulate        = simulate
	Export          = exportQDQ
	Equalize        = equalizePairs
	EqualizeStreams = equalizeStreams
	FindStreams     = findStreams
)

// Stream is a stream findStreams returns.
type Stream = stream

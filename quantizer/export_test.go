package quantizer

import "github.com/sharpq/sharpq/ir"

// The steps Quantize runs, under the names the external tests (package quantizer_test)
// call them by: they test each step on its own, as a caller of the package never needs to.
var (
	NewPlan         = newPlan
	CollectActs     = collectActs
	Simulate        = simulate
	Export          = exportQDQ
	Equalize        = equalizePairs
	EqualizeStreams = equalizeStreams
	FindStreams     = findStreams
)

// ActStats is an activation's statistics that CollectActs returns.
type ActStats = actStats

// Stream is a stream findStreams returns.
type Stream = stream

// InitWeights is initWeights on one goroutine.
func InitWeights(g *ir.Graph, p *Plan) error { return initWeights(g, p, 1) }

// InitActs is initActs on one goroutine.
func InitActs(p *Plan, samples map[string]*ActStats, norm float64) error {
	return initActs(p, samples, norm, 1)
}

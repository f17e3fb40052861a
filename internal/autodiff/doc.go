// Package autodiff is reverse-mode differentiation on the IR. Grad appends to a model the
// nodes that compute the gradient of a scalar loss with respect to chosen values, using only
// standard ONNX operators, so that one ONNX Runtime inference session computes the loss and
// its gradients together.
//
// Each operator's gradient is one Rule in an explicit registry keyed by (domain, op type);
// the rules live in one file per operator family (conv.go, pool.go, elementwise.go, …). A
// rule receives the forward node and the gradients of its outputs and returns one gradient
// per input, built with a Builder. An operator without a rule on the path from the
// differentiated values to the loss is an error naming the node.
//
// The package also defines sharpq's straight-through pseudo-ops RoundSTE and FloorSTE
// (domain "sharpq"): they differentiate as the identity and Lower rewrites them into ONNX
// Round and Floor once the gradients are built.
package autodiff

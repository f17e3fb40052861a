// Package quantizer turns a float model into a low-bit one: BN folding, the block partition
// used by reconstruction, fake-quant graphs, and the QDQ export.
package quantizer

// Package testmodels holds small committed fixtures (the bundled default model and an
// evaluation subset, see README.md) and Go builders for tiny models that unit tests use.
package testmodels

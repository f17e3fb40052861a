package ir

import "testing"

// TestEveryOpHasArity checks that arities lists exactly opTable's operators, so that adding an
// operator means saying how many inputs and outputs it takes.
func TestEveryOpHasArity(t *testing.T) {
	for domain, ops := range opTable {
		for op := range ops {
			if _, ok := arities[domain][op]; !ok {
				t.Errorf("operator %q of domain %q has no arity", op, domain)
			}
		}
	}
	for domain, ops := range arities {
		for op, a := range ops {
			if _, ok := opTable[domain][op]; !ok {
				t.Errorf("arity of %q (domain %q) names no operator of opTable", op, domain)
			}
			if a.minIn < 0 || (a.maxIn != many && a.maxIn < a.minIn) || (a.maxOut != many && a.maxOut < 1) {
				t.Errorf("%s: arity %+v", op, a)
			}
		}
	}
}

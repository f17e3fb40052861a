package train

import "math"

// StepDecay multiplies a group's learning rate by Gamma every Every steps (PyTorch's StepLR).
type StepDecay struct {
	Group *Group  // the group whose LR it sets
	Every int     // steps between decays; 0 or less never decays
	Gamma float64 // factor applied to the LR at each decay
}

// After updates the learning rate after step (1-based) has run.
func (s *StepDecay) After(step int) {
	if s.Every > 0 && step%s.Every == 0 {
		s.Group.LR *= s.Gamma
	}
}

// Plateau lowers a group's learning rate by Factor when the loss has not improved by more
// than a relative Threshold for Patience steps (PyTorch's ReduceLROnPlateau, mode "min",
// threshold mode "rel").
type Plateau struct {
	Group     *Group  // the group whose LR it sets
	Factor    float64 // default 0.1
	Patience  int     // default 10
	Threshold float64 // default 1e-4
	MinLR     float64 // a reduction never sets the LR below it (default 0)

	best float64
	bad  int
	init bool
}

// Observe records the loss of a step and adjusts the learning rate.
func (p *Plateau) Observe(loss float64) {
	factor, patience, thr := p.Factor, p.Patience, p.Threshold
	if factor == 0 {
		factor = 0.1
	}
	if patience == 0 {
		patience = 10
	}
	if thr == 0 {
		thr = 1e-4
	}
	if !p.init || loss < p.best*(1-thr) {
		p.best, p.bad, p.init = loss, 0, true
		return
	}
	p.bad++
	if p.bad > patience {
		p.Group.LR = math.Max(p.Group.LR*factor, p.MinLR)
		p.bad = 0
	}
}

// Cosine anneals a group's learning rate from its initial value to 0 over Steps steps along
// half a cosine (PyTorch's CosineAnnealingLR with eta_min 0).
type Cosine struct {
	Group *Group // the group whose LR it sets; its LR at the first After is the start value
	Steps int    // steps to reach 0; the LR stays there after; 0 or less leaves the LR alone

	base float64
}

// After sets the learning rate for the step after step (1-based).
func (s *Cosine) After(step int) {
	if s.base == 0 {
		s.base = s.Group.LR
	}
	if s.Steps <= 0 {
		return
	}
	s.Group.LR = s.base * (1 + math.Cos(math.Pi*float64(min(step, s.Steps))/float64(s.Steps))) / 2
}

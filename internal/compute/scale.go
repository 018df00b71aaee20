package compute

import (
	"fmt"
	"math"
	"time"
)

// scaleInput is what one evaluation of a target-tracking policy sees.
type scaleInput struct {
	target          float64
	min, max        int
	desired         int       // current desired count
	inService       int       // registered instances
	warmed          []float64 // metric of each warmed-up registered instance
	warming         int       // live instances still starting or warming up
	sinceLastAction time.Duration
	cooldown        time.Duration
	everScaled      bool
}

// decision is the outcome of one evaluation: Desired differs from the
// input's when the group should scale.
type decision struct {
	desired   int
	direction string // "out", "in" or "" (hold)
	held      string // why a wanted scale-in waits: "warm-up" or "cooldown"
	why       string
}

// decide applies target tracking: desired = ceil(average over warmed-up
// instances × instances in service / target), clamped to [min, max].
// Scale-out happens at once; scale-in waits until no instance is warming up
// and the cooldown since the last action has passed.
func decide(in scaleInput) decision {
	hold := decision{desired: in.desired}
	if len(in.warmed) == 0 || in.inService == 0 {
		hold.why = "no warmed-up instance to measure"
		return hold
	}
	var sum float64
	for _, v := range in.warmed {
		sum += v
	}
	avg := sum / float64(len(in.warmed))
	total := avg * float64(in.inService)
	// The small slack keeps 20.000000001/10 from asking for a third instance.
	want := int(math.Ceil(total/in.target - 1e-9))
	want = min(max(want, in.min), in.max)
	why := fmt.Sprintf("average %.2f per instance over %d warmed-up of %d in service, target %.2f: %d instances", avg, len(in.warmed), in.inService, in.target, want)
	switch {
	case want > in.desired:
		return decision{desired: want, direction: "out", why: why}
	case want < in.desired:
		if in.warming > 0 {
			hold.why, hold.held = why+"; scale-in held while instances warm up", "warm-up"
			return hold
		}
		if in.everScaled && in.sinceLastAction < in.cooldown {
			hold.why = why + fmt.Sprintf("; scale-in held for cooldown (%v left)", in.cooldown-in.sinceLastAction)
			hold.held = "cooldown"
			return hold
		}
		return decision{desired: want, direction: "in", why: why}
	}
	hold.why = why
	return hold
}

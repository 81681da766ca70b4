package core_test

import (
	"testing"

	"github.com/sessiond/sessiond/core"
)

func TestPolicyPatch_Apply_OmittedUnchangedNullClearsValueSets(t *testing.T) {
	set := func(v int) core.IntChange { return core.IntChange{Set: true, Value: intp(v)} }
	unset := core.IntChange{Set: true}
	old := core.PolicyOverride{IdleMinutes: intp(60), AbsoluteMinutes: intp(240)}

	cases := []struct {
		name      string
		patch     core.PolicyPatch
		idle, abs *int
	}{
		{"empty patch changes nothing", core.PolicyPatch{}, intp(60), intp(240)},
		{"idle set, absolute omitted", core.PolicyPatch{Idle: set(30)}, intp(30), intp(240)},
		{"absolute cleared, idle omitted", core.PolicyPatch{Absolute: unset}, intp(60), nil},
		{"both cleared", core.PolicyPatch{Idle: unset, Absolute: unset}, nil, nil},
		{"both set", core.PolicyPatch{Idle: set(15), Absolute: set(60)}, intp(15), intp(60)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.patch.Apply(old)
			if !eqIntp(got.IdleMinutes, c.idle) || !eqIntp(got.AbsoluteMinutes, c.abs) {
				t.Fatalf("Apply = {%v %v}, want {%v %v}", show(got.IdleMinutes), show(got.AbsoluteMinutes), show(c.idle), show(c.abs))
			}
		})
	}
	if *old.IdleMinutes != 60 || *old.AbsoluteMinutes != 240 {
		t.Fatal("Apply modified its argument")
	}
}

// A patch is validated as the whole override it produces: clearing the
// absolute override under a long idle one breaks the invariant against the
// absolute default.
func TestPolicyPatch_ClearingAbsoluteUnderLongIdle_BreaksEffectiveInvariant(t *testing.T) {
	s := core.DefaultPolicySettings()
	old := core.PolicyOverride{IdleMinutes: intp(43200), AbsoluteMinutes: intp(43200)}
	got := core.PolicyPatch{Absolute: core.IntChange{Set: true}}.Apply(old)
	wantError(t, s.ValidateOverride(got), core.CodePolicyInvariant, "idle_minutes",
		"effective idle (43200 min) cannot exceed effective absolute (20160 min)")
}

func eqIntp(a, b *int) bool { return (a == nil && b == nil) || (a != nil && b != nil && *a == *b) }

func show(p *int) any {
	if p == nil {
		return "null"
	}
	return *p
}

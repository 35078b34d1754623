package rules

import "testing"

// The one place a run's pass or fail is decided: check, diagnose and the
// JUnit report all ask Fails.
func TestFails(t *testing.T) {
	for _, tt := range []struct {
		action, failOn Action
		want           bool
	}{
		{Deny, Deny, true}, {Warn, Deny, false}, {Audit, Deny, false},
		{Deny, Warn, true}, {Warn, Warn, true}, {Audit, Warn, false},
		{Deny, Audit, true}, {Warn, Audit, true}, {Audit, Audit, true},
		{Off, Audit, false}, {Off, Off, false},
	} {
		if got := tt.action.Fails(tt.failOn); got != tt.want {
			t.Errorf("%s fails at %s: %v, want %v", tt.action, tt.failOn, got, tt.want)
		}
	}
	if !Failed([]Finding{{Action: Audit}, {Action: Warn}}, Warn) || Failed([]Finding{{Action: Audit}}, Warn) || Failed(nil, Audit) {
		t.Error("Failed is any finding that Fails")
	}
}

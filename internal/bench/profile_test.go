package bench

import (
	"testing"
)

func TestProfilesSetUp(t *testing.T) {
	for name, p := range profiles {
		if p.Name != name {
			t.Errorf("profile %q is named %q", name, p.Name)
		}
		if p.Admins < 1 || p.Operators <= p.Admins { // setUp needs an agent and an admin
			t.Errorf("%s: %d operators, %d admins", name, p.Operators, p.Admins)
		}
		if p.Dialers < 1 {
			t.Errorf("%s: no dialers", name)
		}
		if p.ReconnectRooms > 0 && (p.ReconnectWatch < 2 || p.ReconnectDrop >= p.ReconnectMeasure) {
			t.Errorf("%s: a storm needs a watcher that stays, one that drops, and its drop inside the window", name)
		}
	}
}

// The storm profile is issue 9's storm, 5,000 watchers resuming at once,
// and nothing else.
func TestStormProfile(t *testing.T) {
	p, err := LookupProfile("storm")
	if err != nil {
		t.Fatal(err)
	}
	if dropped := p.ReconnectRooms * (p.ReconnectWatch - 1); dropped != 5000 {
		t.Fatalf("the storm drops %d watchers, want 5000", dropped)
	}
	r := &runner{prof: p}
	for _, s := range Scenarios {
		if got := r.enabled(s, nil); got != (s == ScenarioReconnect) {
			t.Errorf("scenario %s enabled: %v", s, got)
		}
	}
	if got := r.roomsNeeded(); got != p.ReconnectRooms {
		t.Errorf("rooms set up: %d, want %d", got, p.ReconnectRooms)
	}
}

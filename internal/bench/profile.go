package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Profile is the load of a run: every size, rate and duration.
type Profile struct {
	Name string

	Operators int // livechat operators created (bcrypt makes each cost ~0.1 s); sockets share them
	Admins    int // of them, admins (the analytics subscribers and the trigger)
	Dialers   int // sockets opened in parallel

	Idle    int // sockets held by the idle scenario
	Connect int // sockets of the connect storm

	Rooms, Watchers  int           // the fan-out shape: rooms × (1 sender + watchers)
	Warmup, Measure  time.Duration // of a fan-out phase
	Rates            []float64     // fan-out rates, msgs/s in, all rooms together
	Drain            time.Duration // how long a phase waits for the last acks and deliveries
	Quiesce          time.Duration // how long to wait for an idle server between scenarios
	IdleSettle       time.Duration // the idle scenario's hold before reading RSS
	StepRates        []float64     // the step search, until p99 ≥ SLO or a loss
	StepWarmup       time.Duration
	StepMeasure      time.Duration
	SLO              time.Duration
	MixedRate        float64       // mixed: this fan-out rate, plain and then with side traffic
	TypingEvery      time.Duration // each watcher types (start, stop half-way) once per period
	StatusEvery      time.Duration // each watcher flips its status once per period
	ReconnectRooms   int
	ReconnectWatch   int // watchers per room; one per room stays, the others drop
	ReconnectRate    float64
	ReconnectDrop    time.Duration // after the warm-up
	ReconnectMeasure time.Duration
	Subscribers      int // analytics subscribers
	Triggers         int // analytics pushes, each a claim
	TriggerGap       time.Duration
}

// profiles: quick is `make bench` (about 3 minutes), full the long run,
// smoke CI's check of correctness (about 10 s of load), tiny the Go test's,
// storm the reconnect storm alone at issue 9's size (5,000 dropped).
var profiles = map[string]Profile{
	"quick": {
		Name: "quick", Operators: 100, Admins: 10, Dialers: 64,
		Idle: 2000, Connect: 1000,
		Rooms: 10, Watchers: 10, Warmup: 2 * time.Second, Measure: 10 * time.Second, Rates: []float64{1000},
		Drain: 10 * time.Second, Quiesce: 10 * time.Second, IdleSettle: 2 * time.Second,
		StepRates: []float64{500, 1000, 2000, 4000, 8000}, StepWarmup: time.Second, StepMeasure: 4 * time.Second, SLO: 50 * time.Millisecond,
		MixedRate: 500, TypingEvery: 2 * time.Second, StatusEvery: 10 * time.Second,
		ReconnectRooms: 10, ReconnectWatch: 30, ReconnectRate: 100, ReconnectDrop: 2 * time.Second, ReconnectMeasure: 8 * time.Second,
		Subscribers: 500, Triggers: 3, TriggerGap: 1500 * time.Millisecond,
	},
	"full": {
		Name: "full", Operators: 100, Admins: 10, Dialers: 64,
		Idle: 5000, Connect: 5000,
		Rooms: 10, Watchers: 10, Warmup: 2 * time.Second, Measure: 30 * time.Second, Rates: []float64{500, 1000, 3000},
		Drain: 30 * time.Second, Quiesce: 30 * time.Second, IdleSettle: 5 * time.Second,
		StepRates: []float64{250, 500, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12000, 16000}, StepWarmup: 2 * time.Second, StepMeasure: 10 * time.Second, SLO: 50 * time.Millisecond,
		MixedRate: 500, TypingEvery: 2 * time.Second, StatusEvery: 10 * time.Second,
		ReconnectRooms: 10, ReconnectWatch: 200, ReconnectRate: 100, ReconnectDrop: 5 * time.Second, ReconnectMeasure: 20 * time.Second,
		Subscribers: 5000, Triggers: 5, TriggerGap: 1500 * time.Millisecond,
	},
	// storm: only the reconnect scenario has load, 100 rooms × 51 watchers
	// (all but one a room drop), 1 msg/s a room: 5,100 deliveries/s, well
	// within one core, so the storm measures the rejoin and not the
	// fan-out (10 rooms × 501 at 100 msgs/s is 50k deliveries/s, more than
	// livechat delivers on one core).
	"storm": {
		Name: "storm", Operators: 100, Admins: 10, Dialers: 64,
		Warmup: 2 * time.Second, Drain: 30 * time.Second, Quiesce: 10 * time.Second, SLO: 50 * time.Millisecond,
		ReconnectRooms: 100, ReconnectWatch: 51, ReconnectRate: 100, ReconnectDrop: 5 * time.Second, ReconnectMeasure: 30 * time.Second,
	},
	"smoke": {
		Name: "smoke", Operators: 4, Admins: 1, Dialers: 16,
		Idle: 40, Connect: 40,
		Rooms: 2, Watchers: 3, Warmup: time.Second, Measure: 3 * time.Second, Rates: []float64{50},
		Drain: 10 * time.Second, Quiesce: 5 * time.Second, IdleSettle: 500 * time.Millisecond,
		SLO:       50 * time.Millisecond,
		MixedRate: 50, TypingEvery: time.Second, StatusEvery: 2 * time.Second,
		ReconnectRooms: 2, ReconnectWatch: 4, ReconnectRate: 40, ReconnectDrop: time.Second, ReconnectMeasure: 3 * time.Second,
		Subscribers: 8, Triggers: 1, TriggerGap: 1200 * time.Millisecond,
	},
	"tiny": {
		Name: "tiny", Operators: 2, Admins: 1, Dialers: 4,
		Idle: 6, Connect: 6,
		Rooms: 1, Watchers: 2, Warmup: 300 * time.Millisecond, Measure: time.Second, Rates: []float64{20},
		Drain: 10 * time.Second, Quiesce: 2 * time.Second, IdleSettle: 100 * time.Millisecond,
		SLO:       50 * time.Millisecond,
		MixedRate: 20, TypingEvery: 400 * time.Millisecond, StatusEvery: 500 * time.Millisecond,
		ReconnectRooms: 1, ReconnectWatch: 3, ReconnectRate: 20, ReconnectDrop: 300 * time.Millisecond, ReconnectMeasure: time.Second,
		Subscribers: 2, Triggers: 1, TriggerGap: 1100 * time.Millisecond,
	},
}

// ProfileNames lists the profiles, for usage text.
func ProfileNames() string {
	names := make([]string, 0, len(profiles))
	for n := range profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// LookupProfile returns the named profile.
func LookupProfile(name string) (Profile, error) {
	p, ok := profiles[name]
	if !ok {
		return Profile{}, fmt.Errorf("unknown profile %q (one of %s)", name, ProfileNames())
	}
	return p, nil
}

// Scenario names, in the order a run goes through them.
const (
	ScenarioIdle      = "idle"
	ScenarioConnect   = "connect"
	ScenarioFanout    = "fanout"
	ScenarioStep      = "step"
	ScenarioMixed     = "mixed"
	ScenarioReconnect = "reconnect"
	ScenarioAnalytics = "analytics"
)

// Scenarios is every scenario, in run order: the lighter loads first, so
// that what a saturating one leaves behind (an outbox backlog) weighs on
// no other measurement; the fan-out last.
var Scenarios = []string{ScenarioIdle, ScenarioConnect, ScenarioAnalytics, ScenarioReconnect, ScenarioMixed, ScenarioStep, ScenarioFanout}

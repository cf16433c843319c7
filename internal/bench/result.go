package bench

import (
	"livechat/internal/bench/hist"
)

// Result is one row of the report: one scenario (or one step of it) on
// one target. Fields a scenario does not measure stay zero and are left
// out of the JSON.
type Result struct {
	Target   string `json:"target"`
	Scenario string `json:"scenario"`
	Params   Params `json:"params"`

	// Message scenarios (fan-out, step, mixed, reconnect).
	Sent           int           `json:"sent,omitempty"`
	Acked          int           `json:"acked,omitempty"`
	Unacked        int           `json:"unacked,omitempty"` // never acknowledged within the drain
	Failed         int           `json:"failed,omitempty"`  // answered with an error frame
	Counts         *counts       `json:"counts,omitempty"`
	Rooms          []RoomCounts  `json:"rooms,omitempty"`            // the same, room by room
	RateIn         float64       `json:"msgs_in_per_s,omitempty"`    // offered, in the window
	Throughput     float64       `json:"msgs_acked_per_s,omitempty"` // acknowledged, in the window
	DeliveriesPerS float64       `json:"deliveries_per_s,omitempty"` // delivered, in the window
	Deliver        *hist.Summary `json:"deliver_ms,omitempty"`       // intended send → new_message on a watcher
	Ack            *hist.Summary `json:"ack_ms,omitempty"`           // intended send → message_sent on the sender
	DrainMS        float64       `json:"drain_ms,omitempty"`         // after the schedule, until all arrived
	DrainTimedOut  bool          `json:"drain_timed_out,omitempty"`

	// What the LINE outbox pushed to the fake LINE (livechat targets the
	// bench started), settled when the target stopped.
	Line      *LineFigures `json:"line,omitempty"`
	linePhase *linePhase

	// Server and bench resources over the measurement window.
	Server           *Usage  `json:"server,omitempty"`
	Bench            *Bench  `json:"bench,omitempty"`
	DeliveriesPerCPU float64 `json:"deliveries_per_server_cpu_s,omitempty"`

	// Idle and connect storm.
	Sockets       int           `json:"sockets,omitempty"`
	KBPerSocket   float64       `json:"kb_per_socket,omitempty"`
	ConnsPerS     float64       `json:"conns_per_s,omitempty"`
	Connect       *hist.Summary `json:"connect_ms,omitempty"` // dial → authenticated (and joined)
	ConnectErrors int           `json:"connect_errors,omitempty"`

	// Reconnect storm.
	Dropped      int     `json:"dropped,omitempty"`
	BackMS       float64 `json:"all_back_ms,omitempty"` // drop → the last rejoined
	Missed       int     `json:"missed,omitempty"`      // acknowledged after a rejoin's history, never delivered
	SteadyCounts *counts `json:"steady,omitempty"`      // the watchers that stayed

	// Mixed traffic.
	Mixed *Mixed `json:"mixed,omitempty"`

	// Analytics push.
	Subscribers int           `json:"subscribers,omitempty"`
	Triggers    int           `json:"triggers,omitempty"`
	LastMS      []float64     `json:"last_ms,omitempty"` // per trigger, the time until the last subscriber had it
	Push        *hist.Summary `json:"push_ms,omitempty"` // every subscriber's receipt
	NotReceived int           `json:"not_received,omitempty"`

	// Step search.
	Sustained float64 `json:"sustained_msgs_per_s,omitempty"` // the highest step that held
	SLOms     float64 `json:"slo_p99_ms,omitempty"`

	Errors map[string]int `json:"errors,omitempty"`
	Note   string         `json:"note,omitempty"`
	Pass   *bool          `json:"pass,omitempty"` // steps: whether it held the SLO without loss
}

// RoomCounts is one room's accounting in a phase.
type RoomCounts struct {
	Room     string `json:"room"` // its line_user_id
	Acked    int    `json:"acked"`
	Watchers int    `json:"watchers"`           // counted from the start
	Rejoined int    `json:"rejoined,omitempty"` // counted from their rejoin
	Missed   int    `json:"missed,omitempty"`
	counts
}

// LineFigures is what reached LINE of a phase's messages.
type LineFigures struct {
	Pushed  int          `json:"pushed"` // delivered to the fake LINE by the time the target stopped
	Stored  int          `json:"stored"` // sent and not refused: what the outbox owes LINE
	Latency hist.Summary `json:"latency_ms"`
}

// Params are a scenario's load parameters.
type Params struct {
	Rooms    int     `json:"rooms,omitempty"`
	Watchers int     `json:"watchers,omitempty"` // per room, besides the sender
	Rate     float64 `json:"rate,omitempty"`     // msgs/s offered, all rooms together
	WarmupS  float64 `json:"warmup_s,omitempty"`
	MeasureS float64 `json:"measure_s,omitempty"`
	Sockets  int     `json:"sockets,omitempty"`
	Payload  int     `json:"payload_bytes,omitempty"`
}

// Usage is what the server processes used in a window.
type Usage struct {
	CPUSeconds float64 `json:"cpu_s"`
	CPUPercent float64 `json:"cpu_percent"` // of one core
	// WaitPercent is the time its threads were ready to run but had no
	// CPU (others had it: other processes, or, on one CPU, its own other
	// threads), as a share of the window; far above a quiet run's: noise.
	WaitPercent float64 `json:"cpu_wait_percent"`
	RSSKB       int64   `json:"rss_kb"` // at the end, summed over instances
	PeakKB      int64   `json:"rss_peak_kb"`
}

// Bench is what the load generator used.
type Bench struct {
	CPUSeconds  float64 `json:"cpu_s"`
	WaitPercent float64 `json:"cpu_wait_percent"`       // as the server's
	LagMaxMS    float64 `json:"generator_lag_max_ms"`   // a timer firing late, the generator's own lag
	Behind      int     `json:"sends_behind,omitempty"` // sends issued > 1 ms late because the socket pushed back
	Lagging     bool    `json:"generator_lag"`          // lag over 5 ms: the load was not what was asked
}

// Mixed is the side traffic of the mixed scenario.
type Mixed struct {
	TypingSent      int     `json:"typing_sent"`
	StatusSent      int     `json:"status_sent"`
	TypingReceived  int     `json:"typing_indicators_received"`
	PresenceRecv    int     `json:"presence_updates_received"`
	PlainP99MS      float64 `json:"plain_p99_ms"`       // the same fan-out just before, without it
	P99Ratio        float64 `json:"p99_ratio_to_plain"` // mixed p99 / plain p99
	PlainDeliverCPU float64 `json:"plain_deliveries_per_server_cpu_s"`
}

func ptr[T any](v T) *T { return &v }

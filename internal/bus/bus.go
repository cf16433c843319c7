// Package bus fans server frames out to every instance. Memory is the
// in-process default (one instance); Redis carries the same messages across
// instances over pub/sub. Either way Publish hands a message to the
// publishing instance's handlers itself, synchronously and in publish
// order, so this instance's sockets never wait for Redis; every other
// instance gets it once through its subscription, and the publisher skips
// its own when Redis sends it back, so there is no echo.
package bus

import (
	"context"
	"encoding/json"
)

// Audience kinds.
const (
	All       = "all"       // every authenticated socket
	Room      = "room"      // sockets whose current room is Audience.Room
	Operator  = "operator"  // every socket of Audience.OperatorID
	Analytics = "analytics" // sockets subscribed to analytics
	// Presence is every authenticated socket, each after the full presence
	// list it gets when it authenticates. A socket still waiting for that
	// list gets another instance's frame after it, and none of its own
	// instance's: those read the state before the list did.
	Presence = "presence"
	// Inbox is a customer message's inbox row (conversation_update, list
	// variant) for every online operator, whose unread count each
	// instance fills in; Room is the conversation, Seq the message's.
	Inbox = "inbox"
	// Status is an operator's new status (Frame, a JSON string), for its
	// sockets on the other instances.
	Status = "status"
	// Disconnect is an order, not a frame: close every socket of
	// Audience.OperatorID; Frame is the close reason, a JSON string.
	Disconnect = "disconnect"
	// KPIs is a hint, not a frame: the live KPIs may have moved on the
	// publishing instance; the instance that computes them for every
	// instance (ws: the KPI lease's holder) pushes them.
	KPIs = "kpis"
	// Resync is the bus's own, never handed to a handler: the publishing
	// instance dropped messages for the others (Redis was down for it, or
	// its queue was full), which may not reach them otherwise; each runs
	// its reconnect hooks.
	Resync = "resync"
)

// Audience selects the sockets a frame goes to.
type Audience struct {
	Kind            string `json:"kind"`
	Room            string `json:"room,omitempty"`
	OperatorID      int64  `json:"operator_id,omitempty"`
	ExcludeConn     string `json:"exclude_conn,omitempty"`     // one socket (e.g. the sending tab)
	ExcludeOperator int64  `json:"exclude_operator,omitempty"` // every socket of one operator
	// WithAnalytics adds the analytics subscribers to an Operator audience;
	// a socket in both gets the frame once.
	WithAnalytics bool `json:"with_analytics,omitempty"`
}

// Message is one frame for an audience.
type Message struct {
	Origin   string          `json:"origin"` // publishing instance
	Audience Audience        `json:"audience"`
	Frame    json.RawMessage `json:"frame"`
	// Seq is a room's new_message seq (0 for other frames): a socket whose
	// join answer already carried that message skips it.
	Seq int64 `json:"seq,omitempty"`
}

// Handler receives every published message.
type Handler func(Message)

// Bus publishes messages to every instance's handler.
type Bus interface {
	// Publish hands m to every subscribed handler of every instance: this
	// instance's before it returns, the others' as the medium carries it
	// (at most once: a medium that is down drops it for them, not for
	// this instance).
	Publish(ctx context.Context, m Message) error
	// Subscribe registers this instance's handler; call it before Publish.
	Subscribe(h Handler)
	// Close stops delivery and releases resources.
	Close() error
}

// Shared is a bus over a medium the instances share (Redis), which can
// go away and come back. Memory has none.
type Shared interface {
	Bus
	// Healthy reports whether the medium is up as far as the bus knows.
	Healthy() bool
	// OnReconnect registers a func called each time the bus receives from
	// the other instances again after a loss, or another instance says it
	// dropped messages for the others: what was published meanwhile never
	// arrives, and this is the hook to refill it.
	OnReconnect(f func())
}

// Rooms is a bus that carries a room's frames only to the instances
// watching the room (Redis, on a channel per room); on Memory every
// handler gets everything.
type Rooms interface {
	// Watch starts receiving room's frames from the other instances, until
	// as many Unwatch calls; it returns once they will arrive, as far as
	// the medium can tell in a bounded wait.
	Watch(ctx context.Context, room string)
	// Unwatch undoes one Watch. It never blocks.
	Unwatch(room string)
}

var (
	_ Shared = (*Redis)(nil)
	_ Rooms  = (*Redis)(nil)
)

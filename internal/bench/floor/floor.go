// Package floor is the physical floor the bench measures livechat against,
// in the same run: a minimal gorilla/websocket room server that speaks just
// enough of the operator protocol (auth, join_room, send_message, ping; the
// same {type, payload, timestamp} envelope) for one load generator to drive
// both, and does nothing a chat server does beyond that: no real auth, no
// rate limits, no outbox. It is what the transport costs: one
// PreparedMessage per broadcast, a writer goroutine per socket with a
// bounded queue, small buffers with a WriteBufferPool, and optionally one
// SQLite insert per message (the store floor).
package floor

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Queue is the frames queued per socket; a socket that falls this far
// behind is dropped, as livechat drops a slow consumer.
const Queue = 256

const writeWait = 10 * time.Second

// Server is the floor. It is an http.Handler for the socket on any path.
type Server struct {
	log      *slog.Logger
	store    *Store // nil: messages are not persisted
	upgrader websocket.Upgrader
	ids      atomic.Int64

	mu      sync.Mutex
	rooms   map[string]*room
	clients map[*client]struct{}
	wg      sync.WaitGroup // two per socket: its reader and writer
}

type room struct {
	id      string     // the line_user_id joined
	mu      sync.Mutex // orders seq and the broadcast of each message
	seq     int64
	members map[*client]struct{}
}

type client struct {
	ws   *websocket.Conn
	send chan *websocket.PreparedMessage
	quit chan struct{}
	once sync.Once
	room *room // the reader goroutine's
}

// New returns a floor server; store may be nil.
func New(store *Store, log *slog.Logger) *Server {
	return &Server{
		log:   log,
		store: store,
		upgrader: websocket.Upgrader{
			ReadBufferSize: 1024, WriteBufferSize: 1024, WriteBufferPool: &sync.Pool{},
			CheckOrigin: func(*http.Request) bool { return true },
		},
		rooms:   map[string]*room{},
		clients: map[*client]struct{}{},
	}
}

// ServeHTTP upgrades and returns: the socket's loops run in their own
// goroutines, so net/http's buffers and the handler's stack are not pinned.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &client{ws: ws, send: make(chan *websocket.PreparedMessage, Queue), quit: make(chan struct{})}
	s.mu.Lock()
	s.clients[c] = struct{}{}
	s.wg.Add(2)
	s.mu.Unlock()
	go func() { defer s.wg.Done(); c.write() }()
	go func() { defer s.wg.Done(); s.read(c) }()
}

// Close drops every socket and waits for their goroutines.
func (s *Server) Close() {
	s.mu.Lock()
	for c := range s.clients {
		_ = c.ws.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (c *client) stop() { c.once.Do(func() { close(c.quit) }) }

// enqueue never blocks: a full queue drops the socket.
func (c *client) enqueue(pm *websocket.PreparedMessage) {
	select {
	case c.send <- pm:
	default:
		c.stop()
	}
}

func (c *client) write() {
	defer c.ws.Close()
	for {
		select {
		case <-c.quit:
			return
		case pm := <-c.send:
			_ = c.ws.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.ws.WritePreparedMessage(pm); err != nil {
				c.stop()
				return
			}
		}
	}
}

type inbound struct {
	Type    string `json:"type"`
	Payload struct {
		LineUserID string `json:"line_user_id"`
		Text       string `json:"text"`
		TempID     string `json:"temp_id"`
	} `json:"payload"`
}

func (s *Server) read(c *client) {
	defer func() {
		s.leave(c)
		c.stop()
		s.mu.Lock()
		delete(s.clients, c)
		s.mu.Unlock()
	}()
	ctx := context.Background()
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		var in inbound
		if json.Unmarshal(data, &in) != nil {
			continue
		}
		switch in.Type {
		case "auth":
			c.enqueue(frame("auth_success", map[string]string{"admin_id": "1"}))
		case "ping":
			c.enqueue(frame("pong", map[string]any{"server_time": time.Now().UTC()}))
		case "join_room":
			s.join(c, in.Payload.LineUserID)
		case "send_message":
			s.sendMessage(ctx, c, in.Payload.Text, in.Payload.TempID)
		}
	}
}

// join moves c into room id and answers with the room's last seq: every
// message after it reaches c live.
func (s *Server) join(c *client, id string) {
	s.leave(c)
	s.mu.Lock()
	r := s.rooms[id]
	if r == nil {
		r = &room{id: id, members: map[*client]struct{}{}}
		s.rooms[id] = r
	}
	s.mu.Unlock()
	r.mu.Lock()
	r.members[c] = struct{}{}
	seq := r.seq
	r.mu.Unlock()
	c.room = r
	c.enqueue(frame("conversation_update", map[string]any{"line_user_id": id, "last_seq": seq, "messages": []any{}}))
}

func (s *Server) leave(c *client) {
	if r := c.room; r != nil {
		r.mu.Lock()
		delete(r.members, c)
		r.mu.Unlock()
		c.room = nil
	}
}

// message is the part of the spec's ChatMessage the floor fills.
type message struct {
	ID          int64     `json:"id"`
	Seq         int64     `json:"seq"`
	LineUserID  string    `json:"line_user_id"`
	Direction   string    `json:"direction"`
	MessageType string    `json:"message_type"`
	Content     string    `json:"content"`
	TempID      string    `json:"temp_id,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

func (s *Server) sendMessage(ctx context.Context, c *client, text, tempID string) {
	r := c.room
	if r == nil {
		c.enqueue(frame("error", map[string]string{"code": "not_in_room", "message": "Join a room first", "request_type": "send_message"}))
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m := message{Seq: r.seq + 1, LineUserID: r.id, Direction: "OUTGOING", MessageType: "text", Content: text, TempID: tempID, CreatedAt: time.Now().UTC()}
	if s.store != nil {
		id, err := s.store.Insert(ctx, m.LineUserID, m.Seq, tempID, text, m.CreatedAt)
		if err != nil {
			s.log.Error("floor: insert message", "err", err)
			c.enqueue(frame("error", map[string]string{"code": "internal_error", "message": "Internal error", "request_type": "send_message"}))
			return
		}
		m.ID = id
	} else {
		m.ID = s.ids.Add(1)
	}
	r.seq = m.Seq
	c.enqueue(frame("message_sent", m))
	pm := frame("new_message", m) // one encoding for the whole room
	for o := range r.members {
		if o != c {
			o.enqueue(pm)
		}
	}
}

// frame encodes one server frame in the protocol's envelope, once.
func frame(typ string, payload any) *websocket.PreparedMessage {
	data, err := json.Marshal(struct {
		Type      string    `json:"type"`
		Payload   any       `json:"payload"`
		Timestamp time.Time `json:"timestamp"`
	}{typ, payload, time.Now().UTC()})
	if err != nil {
		panic("floor: encode " + typ + ": " + err.Error()) // the payloads are ours: a programmer error
	}
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, data)
	if err != nil {
		panic("floor: prepare " + typ + ": " + err.Error())
	}
	return pm
}

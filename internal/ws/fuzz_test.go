package ws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"livechat/asyncapi"
	lc "livechat/gen/livechat"
	"livechat/internal/auth"
	"livechat/internal/bus"
	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/contract"
	"livechat/internal/errcode"
	"livechat/internal/mediaurl"
	delivery "livechat/internal/outbound"
	"livechat/internal/ratelimit"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
	"livechat/internal/wire"
)

// FuzzFrame feeds raw bytes to the inbound pipeline of an authenticated
// socket (JSON, type, auth, rate limit, schema, Dispatch) and checks what
// comes out. setup picks where the socket stands before the frame: its
// room (none, or a customer whose session is ACTIVE and the agent's,
// WAITING, ACTIVE and another agent's, or not open), whether the socket is
// the agent's or an admin's, and whether its rate-limit budget is spent.
//
// Properties, per input: no panic; every frame queued on any socket is a
// server event that validates strictly against the spec, and no socket is
// closed; at most one error frame, to the sender only, with a code of the
// spec's enum that is not internal_error and the request's type when it
// had a known one; a frame that was not refused is a client event and gets
// that event's answer and nothing else (answers); a frame answered with an
// error changed no row, and one that was not changed only the tables its
// type may write; a spent budget answers every event but ping with
// rate_limit_exceeded; nothing is logged at error level.
//
// The hub and its SQLite store live for the whole run. Each input starts
// from the same fixture: the sessions, the socket's room, typing, analytics
// and status subscriptions and the KPI and presence pushes are put back
// after every input that moved them. Messages sent and read markers stay: a
// join then returns a longer history or finds its marker set, which no
// property depends on.
func FuzzFrame(f *testing.F) {
	fx := newFrameFixture(f)
	for _, s := range frameSeeds(f) {
		f.Add(s.setup, []byte(s.frame))
	}
	f.Fuzz(func(t *testing.T, setup uint8, frame []byte) {
		fx.run(t, setup, frame)
	})
}

// The fixture's customers, one per room a socket can start in.
const (
	custActive  = "U0123456789abcdef0123456789abcdef" // ACTIVE, the agent's (the spec's example id)
	custWaiting = "Ufedcba9876543210fedcba9876543210" // WAITING
	custOther   = "U00000000000000000000000000000001" // ACTIVE, another agent's
	custNone    = "U00000000000000000000000000000002" // no open session
)

// fuzzRooms are what setup's low three bits pick (modulo).
var fuzzRooms = []string{"", custActive, custWaiting, custOther, custNone}

const (
	setupAdmin   = 1 << 3 // the admin's socket instead of the agent's
	setupLimited = 1 << 4 // the operator's budget is spent
)

type frameFixture struct {
	db     *store.DB
	hub    *Hub
	clk    *clock.Fake
	strict *contract.Validator
	errs   *errorLog

	agent, admin, other chat.Operator
	actors              [2]*events // the agent's and the admin's socket
	watcher             *events    // the other agent's socket, in custActive's room
	want                map[string]openSession

	open, spent [2]*ratelimit.Limiter // {events, typing}
	last        dbState               // the state after the last input
}

// openSession is a fixture session: none, or its status and owner.
type openSession struct {
	status chat.Status
	owner  int64
}

func newFrameFixture(f *testing.F) *frameFixture {
	ctx := context.Background()
	db := storetest.Open(f, store.SQLite)
	clk := clock.NewFake(time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC))
	errs := &errorLog{}
	log := slog.New(errs)
	validator, err := contract.New(asyncapi.YAML)
	if err != nil {
		f.Fatal(err)
	}
	strict, err := contract.New(asyncapi.YAML, contract.Strict())
	if err != nil {
		f.Fatal(err)
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	tokens := auth.NewTokens(secret, clk)
	bkk, err := time.LoadLocation("Asia/Bangkok")
	if err != nil {
		f.Fatal(err)
	}
	svc := chat.NewService(db, clk, delivery.NewRecorder(), log, bkk)
	b := bus.NewMemory()
	fx := &frameFixture{
		db: db, clk: clk, strict: strict, errs: errs,
		// Raised far beyond what a run sends, so inputs reach the handlers.
		open:  [2]*ratelimit.Limiter{ratelimit.New(1e9, 1e9, clk), ratelimit.New(1e9, 1e9, clk)},
		spent: [2]*ratelimit.Limiter{ratelimit.New(10, 0, clk), ratelimit.New(5, 0, clk)},
	}
	fx.hub = NewHub(Options{InstanceID: "fuzz"}, Deps{
		Store: db, Service: svc, Tokens: tokens, Bus: b, Validator: validator, Clock: clk, Log: log,
		Limit: fx.open[0], Typing: fx.open[1],
		Wire: wire.New(mediaurl.New(secret, mediaurl.DefaultTTL, clk)),
	})
	svc.SetNotifier(fx.hub)

	// Operators 1 to 7, so that the spec's example transfer target (7)
	// exists; 4 is disabled.
	fx.agent = storetest.Operator(f, db, "alice", chat.RoleAgent)
	fx.admin = storetest.Operator(f, db, "root", chat.RoleAdmin)
	fx.other = storetest.Operator(f, db, "carol", chat.RoleAgent)
	disabled := storetest.Operator(f, db, "dan", chat.RoleAgent)
	if err := db.SetOperatorActive(ctx, disabled.ID, false); err != nil {
		f.Fatal(err)
	}
	storetest.Operator(f, db, "erin", chat.RoleSupervisor)
	storetest.Operator(f, db, "frank", chat.RoleAgent)
	if g := storetest.Operator(f, db, "grace", chat.RoleAgent); g.ID != 7 {
		f.Fatalf("operator ids: grace is %d, want 7", g.ID)
	}

	fx.want = map[string]openSession{
		custActive:  {chat.StatusActive, fx.agent.ID},
		custWaiting: {status: chat.StatusWaiting},
		custOther:   {chat.StatusActive, fx.other.ID},
		custNone:    {},
	}
	for _, id := range fuzzRooms[1:] {
		if _, err := db.UpsertCustomer(ctx, chat.Customer{LineUserID: id, DisplayName: "Customer " + id[len(id)-4:]}); err != nil {
			f.Fatal(err)
		}
		// A history with the payloads a join shows: text, and media
		// whose URLs are signed for the socket.
		for _, m := range []chat.Message{
			{Content: "I need a human", Payload: json.RawMessage(`{"line_message_id":"4680000000000","quote_token":"q"}`)},
			{Content: "[image]", MessageType: "image", Payload: json.RawMessage(`{"line_message_id":"4680000000001","content_provider":"line"}`)},
			{Content: "[file]", MessageType: "file", Payload: json.RawMessage(`{"line_message_id":"4680000000002","content_provider":"line","file_name":"a.pdf","file_size":1024}`)},
		} {
			m.LineUserID = id
			if _, err := svc.CustomerMessage(ctx, m); err != nil {
				f.Fatal(err)
			}
		}
	}
	fx.restoreSessions(f)

	fx.actors[0] = fx.login(f, fx.agent, tokens)
	fx.actors[1] = fx.login(f, fx.admin, tokens)
	fx.watcher = fx.login(f, fx.other, tokens)
	fx.watcher.handle(ctx, []byte(`{"type":"join_room","payload":{"line_user_id":"`+custActive+`"}}`))
	if got := fx.hub.currentRoom(fx.watcher.c); got != custActive {
		f.Fatalf("watcher in room %q", got)
	}
	fx.last = fx.snapshot(f)
	fx.restore(f)

	f.Cleanup(func() {
		for _, e := range append(fx.actors[:], fx.watcher) {
			e.c.shutdown()
			e.c.stopTimers()
			fx.hub.ended(ctx, e.c) // what serve does when a socket ends
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := fx.hub.Close(ctx); err != nil {
			f.Errorf("hub close: %v", err)
		}
		b.Close()
	})
	return fx
}

// login makes a socket the way ServeHTTP does and authenticates it with a
// real auth frame.
func (fx *frameFixture) login(tb testing.TB, op chat.Operator, tokens *auth.Tokens) *events {
	tb.Helper()
	c, why := fx.hub.admitPending("192.0.2.1")
	if c == nil {
		tb.Fatalf("socket not admitted: %v", why)
	}
	tok, _, err := tokens.Issue(op.ID, time.Hour) // the fake clock never reaches its expiry
	if err != nil {
		tb.Fatal(err)
	}
	e := &events{c: c}
	e.handle(context.Background(), []byte(`{"type":"auth","payload":{"token":"`+tok+`"}}`))
	if got, ok := c.operator(); !ok || got.ID != op.ID {
		tb.Fatalf("auth as %s failed: %v", op.Username, fx.drainAll(tb))
	}
	return e
}

func (fx *frameFixture) run(t *testing.T, setup uint8, frame []byte) {
	ctx := context.Background()
	actor := fx.actors[0]
	if setup&setupAdmin != 0 {
		actor = fx.actors[1]
	}
	op, _ := actor.c.operator()
	fx.enter(actor.c, fuzzRooms[int(setup&7)%len(fuzzRooms)])
	limited := setup&setupLimited != 0
	limits := fx.open
	if limited {
		limits = fx.spent
	}
	fx.hub.deps.Limit, fx.hub.deps.Typing = limits[0], limits[1]
	defer func() { fx.hub.deps.Limit, fx.hub.deps.Typing = fx.open[0], fx.open[1] }()
	if leftover := fx.drainAll(t); len(leftover) > 0 {
		t.Fatalf("frames queued before the input: %v", leftover)
	}
	fx.errs.reset()
	before := fx.last
	defer fx.restore(t) // also after a failure: the next seed starts afresh

	actor.handle(ctx, frame)

	out := fx.drainAll(t)
	if got, ok := actor.c.operator(); !ok || got.ID != op.ID {
		t.Fatalf("the socket is no longer operator %d's: %+v", op.ID, got)
	}
	if logged := fx.errs.take(); len(logged) > 0 {
		t.Fatalf("logged at error level: %v", logged)
	}
	typ := pipelineType(frame)
	mine := out[actor.c]
	var errFrames []serverFrame
	for c, fs := range out {
		for _, fr := range fs {
			if fr.Type != lc.TypeError {
				continue
			}
			if c != actor.c {
				t.Fatalf("an error frame went to another socket: %s", fr.raw)
			}
			errFrames = append(errFrames, fr)
		}
	}
	if len(errFrames) > 1 {
		t.Fatalf("%d error frames for one input: %v", len(errFrames), mine)
	}
	var errCode string
	if len(errFrames) == 1 {
		p := errFrames[0].Payload
		errCode, _ = p["code"].(string)
		if !errcode.InSpec(errCode) || errCode == errcode.InternalError {
			t.Fatalf("error code %q for %q", errCode, frame)
		}
		rt, has := p["request_type"]
		if lc.IsClientEvent(typ) && rt != typ || !lc.IsClientEvent(typ) && has {
			t.Fatalf("request_type %v for a frame of type %q", rt, typ)
		}
	} else if a, ok := answers[typ]; !ok {
		t.Fatalf("a frame of type %q was not refused: %v", typ, mine)
	} else if !a.allow(mine) {
		t.Fatalf("%s answered with %v, want %s", typ, mine, a)
	}
	if limited && lc.IsClientEvent(typ) && typ != lc.TypePing {
		if errCode != errcode.RateLimitExceeded || len(mine) != 1 {
			t.Fatalf("over budget, %q got %v, want one rate_limit_exceeded", typ, mine)
		}
	}

	after := fx.snapshot(t)
	fx.last = after
	changed := before.diff(after)
	if errCode != "" && len(changed) > 0 {
		t.Fatalf("refused with %s, yet %v changed:\nbefore %+v\nafter  %+v", errCode, changed, before, after)
	}
	for _, table := range changed {
		if !slices.Contains(mayWrite[typ], table) {
			t.Fatalf("%q wrote %s, which a %s may not", frame, table, typ)
		}
	}
}

// answer is what the sender of a frame that was not refused gets, as the
// spec describes each event: one frame of type must (if any), and perhaps
// frames of the types in may. Nothing else: the sender is not subscribed
// to analytics, and typing and room events skip the sender's own tabs.
type answer struct {
	must string
	may  []string
}

// answers has no auth: an authenticated socket's auth is always refused.
var answers = map[string]answer{
	lc.TypePing:                 {must: lc.TypePong},
	lc.TypeJoinRoom:             {must: lc.TypeConversationUpdate},
	lc.TypeLeaveRoom:            {},
	lc.TypeSendMessage:          {must: lc.TypeMessageSent, may: []string{lc.TypeMessageAck, lc.TypeMessageFailed}},
	lc.TypeTypingStart:          {},
	lc.TypeTypingStop:           {},
	lc.TypeClaimSession:         {must: lc.TypeSessionClaimed, may: []string{lc.TypePresenceUpdate}},
	lc.TypeCloseSession:         {must: lc.TypeSessionClosed, may: []string{lc.TypePresenceUpdate}},
	lc.TypeTransferSession:      {must: lc.TypeSessionTransferred, may: []string{lc.TypePresenceUpdate}},
	lc.TypeSubscribeAnalytics:   {must: lc.TypeAnalyticsUpdate},
	lc.TypeUnsubscribeAnalytics: {},
	lc.TypeSetStatus:            {must: lc.TypePresenceUpdate},
}

func (a answer) String() string {
	switch {
	case a.must == "":
		return "nothing"
	case len(a.may) == 0:
		return "one " + a.must
	}
	return fmt.Sprintf("one %s, and perhaps %v", a.must, a.may)
}

func (a answer) allow(got []serverFrame) bool {
	n := 0
	for _, f := range got {
		switch {
		case f.Type == a.must:
			n++
		case !slices.Contains(a.may, f.Type):
			return false
		}
	}
	return n == 1 || a.must == "" && n == 0
}

// mayWrite is what a frame of each type may change when it succeeds.
var mayWrite = map[string][]string{
	lc.TypeSendMessage:     {"messages", "customers", "sessions"},
	lc.TypeClaimSession:    {"sessions"},
	lc.TypeCloseSession:    {"sessions", "customers"},
	lc.TypeTransferSession: {"sessions"},
	lc.TypeJoinRoom:        {"read_markers"},
}

// pipelineType is the frame's type as the spec defines it: the "type"
// member of a JSON object ("" when there is none).
func pipelineType(frame []byte) string {
	inst, err := contract.Decode(frame)
	if err != nil {
		return ""
	}
	obj, _ := inst.(map[string]any)
	typ, _ := obj["type"].(string)
	return typ
}

// enter puts the socket in room, as a join or leave would, without frames.
func (fx *frameFixture) enter(c *Conn, room string) {
	switch {
	case fx.hub.currentRoom(c) == room:
	case room == "":
		fx.hub.leave(c)
	default:
		fx.hub.join(c, room)
	}
}

// restore puts back what an input may have moved: the sessions, and the
// actors' room, typing, analytics subscription and status, and the KPI and
// presence pushes (coalesced on the fake clock, which never moves). Frames that causes are
// checked like any other, and dropped.
func (fx *frameFixture) restore(t testing.TB) {
	ctx := context.Background()
	if t.Failed() { // the input may have failed before its snapshot
		fx.last = fx.snapshot(t)
	}
	if fx.sessionsMoved() {
		fx.restoreSessions(t)
		fx.last = fx.snapshot(t)
	}
	for _, e := range fx.actors {
		c := e.c
		fx.hub.typingEnded(ctx, c, c.typingRoom())
		fx.hub.leave(c) // the next input's actor enters its room; the other stays out
		fx.hub.setAnalytics(c, false)
		op, _ := c.operator()
		fx.hub.mu.Lock()
		delete(fx.hub.status, op.ID)
		fx.hub.mu.Unlock()
	}
	k := &fx.hub.kpi
	k.mu.Lock()
	if k.pending != nil {
		k.pending.Stop()
		k.pending = nil
	}
	k.last = time.Time{}
	k.mu.Unlock()
	p := &fx.hub.pres
	p.mu.Lock()
	if p.pending != nil {
		p.pending.Stop()
		p.pending = nil
	}
	p.dirty, p.last = nil, time.Time{}
	p.mu.Unlock()
	fx.clk.Advance(0) // forgets the stopped timers
	fx.drainAll(t)
}

func (fx *frameFixture) sessionsMoved() bool {
	got := map[string]openSession{}
	for _, s := range fx.last.open {
		got[s.LineUserID] = openSession{chat.Status(s.Status), s.OperatorID}
	}
	for id, want := range fx.want {
		if got[id] != want {
			return true
		}
	}
	return false
}

// restoreSessions closes what is not the fixture's session and opens the
// fixture's, in the store directly: nobody is told.
func (fx *frameFixture) restoreSessions(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	now := fx.clk.Now()
	for id, want := range fx.want {
		s, err := fx.db.OpenSession(ctx, id)
		switch {
		case err == nil && s.Status == want.status && (s.OperatorID == nil && want.owner == 0 || s.OperatorID != nil && *s.OperatorID == want.owner):
			continue
		case err == nil:
			if _, err := fx.db.CloseSession(ctx, s.ID, s.Status, nil, chat.ClosedBySystem, nil, now); err != nil {
				tb.Fatal(err)
			}
		case !errors.Is(err, chat.ErrNotFound):
			tb.Fatal(err)
		}
		if want.status == "" {
			continue
		}
		s, _, err = fx.db.EnsureWaitingSession(ctx, id, now)
		if err != nil {
			tb.Fatal(err)
		}
		if want.status == chat.StatusActive {
			if _, err := fx.db.ClaimSession(ctx, s.ID, want.owner, now); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// serverFrame is one frame a socket would have written.
type serverFrame struct {
	Type    string         `json:"type"`
	Payload map[string]any `json:"payload"`
	raw     []byte
}

func (f serverFrame) String() string { return string(f.raw) }

// drainAll empties every socket's queue, then checks each frame: a server
// event that validates strictly, and never a close.
func (fx *frameFixture) drainAll(tb testing.TB) map[*Conn][]serverFrame {
	tb.Helper()
	queued := map[*Conn][]*outbound{}
	for _, e := range append(fx.actors[:], fx.watcher) {
		batch := e.c.q.take() // what the socket's writer would take
		queued[e.c] = append(queued[e.c], batch...)
		e.c.q.written(batch)
	}
	out := map[*Conn][]serverFrame{}
	for c, frames := range queued {
		for _, o := range frames {
			if o.code != 0 {
				tb.Fatalf("socket %s closed with %d %q", c.id, o.code, o.text)
			}
			var fr serverFrame
			if err := json.Unmarshal(o.data, &fr); err != nil {
				tb.Fatalf("socket %s got a frame that is not JSON: %q", c.id, o.data)
			}
			fr.raw = o.data
			if !lc.IsServerEvent(fr.Type) {
				tb.Fatalf("socket %s got a frame of type %q, not a server event", c.id, fr.Type)
			}
			if err := fx.strict.Validate(o.data); err != nil {
				tb.Fatalf("socket %s got a frame that breaks the spec: %v\n%s", c.id, err, o.data)
			}
			out[c] = append(out[c], fr)
		}
	}
	for _, e := range append(fx.actors[:], fx.watcher) {
		select {
		case <-e.c.quit:
			tb.Fatalf("socket %s was shut down", e.c.id)
		default:
		}
	}
	return out
}

// dbState is what a frame may write, read back: counts of the growing
// tables, and the rows of the small ones.
type dbState struct {
	messages    struct{ n, maxID int64 }
	sessions    int64
	open        []sessionState
	customers   []customerState
	readMarkers []markerState
	csat        int64
}

type sessionState struct {
	ID            int64  `bun:"id"`
	LineUserID    string `bun:"line_user_id"`
	Status        string `bun:"status"`
	OperatorID    int64  `bun:"operator_id"`
	MessageCount  int64  `bun:"message_count"`
	TransferCount int64  `bun:"transfer_count"`
	Reason        string `bun:"transfer_reason"`
	FirstResponse string `bun:"first_response_at"`
}

type customerState struct {
	LineUserID string `bun:"line_user_id"`
	ChatMode   string `bun:"chat_mode"`
	LastSeq    int64  `bun:"last_seq"`
}

type markerState struct {
	OperatorID int64  `bun:"operator_id"`
	LineUserID string `bun:"line_user_id"`
	Seq        int64  `bun:"last_read_seq"`
}

func (fx *frameFixture) snapshot(tb testing.TB) dbState {
	tb.Helper()
	ctx := context.Background()
	q := fx.db.Bun()
	var s dbState
	for _, step := range []struct {
		query string
		dest  []any
	}{
		{`SELECT count(*), coalesce(max(id), 0) FROM messages`, []any{&s.messages.n, &s.messages.maxID}},
		{`SELECT count(*) FROM chat_sessions`, []any{&s.sessions}},
		{`SELECT id, line_user_id, status, coalesce(operator_id, 0) AS operator_id, message_count, transfer_count,
			coalesce(transfer_reason, '') AS transfer_reason, coalesce(first_response_at, '') AS first_response_at
			FROM chat_sessions WHERE status IN ('WAITING', 'ACTIVE') ORDER BY id`, []any{&s.open}},
		{`SELECT line_user_id, chat_mode, last_seq FROM customers ORDER BY id`, []any{&s.customers}},
		{`SELECT operator_id, line_user_id, last_read_seq FROM read_markers ORDER BY operator_id, line_user_id`, []any{&s.readMarkers}},
		{`SELECT count(*) FROM csat_responses`, []any{&s.csat}},
	} {
		if err := q.NewRaw(step.query).Scan(ctx, step.dest...); err != nil {
			tb.Fatalf("snapshot: %s: %v", step.query, err)
		}
	}
	return s
}

// diff names the tables whose state differs.
func (s dbState) diff(o dbState) []string {
	var out []string
	if s.messages != o.messages {
		out = append(out, "messages")
	}
	if s.sessions != o.sessions || !slices.Equal(s.open, o.open) {
		out = append(out, "sessions")
	}
	if !slices.Equal(s.customers, o.customers) {
		out = append(out, "customers")
	}
	if !slices.Equal(s.readMarkers, o.readMarkers) {
		out = append(out, "read_markers")
	}
	if s.csat != o.csat {
		out = append(out, "csat_responses")
	}
	return out
}

// errorLog keeps what the hub logs at error level: a bug, whatever the
// client sent.
type errorLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *errorLog) Enabled(_ context.Context, level slog.Level) bool { return level >= slog.LevelError }

func (l *errorLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, b.String())
	return nil
}

func (l *errorLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *errorLog) WithGroup(string) slog.Handler      { return l }

func (l *errorLog) reset() { l.take() }

func (l *errorLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := l.lines
	l.lines = nil
	return lines
}

type frameSeed struct {
	setup uint8
	frame string
}

// frameSeeds are every client event example of the spec, from each room
// and as the admin, once over budget; and the bad frames of the socket
// tests, with a few more of their kind.
func frameSeeds(tb testing.TB) []frameSeed {
	var seeds []frameSeed
	examples := clientExamples(tb)
	for _, ex := range examples {
		for room := range fuzzRooms {
			seeds = append(seeds, frameSeed{uint8(room), ex})
		}
		seeds = append(seeds, frameSeed{1 | setupAdmin, ex}, frameSeed{3 | setupAdmin, ex})
	}
	// Over budget: refused before the schema, except ping.
	for _, ex := range examples {
		seeds = append(seeds, frameSeed{1 | setupLimited, ex})
	}
	big := strings.Repeat("a", 5001)
	for _, fr := range []string{
		// From the socket tests.
		`{"payload":{}}`,
		`{not json`,
		`{"type":"send_message","payload":{"text":""}}`,
		`{"type":"ping",`,
		`[1,2]`,
		`[]`,
		`{`,
		`{}`,
		`{"type":"bogus","payload":{}}`,
		`{"type":"join_room","payload":"U0123"}`,
		`{"type":"join_room","payload":{"line_user_id":"U0123456789abcdef0123456789abcdef","extra":1}}`,
		`{"type":"transfer_session","payload":{"to_operator_id":"5"}}`,
		`{"type":"new_message","payload":{}}`,
		`{"type":"send_message","payload":{"text":"hi","temp_id":"t\u00001"}}`,
		`{"type":"transfer_session","payload":{"to_operator_id":3,"reason":"VIP\u0000 customer"}}`,
		`{"type":"transfer_session","payload":{"to_operator_id":4}}`,
		`{"type":"transfer_session","payload":{"to_operator_id":9999}}`,
		`{"type":"transfer_session","payload":{"to_operator_id":1}}`,
		`{"type":"send_message","payload":{"text":"hi","line_user_id":"U11111111111111111111111111111111"}}`,
		`{"type":"join_room","payload":{"line_user_id":"U11111111111111111111111111111111"}}`,
		`{"type":"join_room","payload":{"line_user_id":"` + custActive + `","last_seq":0}}`,
		`{"type":"auth","payload":{"token":"x"}}`,
		// Wrong types, limits and odd values.
		`null`, `"ping"`, `42`, `true`,
		`{"type":null}`, `{"type":7}`, `{"type":"ping","payload":null}`, `{"type":"ping","payload":[]}`,
		`{"type":"ping","payload":{},"timestamp":"yesterday"}`,
		`{"type":"ping"} {"type":"ping"}`,
		`{"type":"send_message","payload":{"text":"` + big + `"}}`,
		`{"type":"send_message","payload":{"text":"   "}}`,
		`{"type":"send_message","payload":{"text":"a\u0000b\u0007c\u202e"}}`,
		`{"type":"send_message","payload":{"text":"hi","temp_id":"` + strings.Repeat("t", 101) + `"}}`,
		`{"type":"send_message","payload":{"text":12}}`,
		`{"type":"transfer_session","payload":{"to_operator_id":7,"reason":"` + strings.Repeat("r", 256) + `"}}`,
		`{"type":"transfer_session","payload":{"to_operator_id":1e400}}`,
		`{"type":"transfer_session","payload":{"to_operator_id":9223372036854775808}}`,
		`{"type":"transfer_session","payload":{"to_operator_id":2.5}}`,
		`{"type":"join_room","payload":{"line_user_id":"` + custActive + `","last_seq":-1}}`,
		`{"type":"set_status","payload":{"status":"offline"}}`,
		`{"type":"leave_room","payload":{"line_user_id":"` + custWaiting + `"}}`,
		`{"type":"typing_start","payload":{"line_user_id":"` + custWaiting + `"}}`,
		"{\"type\":\"ping\",\"payload\":{}}\x00",
		"\xff\xfe{\"type\":\"ping\"}",
		"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01",
		`{"type":"send_message","payload":{"text":"\ud800"}}`,
		"{\"type\":\"send_message\",\"payload\":{\"text\":\"\xff\xfe\"}}",
	} {
		seeds = append(seeds, frameSeed{1, fr})
	}
	return seeds
}

// clientExamples are the examples of the spec's client events, as frames.
func clientExamples(tb testing.TB) []string {
	tb.Helper()
	var doc struct {
		Components struct {
			Messages map[string]struct {
				Examples []struct {
					Payload map[string]any `json:"payload"`
				} `json:"examples"`
			} `json:"messages"`
		} `json:"components"`
	}
	if err := yaml.Unmarshal(asyncapi.YAML, &doc); err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, m := range doc.Components.Messages {
		for _, ex := range m.Examples {
			if typ, _ := ex.Payload["type"].(string); !lc.IsClientEvent(typ) {
				continue
			}
			b, err := json.Marshal(ex.Payload)
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, string(b))
		}
	}
	slices.Sort(out) // map order is random; seeds are not
	if len(out) < len(lc.ClientEvents) {
		tb.Fatalf("%d client examples in the spec, want one per client event (%d)", len(out), len(lc.ClientEvents))
	}
	return out
}

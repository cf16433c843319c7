package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/errcode"
	"livechat/internal/line"
	"livechat/internal/outbound"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// The fuzz targets of the webhook: FuzzCheck (one event object through the
// door's validator) and FuzzWebhookBody (a whole call through the handler,
// the store and the worker). Run one longer with
//
//	go test -run '^$' -fuzz '^FuzzWebhookBody$' -fuzztime 10m -fuzzminimizetime 500x ./internal/webhook
//
// (an exec takes milliseconds, so the default minimization of each new
// input, up to a minute, would stall the run).

// fuzzNow is the fake clock's fixed time in both targets: Wednesday 10:00 in
// Bangkok, within the default business hours.
var fuzzNow = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

const (
	fuzzSecret = "0123456789abcdef0123456789abcdef"
	fuzzUser   = "U0123456789abcdef0123456789abcdef"
)

// seedEvents are event objects of every kind the tests use, and the poison
// ones of issue 7, by name.
func seedEvents() map[string]map[string]any {
	n := 0
	base := func(typ string) map[string]any {
		n++
		return map[string]any{
			"type":            typ,
			"mode":            "active",
			"timestamp":       fuzzNow.UnixMilli(),
			"webhookEventId":  fmt.Sprintf("01TESTEVENT%015d", n),
			"deliveryContext": map[string]any{"isRedelivery": false},
			"replyToken":      fmt.Sprintf("reply-%d", n),
			"source":          map[string]any{"type": "user", "userId": fuzzUser},
		}
	}
	msg := func(m map[string]any) map[string]any {
		e := base("message")
		m["id"] = fmt.Sprintf("4680000000%04d", n)
		e["message"] = m
		return e
	}
	with := func(e map[string]any, k string, v any) map[string]any {
		e[k] = v
		return e
	}
	unfollow := base("unfollow")
	delete(unfollow, "replyToken")
	noTime := msg(map[string]any{"type": "text", "text": "hi"})
	delete(noTime, "timestamp")
	noID := msg(map[string]any{"type": "text", "text": "no webhookEventId"})
	delete(noID, "webhookEventId")
	return map[string]map[string]any{
		"text":           msg(map[string]any{"type": "text", "text": "hello", "quoteToken": "q"}),
		"handoff":        msg(map[string]any{"type": "text", "text": "I want an agent please"}),
		"thai handoff":   msg(map[string]any{"type": "text", "text": "ติดต่อเจ้าหน้าที่"}),
		"image":          msg(map[string]any{"type": "image", "contentProvider": map[string]any{"type": "line"}}),
		"video":          msg(map[string]any{"type": "video", "duration": 60000, "contentProvider": map[string]any{"type": "external", "originalContentUrl": "https://example.com/v.mp4", "previewImageUrl": "https://example.com/v.jpg"}}),
		"audio":          msg(map[string]any{"type": "audio", "duration": 3000, "contentProvider": map[string]any{"type": "line"}}),
		"file":           msg(map[string]any{"type": "file", "fileName": "invoice.pdf", "fileSize": 2048}),
		"sticker":        msg(map[string]any{"type": "sticker", "packageId": "446", "stickerId": "1988", "stickerResourceType": "STATIC"}),
		"location":       msg(map[string]any{"type": "location", "title": "Central World", "address": "Ratchadamri Rd, Bangkok", "latitude": 13.7466, "longitude": 100.5393}),
		"bare location":  msg(map[string]any{"type": "location", "latitude": 13.5, "longitude": 100.25}),
		"follow":         base("follow"),
		"unfollow":       unfollow,
		"csat postback":  with(base("postback"), "postback", map[string]any{"data": "csat|1|5"}),
		"postback":       with(base("postback"), "postback", map[string]any{"data": "action=buy&item=1"}),
		"group":          with(msg(map[string]any{"type": "text", "text": "agent"}), "source", map[string]any{"type": "group", "groupId": "Cgroup", "userId": fuzzUser}),
		"room":           with(msg(map[string]any{"type": "text", "text": "agent"}), "source", map[string]any{"type": "room", "roomId": "Rroom", "userId": fuzzUser}),
		"join":           with(base("join"), "source", map[string]any{"type": "group", "groupId": "Cgroup"}),
		"unknown type":   base("memberJoined"),
		"no event id":    noID,
		"year 10000":     with(msg(map[string]any{"type": "text", "text": "from the future"}), "timestamp", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()),
		"timestamp 1":    with(msg(map[string]any{"type": "text", "text": "hi"}), "timestamp", 1),
		"no timestamp":   noTime,
		"NUL userId":     with(msg(map[string]any{"type": "text", "text": "hi"}), "source", map[string]any{"type": "user", "userId": fuzzUser + "\x00"}),
		"bad ULID":       with(msg(map[string]any{"type": "text", "text": "hi"}), "webhookEventId", "E1\x00"),
		"bad message id": msg(map[string]any{"type": "text", "text": "hi", "id": "m-1"}),
		"NUL text":       msg(map[string]any{"type": "text", "text": "a\x00b"}),
		"NUL file name":  msg(map[string]any{"type": "file", "fileName": "x\x00.pdf", "fileSize": 1}),
		"bad URL":        msg(map[string]any{"type": "image", "contentProvider": map[string]any{"type": "external", "originalContentUrl": "javascript:alert(1)"}}),
		"bad coords":     msg(map[string]any{"type": "location", "latitude": 91, "longitude": 0}),
		"long postback":  with(base("postback"), "postback", map[string]any{"data": strings.Repeat("x", 301)}),
		"no message":     base("message"),
		"bad type":       base("mess age"),
	}
}

// rawSeeds are event values that are not well-formed events at all.
var rawSeeds = []string{`42`, `"x"`, `null`, `[1]`, `{}`, `{"type":"message"}`, "{\"type\":\"follow\",\"x\":\"\xff\"}"}

func marshal(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzCheck feeds one event object to the door's validator. An accepted
// event must be storable and readable back as it is, and its message must
// make a payload both databases store; a refusal must say why.
func FuzzCheck(f *testing.F) {
	events := seedEvents()
	for _, name := range slices.Sorted(maps.Keys(events)) {
		f.Add(marshal(f, events[name]))
	}
	for _, s := range rawSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := check(raw, fuzzNow)
		var rej *rejection
		switch {
		case errors.Is(err, errIgnored):
			if e.Source.Type == "user" {
				t.Fatalf("an event from a user source was ignored: %s", raw)
			}
			return
		case errors.As(err, &rej):
			if rej.reason == "" || !chat.Storable(rej.reason) {
				t.Fatalf("rejection reason %q", rej.reason)
			}
			return
		case err != nil:
			t.Fatalf("check returned %T %v, want a *rejection or errIgnored", err, err)
		}
		// Accepted: what the inbox stores.
		for name, v := range map[string]string{
			"body": string(raw), "type": e.Type, "webhookEventId": e.WebhookEventID,
			"source.type": e.Source.Type, "source.userId": e.Source.UserID,
		} {
			if !chat.Storable(v) {
				t.Fatalf("accepted an unstorable %s %q", name, v)
			}
		}
		if e.Type == "" || e.Source.Type != "user" || !chat.ValidLineUserID(e.Source.UserID) {
			t.Fatalf("accepted type %q, source %+v", e.Type, e.Source)
		}
		if e.WebhookEventID != "" && len(e.WebhookEventID) != 26 {
			t.Fatalf("accepted webhookEventId %q", e.WebhookEventID)
		}
		if at := e.at(); at.Before(time.Date(2011, 1, 1, 0, 0, 0, 0, time.UTC)) || at.After(fuzzNow.Add(24*time.Hour)) {
			t.Fatalf("accepted the time %v (timestamp %d)", at, e.Timestamp)
		}
		if e.Type == "message" {
			if e.Message == nil {
				t.Fatal("accepted a message event without a message")
			}
			m, ok := chatMessage(e.Source.UserID, "01TESTEVENT000000000000000", *e.Message)
			if !ok {
				return // a type customers cannot send: stored, not processed
			}
			if !json.Valid(m.Payload) || bytes.Contains(m.Payload, []byte(`\u0000`)) {
				// Postgres jsonb refuses \u0000.
				t.Fatalf("payload %s", m.Payload)
			}
			if !chat.Storable(m.Content) || !chat.Storable(m.MessageType) {
				t.Fatalf("message %+v", m)
			}
		}
	})
}

// bodyRig is the inbound side as serve wires it, on one SQLite store per
// fuzzing process: the handler behind httptest, the real service and a
// worker the target drains itself. LINE is a stub (lineStub).
type bodyRig struct {
	db     *store.DB
	worker *Worker
	srv    *httptest.Server
	line   *lineStub
}

// lineStub stands in for LINE's profile and reply APIs. (linefake keeps
// every request it serves, more than a fuzzing process can hold.) Its
// profiles carry what the server must clean before storing; it counts the
// replies that are not plain, non-empty text to a non-empty token.
type lineStub struct{ badReplies atomic.Int64 }

func (*lineStub) Profile(_ context.Context, userID string) (line.Profile, error) {
	return line.Profile{UserID: userID, DisplayName: " Cust\x00omer\n\xff ", PictureURL: "https://example.com/p\x00.jpg"}, nil
}

func (l *lineStub) Reply(_ context.Context, token string, msgs []line.Message) error {
	for _, m := range msgs {
		if text, _ := m["text"].(string); token == "" || m["type"] != "text" || text == "" || !utf8.ValidString(text) {
			l.badReplies.Add(1)
		}
	}
	return nil
}

func newBodyRig(f *testing.F) *bodyRig {
	db := storetest.Open(f, store.SQLite)
	clk := clock.NewFake(fuzzNow)
	log := slog.New(slog.DiscardHandler)
	bkk, err := time.LoadLocation("Asia/Bangkok")
	if err != nil {
		f.Fatal(err)
	}
	svc := chat.NewService(db, clk, outbound.NewRecorder(), log, bkk)
	r := &bodyRig{db: db, line: &lineStub{}}
	r.worker = NewWorker(Deps{Store: db, Chat: svc, Profiles: r.line, Replier: r.line, Clock: clk, Log: log}, Options{})
	mux := http.NewServeMux()
	mux.Handle("POST "+Path, NewHandler(fuzzSecret, db, r.worker, clk, log))
	r.srv = httptest.NewServer(mux)
	f.Cleanup(r.srv.Close)
	return r
}

// written are the tables a call and its processing write.
var written = []string{"csat_responses", "read_markers", "messages", "chat_sessions", "customers", "line_webhook_events", "line_webhook_rejects"}

// reset empties the written tables and restarts their ids, so that each
// input starts from the same state (a CSAT postback names a session id).
func (r *bodyRig) reset(t *testing.T) {
	t.Helper()
	for _, table := range written {
		if _, err := r.db.Bun().ExecContext(context.Background(), "DELETE FROM "+table); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.db.Bun().ExecContext(context.Background(), "DELETE FROM sqlite_sequence WHERE name IN (?)", bun.In(written)); err != nil {
		t.Fatal(err)
	}
}

func (r *bodyRig) post(t *testing.T, body []byte, sig string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.srv.URL+Path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set(SignatureHeader, sig)
	}
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, raw
}

// inboxRow is what the oracle reads of the inbox: only columns the server
// wrote, so that reading cannot fail on a bad row.
type inboxRow struct {
	ID             int64  `bun:"id"`
	WebhookEventID string `bun:"webhook_event_id"`
	Body           string `bun:"body"`
}

func (r *bodyRig) inbox(t *testing.T) []inboxRow {
	t.Helper()
	var rows []inboxRow
	if err := r.db.Bun().NewRaw("SELECT id, webhook_event_id, body FROM line_webhook_events ORDER BY id").
		Scan(context.Background(), &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

func (r *bodyRig) rejects(t *testing.T, limit int) []store.RejectedEvent {
	t.Helper()
	rs, err := r.db.RejectedInboxEvents(context.Background(), limit)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// Signature modes of FuzzWebhookBody's flag (its low two bits); a flag of
// 0xF0 or more also pads the body past MaxBodyBytes.
const (
	sigNone  = 0
	sigWrong = 1 // signed with another secret
)

// FuzzWebhookBody posts a body through the handler, stores it and drains
// the worker. The answer is 200, 400 or 413 for a signed body and 401 for
// one that is not; a 400, 401 or 413 stores nothing; after a 200 every event
// of the body is in the inbox, recorded as rejected, a duplicate, or from a
// group or room (acknowledged and dropped): none is lost silently. Every
// stored event can be claimed and read back, and is processed without a
// failure: the worker never has to quarantine what the door let in.
func FuzzWebhookBody(f *testing.F) {
	events := seedEvents()
	bodyOf := func(evs ...any) []byte {
		return marshal(f, map[string]any{"destination": "Uffffffffffffffffffffffffffffffff", "events": evs})
	}
	for _, name := range slices.Sorted(maps.Keys(events)) {
		f.Add(byte(2), bodyOf(events[name]))
	}
	f.Add(byte(2), bodyOf())                                                     // LINE's verify call
	f.Add(byte(2), bodyOf(events["text"], events["year 10000"], events["file"])) // [good, bad, good]
	f.Add(byte(2), bodyOf(events["follow"], events["handoff"], events["sticker"], events["image"], events["unfollow"]))
	f.Add(byte(2), bodyOf(events["text"], events["text"], events["no event id"], events["no event id"])) // duplicates
	f.Add(byte(2), bodyOf(events["handoff"], events["unfollow"], events["csat postback"]))               // session 1: queued, left, rated
	f.Add(byte(2), bytes.Replace(bodyOf(events["text"]), []byte(`"events":[`), []byte(`"events":[42,"x",null,[1],`), 1))
	// Deeper than SQLite's JSON nesting limit (1000): the door lets it in,
	// the database refuses it, and the others are stored one by one.
	deep := bytes.Replace(marshal(f, events["follow"]), []byte(`{`), []byte(`{"x":`+strings.Repeat("[", 1000)+strings.Repeat("]", 1000)+`,`), 1)
	f.Add(byte(2), bytes.Replace(bodyOf(events["text"], "DEEP", events["file"]), []byte(`"DEEP"`), deep, 1))
	f.Add(byte(2), []byte(`{"events":"x"}`))
	f.Add(byte(2), []byte(`{"events":[`))
	f.Add(byte(2), []byte(`null`))
	f.Add(byte(sigNone), bodyOf(events["text"]))
	f.Add(byte(sigWrong), bodyOf(events["text"]))
	f.Add(byte(0xF2), bodyOf(events["text"])) // over 1 MiB
	r := newBodyRig(f)
	f.Fuzz(func(t *testing.T, flag byte, body []byte) {
		r.reset(t)
		if flag >= 0xF0 {
			body = append(body, bytes.Repeat([]byte(" "), MaxBodyBytes)...)
		}
		var sig string
		switch flag & 3 {
		case sigNone:
		case sigWrong:
			sig = Sign([]byte("another secret, not the channel's"), body)
		default:
			sig = Sign([]byte(fuzzSecret), body)
		}
		status, resp := r.post(t, body, sig)
		signed := flag&3 > sigWrong
		switch {
		case !signed && status == http.StatusUnauthorized:
			wantError(t, resp, errcode.InvalidSignature)
		case !signed && status == http.StatusRequestEntityTooLarge && sig != "":
			// Too big to verify: refused before the signature is checked.
			wantError(t, resp, errcode.ValidationError)
		case signed && status == http.StatusRequestEntityTooLarge:
			wantError(t, resp, errcode.ValidationError)
		case signed && status == http.StatusBadRequest:
			wantError(t, resp, errcode.ValidationError, errcode.InvalidRequest)
		case signed && status == http.StatusOK:
			if string(resp) != "{}" {
				t.Fatalf("200 with %q", resp)
			}
			r.accounted(t, body)
			return
		default:
			t.Fatalf("signed=%v: status %d %s", signed, status, resp)
		}
		if rows, rejects := r.inbox(t), r.rejects(t, 1); len(rows) != 0 || len(rejects) != 0 {
			t.Fatalf("a refused call (%d) stored %d events and %d rejects", status, len(rows), len(rejects))
		}
	})
}

// wantError checks the one JSON error shape and its code.
func wantError(t *testing.T, resp []byte, codes ...string) {
	t.Helper()
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(resp, &e); err != nil || e.Error.Message == "" {
		t.Fatalf("error body %q: %v", resp, err)
	}
	for _, c := range codes {
		if e.Error.Code == c {
			return
		}
	}
	t.Fatalf("error code %q, want one of %q", e.Error.Code, codes)
}

// oracleEvent is what the oracle reads of an event, on its own terms: its
// id, and whether it may be dropped unrecorded (a JSON object whose source
// is readable and not a user's).
type oracleEvent struct {
	raw       string
	id        string
	droppable bool
}

func readEvent(raw json.RawMessage) oracleEvent {
	o := oracleEvent{raw: string(raw)}
	var e struct {
		WebhookEventID json.RawMessage `json:"webhookEventId"`
		Source         json.RawMessage `json:"source"`
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' || json.Unmarshal(raw, &e) != nil {
		return o
	}
	_ = json.Unmarshal(e.WebhookEventID, &o.id) // "" unless a string
	var src struct {
		Type json.RawMessage `json:"type"`
	}
	var typ string
	if len(e.Source) == 0 || json.Unmarshal(e.Source, &src) == nil && (len(src.Type) == 0 || json.Unmarshal(src.Type, &typ) == nil) {
		o.droppable = typ != "user"
	}
	return o
}

// storedText is a text as the store keeps a rejected event's columns: what
// no database stores dropped, cut to n bytes on a rune boundary.
func storedText(s string, n int) string {
	s = chat.StripUnstorable(s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// accounted checks, after a 200, that every event of body was stored,
// recorded as rejected, deduplicated or dropped as not a user's, that
// nothing else was stored, and that the stored ones are processed cleanly,
// into customers and messages that read back.
func (r *bodyRig) accounted(t *testing.T, body []byte) {
	t.Helper()
	var b struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("the handler accepted a body the oracle cannot read: %v", err)
	}
	rows := r.inbox(t)
	rejects := r.rejects(t, len(b.Events)+1)
	if len(rows) > len(b.Events) || len(rejects) > len(b.Events) {
		t.Fatalf("%d events gave %d inbox rows and %d rejects", len(b.Events), len(rows), len(rejects))
	}
	inBody, inID := map[string]bool{}, map[string]bool{}
	for _, row := range rows {
		inBody[row.Body], inID[row.WebhookEventID] = true, true
	}
	rejBody, rejID := map[string]bool{}, map[string]bool{}
	for _, rj := range rejects {
		rejBody[rj.Body], rejID[rj.WebhookEventID] = true, true
		if rj.Reason == "" {
			t.Fatalf("reject without a reason: %+v", rj)
		}
	}
	raws, cleaned := map[string]bool{}, map[string]bool{}
	seen := map[string]bool{}
	for i, raw := range b.Events {
		o := readEvent(raw)
		switch {
		case inBody[o.raw]:
		case rejBody[storedText(o.raw, store.MaxRejectedBody)]:
		case o.id != "" && rejID[storedText(o.id, 200)]:
		case o.id != "" && inID[o.id] && seen[o.id]: // a duplicate of an earlier one
		case o.droppable:
		default:
			t.Fatalf("event %d of %d lost: %s\ninbox %d, rejects %+v", i, len(b.Events), raw, len(rows), rejects)
		}
		raws[o.raw], cleaned[storedText(o.raw, store.MaxRejectedBody)] = true, true
		if o.id != "" {
			seen[o.id] = true
		}
	}
	for _, rj := range rejects {
		if !cleaned[rj.Body] {
			t.Fatalf("a reject not in the body: %+v", rj)
		}
	}
	ctx := context.Background()
	for _, row := range rows {
		if !raws[row.Body] {
			t.Fatalf("an inbox row not in the body: %+v", row)
		}
		// Leased until now: due again at once for the worker.
		ev, ok, err := r.db.ClaimInboxEvent(ctx, row.ID, fuzzNow, fuzzNow)
		if err != nil || !ok {
			t.Fatalf("claim inbox row %+v: ok=%v, %v", row, ok, err)
		}
		if ev.SourceType != "user" || !chat.ValidLineUserID(ev.LineUserID) || ev.EventType == "" ||
			ev.EventAt.Before(time.Date(2011, 1, 1, 0, 0, 0, 0, time.UTC)) || ev.EventAt.After(fuzzNow.Add(24*time.Hour)) {
			t.Fatalf("stored %+v", ev)
		}
	}
	drained := false
	for range len(rows) + 2 { // at least one event per pass
		n, err := r.worker.ProcessDue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			drained = true
			break
		}
	}
	if !drained {
		t.Fatal("the inbox does not drain")
	}
	if n := r.line.badReplies.Swap(0); n != 0 {
		t.Fatalf("%d replies that are not text to a token", n)
	}
	// What processing stored reads back: the customers and their messages.
	var customers []string
	if err := r.db.Bun().NewRaw("SELECT line_user_id FROM customers").Scan(ctx, &customers); err != nil {
		t.Fatal(err)
	}
	for _, id := range customers {
		if _, err := r.db.Customer(ctx, id); err != nil {
			t.Fatalf("customer %s: %v", id, err)
		}
		if _, _, err := r.db.RecentMessages(ctx, id, 0, 100); err != nil {
			t.Fatalf("messages of %s: %v", id, err)
		}
	}
	for _, row := range rows {
		ev, err := r.db.InboxEvent(ctx, row.WebhookEventID)
		if err != nil {
			t.Fatal(err)
		}
		if ev.ProcessedAt == nil || ev.DeadAt != nil || ev.Failures != 0 || ev.LastError != "" {
			t.Fatalf("event %s: processed %v, dead %v, failures %d, last error %q\n%s",
				ev.WebhookEventID, ev.ProcessedAt, ev.DeadAt, ev.Failures, ev.LastError, ev.Body)
		}
	}
}

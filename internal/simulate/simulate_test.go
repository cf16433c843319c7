package simulate

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/line"
	"livechat/internal/line/linefake"
	"livechat/internal/webhook"
)

func TestCustomersAreDeterministicAndValid(t *testing.T) {
	a, b := Customers(42, 50, 0), Customers(42, 50, 0)
	seen := map[string]bool{}
	for i, c := range a {
		if c != b[i] {
			t.Fatalf("seed 42 gave %+v then %+v", c, b[i])
		}
		if !chat.ValidLineUserID(c.UserID) || seen[c.UserID] {
			t.Fatalf("customer %+v: want a fresh LINE user id", c)
		}
		seen[c.UserID] = true
		if c.N != i+1 || c.Name != "Customer "+strconv.Itoa(i+1) || c.Score < 1 || c.Score > 5 {
			t.Fatalf("customer %d = %+v", i, c)
		}
	}
	if Customers(43, 1, 0)[0].UserID == a[0].UserID {
		t.Fatal("another seed gave the same customer")
	}
	for _, c := range Customers(42, 10, 3) {
		if c.Score != 3 {
			t.Fatalf("fixed score: %+v", c)
		}
	}
	// The first customers do not depend on how many are asked for.
	if Customers(42, 3, 0)[2] != a[2] {
		t.Fatal("customer 3 changed with --customers")
	}
}

func TestValidate(t *testing.T) {
	good := Config{Server: "http://127.0.0.1:8080", FakeLine: DefaultFakeLine, Secret: "s", Customers: 1}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		edit func(*Config)
		msg  string
	}{
		{func(c *Config) { c.Server = "" }, "--server is required"},
		{func(c *Config) { c.Server = "localhost:8080" }, "--server must be an http"},
		{func(c *Config) { c.Server = "http://x/?a=1" }, "without query"},
		{func(c *Config) { c.FakeLine = "" }, "--fakeline is required"},
		{func(c *Config) { c.Secret = "" }, "no channel secret"},
		{func(c *Config) { c.Customers = 0 }, "--customers"},
		{func(c *Config) { c.Customers = MaxCustomers + 1 }, "--customers"},
		{func(c *Config) { c.Duration = -time.Second }, "--duration"},
		{func(c *Config) { c.Score = 6 }, "--score"},
		{func(c *Config) { c.Score = -1 }, "--score"},
	} {
		c := good
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%+v: err %v, want %q", c, err, tc.msg)
		}
	}
}

var ulidRE = regexp.MustCompile(`^[0-7][0-9A-HJKMNP-TV-Z]{25}$`)

func TestEventsAreShapedLikeLINEs(t *testing.T) {
	e := NewEvents()
	u := Customers(1, 1, 0)[0].UserID
	evs := []Event{e.Follow(u), e.Text(u, "hello"), e.Text(u, "again"), e.Postback(u, "csat|1|5")}
	ids, tokens := map[string]bool{}, map[string]bool{}
	for _, ev := range evs {
		checkEvent(t, ev, u)
		ids[ev["webhookEventId"].(string)] = true
		tokens[ev.ReplyToken()] = true
	}
	if len(ids) != len(evs) || len(tokens) != len(evs) {
		t.Fatalf("event ids %v and reply tokens %v must be unique", ids, tokens)
	}
	if evs[1]["message"].(map[string]any)["id"] == evs[2]["message"].(map[string]any)["id"] {
		t.Fatal("message ids must be unique")
	}
	if a, b := ulid(time.UnixMilli(1)), ulid(time.UnixMilli(2)); a >= b || !ulidRE.MatchString(a) {
		t.Fatalf("ulids %s %s: want sortable ULIDs", a, b)
	}
	body, sig := Body("secret", evs...)
	if !webhook.ValidSignature([]byte("secret"), body, sig) || webhook.ValidSignature([]byte("other"), body, sig) {
		t.Fatal("the body is not signed with the secret")
	}
}

// checkEvent asserts what every event the simulator sends carries.
func checkEvent(t *testing.T, ev map[string]any, userID string) {
	t.Helper()
	raw, _ := json.Marshal(ev)
	var e struct {
		Type            string `json:"type"`
		Mode            string `json:"mode"`
		Timestamp       int64  `json:"timestamp"`
		WebhookEventID  string `json:"webhookEventId"`
		ReplyToken      string `json:"replyToken"`
		Source          map[string]string
		DeliveryContext *struct {
			IsRedelivery *bool `json:"isRedelivery"`
		} `json:"deliveryContext"`
		Message *struct {
			ID, Type, Text string
		}
		Postback *struct{ Data string }
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	switch {
	case e.Mode != "active",
		e.Timestamp < now-60_000 || e.Timestamp > now+1000,
		!ulidRE.MatchString(e.WebhookEventID),
		!regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(e.ReplyToken),
		e.Source["type"] != "user" || e.Source["userId"] != userID,
		e.DeliveryContext == nil || e.DeliveryContext.IsRedelivery == nil || *e.DeliveryContext.IsRedelivery,
		e.Type == "message" && (e.Message == nil || e.Message.Type != "text" || !regexp.MustCompile(`^\d+$`).MatchString(e.Message.ID)),
		e.Type == "postback" && (e.Postback == nil || e.Postback.Data == ""):
		t.Errorf("event %s is not shaped like LINE's", raw)
	}
}

func TestCursorHandsOutEachRequestOnceInAnyOrder(t *testing.T) {
	c := newCursor(10)
	rs := func(seqs ...int) []linefake.Request {
		var out []linefake.Request
		for _, s := range seqs {
			out = append(out, linefake.Request{Seq: s})
		}
		return out
	}
	seqs := func(rs []linefake.Request) (out []int) {
		for _, r := range rs {
			out = append(out, r.Seq)
		}
		return out
	}
	if got := seqs(c.take(rs(9, 11, 13))); len(got) != 2 || got[0] != 11 || got[1] != 13 || c.after != 11 || !c.gap() {
		t.Fatalf("took %v, after %d", got, c.after)
	}
	if got := seqs(c.take(rs(13, 12, 14))); len(got) != 2 || got[0] != 12 || got[1] != 14 || c.after != 14 || c.gap() {
		t.Fatalf("took %v, after %d", got, c.after)
	}
}

// stub plays the livechat server with the LINE client against the fake:
// it checks every webhook, replies to the handoff, greets the customer,
// sends the survey after the customer's answer, and thanks for the rating.
type stub struct {
	t      *testing.T
	secret string
	client *line.Client
	fake   *linefake.Server
	silent bool // accept webhooks and do nothing

	mu       sync.Mutex
	events   []map[string]any
	csat     map[string]string
	handoffs []handoff // in order of arrival
	refuse   string    // answer this customer's handoff request 400
	// noReply's handoff request gets no reply, only the greeting, and its
	// survey waits until another customer has asked (closing otherAsked).
	noReply    string
	otherAsked chan struct{}
}

// handoff is a customer's request for a human as the stub received it.
type handoff struct {
	userID, replyToken string
	// afterPrevious: the reply to the previous handoff had reached the
	// customer (it is in the fake's log) when this one arrived.
	afterPrevious bool
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.URL.Path != webhook.Path || !webhook.ValidSignature([]byte(s.secret), body, r.Header.Get(webhook.SignatureHeader)) {
		http.Error(w, "{}", http.StatusUnauthorized)
		return
	}
	var b struct {
		Destination string           `json:"destination"`
		Events      []map[string]any `json:"events"`
	}
	if err := json.Unmarshal(body, &b); err != nil || !chat.ValidLineUserID(b.Destination) {
		s.t.Errorf("webhook body %s", body)
	}
	for _, ev := range b.Events {
		s.mu.Lock()
		refused := ev["source"].(map[string]any)["userId"] == s.refuse && ev["message"] != nil &&
			ev["message"].(map[string]any)["text"] == Handoff
		s.mu.Unlock()
		if refused {
			http.Error(w, `{"message":"refused"}`, http.StatusBadRequest)
			return
		}
	}
	w.Write([]byte("{}"))
	for _, ev := range b.Events {
		s.mu.Lock()
		s.events = append(s.events, ev)
		if m, ok := ev["message"].(map[string]any); ok && m["text"] == Handoff {
			h := handoff{userID: ev["source"].(map[string]any)["userId"].(string), replyToken: ev["replyToken"].(string)}
			if n := len(s.handoffs); n > 0 {
				h.afterPrevious = s.delivered(s.handoffs[n-1].replyToken)
			}
			s.handoffs = append(s.handoffs, h)
			if s.noReply != "" && h.userID != s.noReply && s.otherAsked != nil {
				close(s.otherAsked)
				s.otherAsked = nil
			}
		}
		s.mu.Unlock()
		if !s.silent {
			go s.handle(ev) // after the 200, as the real inbox worker
		}
	}
}

// delivered reports whether a reply with token has reached the customer.
func (s *stub) delivered(token string) bool {
	for _, r := range s.fake.Deliveries() {
		if r.Endpoint == linefake.Reply && r.ReplyToken == token {
			return true
		}
	}
	return false
}

func (s *stub) handle(ev map[string]any) {
	ctx := context.Background()
	u := ev["source"].(map[string]any)["userId"].(string)
	tok, _ := ev["replyToken"].(string)
	var err error
	switch ev["type"] {
	case "message":
		text := ev["message"].(map[string]any)["text"].(string)
		switch {
		case text == Handoff:
			s.mu.Lock()
			reply := u != s.noReply
			s.mu.Unlock()
			if reply {
				err = s.client.Reply(ctx, tok, []line.Message{line.Text("You are number 1 in the queue.")})
			}
			if err == nil {
				err = s.client.Push(ctx, u, []line.Message{line.Text("Hi, how can I help?")}, "")
			}
		case strings.HasPrefix(text, "Thanks!"):
			s.mu.Lock()
			gate := s.otherAsked
			if u != s.noReply {
				gate = nil
			}
			s.mu.Unlock()
			if gate != nil {
				select {
				case <-gate:
				case <-s.t.Context().Done():
					return
				}
			}
			err = s.client.Push(ctx, u, []line.Message{line.CSATSurvey(7)}, "")
		}
	case "postback":
		s.mu.Lock()
		s.csat[u] = ev["postback"].(map[string]any)["data"].(string)
		s.mu.Unlock()
		err = s.client.Reply(ctx, tok, []line.Message{line.Text("Thank you!")})
	}
	if err != nil {
		s.t.Errorf("stub: %v", err)
	}
}

func newStub(t *testing.T, silent bool) (*stub, *linefake.Server, Config) {
	fake := linefake.New("tok")
	base := fake.Start()
	t.Cleanup(fake.Close)
	s := &stub{t: t, secret: "sec", client: line.NewClient(base, base, "tok", nil), fake: fake, silent: silent, csat: map[string]string{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, fake, Config{Server: srv.URL, FakeLine: base, Secret: "sec", Customers: 3, Seed: 5, Duration: 20 * time.Second}
}

func TestRunPlaysEachCustomerToTheRating(t *testing.T) {
	s, _, cfg := newStub(t, false)
	// Requests already in the fake's log belong to someone else.
	if err := s.client.Push(t.Context(), Customers(5, 1, 0)[0].UserID, []line.Message{line.Text("old")}, ""); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := Run(t.Context(), cfg, &out, nil); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	t.Logf("transcript:\n%s", out.String())
	if strings.Contains(out.String(), "old") {
		t.Error("the customer heard a push from before the run")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range Customers(5, 3, 0) {
		p, err := s.client.Profile(t.Context(), c.UserID)
		if err != nil || p.DisplayName != c.Name {
			t.Errorf("profile of %s at the fake: %+v %v", c.UserID, p, err)
		}
		if got, want := s.csat[c.UserID], line.CSATData(7, c.Score); got != want {
			t.Errorf("%s rated %q, want %q", c.Name, got, want)
		}
		var kinds []string
		for _, ev := range s.events {
			if ev["source"].(map[string]any)["userId"] == c.UserID {
				checkEvent(t, ev, c.UserID)
				kind, _ := ev["type"].(string)
				if m, ok := ev["message"].(map[string]any); ok {
					kind += ":" + m["text"].(string)
				}
				kinds = append(kinds, kind)
			}
		}
		want := "follow|message:hello|message:" + Handoff + "|message:Thanks! My order #100" + strconv.Itoa(c.N) + " has not arrived yet.|postback"
		if strings.Join(kinds, "|") != want {
			t.Errorf("%s sent %v, want %s", c.Name, kinds, want)
		}
	}
}

// TestRunQueuesCustomersInListOrder: customer k+1 asks for a human only
// once customer k has its queue reply, so the queue is the --list order
// (the demo's join_room names the first customer).
func TestRunQueuesCustomersInListOrder(t *testing.T) {
	s, _, cfg := newStub(t, false)
	cfg.Customers = 5
	var out strings.Builder
	if err := Run(t.Context(), cfg, &out, nil); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	customers := Customers(cfg.Seed, cfg.Customers, 0)
	if len(s.handoffs) != len(customers) {
		t.Fatalf("%d handoff requests, want %d:\n%s", len(s.handoffs), len(customers), out.String())
	}
	for i, h := range s.handoffs {
		if h.userID != customers[i].UserID {
			t.Errorf("handoff request %d came from %s, want %s (%s)", i+1, h.userID, customers[i].UserID, customers[i].Name)
		}
		if i > 0 && !h.afterPrevious {
			t.Errorf("handoff request %d arrived before the previous one was answered", i+1)
		}
	}
	if t.Failed() {
		t.Logf("transcript:\n%s", out.String())
	}
}

// TestRunFailedCustomerHoldsUpNobody: a customer whose handoff request is
// refused stops, and the next one asks all the same.
func TestRunFailedCustomerHoldsUpNobody(t *testing.T) {
	s, _, cfg := newStub(t, false)
	cfg.Customers = 2
	customers := Customers(cfg.Seed, 2, 0)
	s.mu.Lock()
	s.refuse = customers[0].UserID
	s.mu.Unlock()
	var out strings.Builder
	err := Run(t.Context(), cfg, &out, nil)
	var u *Unfinished
	if !errors.As(err, &u) || u.Why != "failed" || len(u.Customers) != 1 ||
		!strings.HasPrefix(u.Customers[0], "Customer 1 (U") || !strings.Contains(u.Customers[0], "failed: text: webhook answered 400") {
		t.Fatalf("err = %v\n%s", err, out.String())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if got, want := s.csat[customers[1].UserID], line.CSATData(7, customers[1].Score); got != want {
		t.Errorf("Customer 2 rated %q, want %q\n%s", got, want, out.String())
	}
}

// TestRunOperatorTextCountsAsAnswered: when the queue reply is lost but an
// operator writes, the server has the handoff, and the next customer asks
// (here before the first one can finish).
func TestRunOperatorTextCountsAsAnswered(t *testing.T) {
	s, _, cfg := newStub(t, false)
	cfg.Customers = 2
	customers := Customers(cfg.Seed, 2, 0)
	s.mu.Lock()
	s.noReply, s.otherAsked = customers[0].UserID, make(chan struct{})
	s.mu.Unlock()
	var out strings.Builder
	if err := Run(t.Context(), cfg, &out, nil); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
}

func TestRunGivesUpAfterTheDuration(t *testing.T) {
	_, _, cfg := newStub(t, true) // nobody answers
	cfg.Customers, cfg.Duration = 2, 300*time.Millisecond
	var out strings.Builder
	err := Run(t.Context(), cfg, &out, nil)
	var u *Unfinished
	if !errors.As(err, &u) || u.Why != "300ms elapsed" || len(u.Customers) != 2 || u.Total != 2 ||
		!strings.Contains(err.Error(), "Customer 1 (U") || !strings.Contains(err.Error(), "waiting for the queue reply") {
		t.Fatalf("err = %v", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	cfg.Duration = time.Minute
	if err := Run(ctx, cfg, io.Discard, nil); err == nil {
		t.Fatal("a cancelled run succeeded")
	}
}

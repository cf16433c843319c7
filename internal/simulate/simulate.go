package simulate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"livechat/internal/line"
	"livechat/internal/line/linefake"
)

// What the customers say.
const (
	Hello   = "hello"
	Handoff = "I want to talk to a human agent"
)

// answers are what a customer says to an operator's texts, in turn. None
// contains a handoff keyword.
var answers = []string{
	"Thanks! My order #%d has not arrived yet.",
	"It was supposed to come on Monday.",
	"Great, thank you so much!",
	"OK, sounds good.",
}

// Unfinished is the error of a run in which some customers did not rate.
type Unfinished struct {
	Why       string   // "10m0s elapsed", "interrupted"
	Customers []string // "Customer 2 (U…): waiting for an operator"
	Total     int
}

func (e *Unfinished) Error() string {
	return fmt.Sprintf("%s; %d of %d customers did not finish: %s", e.Why, len(e.Customers), e.Total, strings.Join(e.Customers, "; "))
}

var errDeadline = errors.New("deadline")

// Run plays cfg.Customers customers until every one has rated its chat
// (nil), the duration elapses or ctx ends (*Unfinished), or the server or
// the fake LINE cannot be reached at the start (an error saying which).
// The transcript, one line per event, goes to transcript.
func Run(ctx context.Context, cfg Config, transcript io.Writer, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, cfg.Duration, errDeadline)
	defer cancel()

	s := &sim{
		cfg:    cfg,
		log:    log,
		out:    transcript,
		line:   fakeLine{base: cfg.FakeLine, http: cfg.HTTP},
		server: Webhook{Base: cfg.Server, Secret: cfg.Secret, HTTP: cfg.HTTP},
		events: NewEvents(),
		tokens: map[string]*player{},
		byUser: map[string]*player{},
	}
	// Where the fake's log stands now: older requests are not ours.
	old, err := s.line.requests(ctx, 0, 0)
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted before the start: %w", context.Cause(ctx))
	}
	if err != nil {
		return fmt.Errorf("the fake LINE at %s is unreachable: %w", cfg.FakeLine, err)
	}
	start := 0
	for _, r := range old {
		start = max(start, r.Seq)
	}
	if err := s.server.Check(ctx); err != nil {
		return err
	}
	for _, c := range Customers(cfg.Seed, cfg.Customers, cfg.Score) {
		if err := s.line.setProfile(ctx, c); err != nil {
			return fmt.Errorf("register the profile of %s at the fake LINE: %w", c.Name, err)
		}
		p := &player{Customer: c, inbox: make(chan linefake.Request, 256), quit: make(chan struct{}),
			queued: make(chan struct{}), stage: "starting"}
		s.players = append(s.players, p)
		s.byUser[c.UserID] = p
	}
	log.Info("simulating customers", "customers", len(s.players), "server", cfg.Server, "fake_line", cfg.FakeLine,
		"seed", cfg.Seed, "duration", cfg.Duration)

	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { defer close(watched); s.watch(watchCtx, start) }()

	// The customers talk at once, but each asks for a human only once the
	// one before it in the list was answered, so the queue is the list's
	// order (the demo names the first customer as the one to take).
	var wg sync.WaitGroup
	for i, p := range s.players {
		var before *player
		if i > 0 {
			before = s.players[i-1]
		}
		wg.Go(func() {
			err := s.play(ctx, p, before)
			p.release() // a customer who stops holds up nobody after it
			close(p.quit)
			switch {
			case err == nil:
				p.setStage("rated " + strconv.Itoa(p.Score))
				p.setDone()
			case ctx.Err() == nil:
				p.setStage("failed: " + err.Error())
				log.Error("customer failed", "customer", p.Name, "line_user_id", p.UserID, "err", err)
			}
		})
	}
	wg.Wait()
	stopWatch()
	<-watched

	var left []string
	for _, p := range s.players {
		if !p.isDone() {
			left = append(left, fmt.Sprintf("%s (%s): %s", p.Name, p.UserID, p.getStage()))
		}
	}
	if len(left) == 0 {
		log.Info("every customer rated the chat", "customers", len(s.players))
		return nil
	}
	why := "failed"
	switch {
	case errors.Is(context.Cause(ctx), errDeadline):
		why = cfg.Duration.String() + " elapsed"
	case ctx.Err() != nil:
		why = "interrupted"
	}
	return &Unfinished{Why: why, Customers: left, Total: len(s.players)}
}

type sim struct {
	cfg    Config
	log    *slog.Logger
	line   fakeLine
	server Webhook
	events *Events

	outMu sync.Mutex
	out   io.Writer

	players []*player
	byUser  map[string]*player // read-only once the run starts

	mu     sync.Mutex
	tokens map[string]*player // reply token → who sent the event
}

// player is one customer's state.
type player struct {
	Customer
	inbox chan linefake.Request // pushes to and replies for this customer
	quit  chan struct{}         // closed when the customer stops reading inbox

	// queued is closed (by release) once the server has answered this
	// customer's handoff request, or the customer stopped: the next one in
	// the list may ask then.
	queued      chan struct{}
	releaseOnce sync.Once

	mu    sync.Mutex
	stage string
	done  bool
}

func (p *player) release() { p.releaseOnce.Do(func() { close(p.queued) }) }

func (p *player) setStage(s string) { p.mu.Lock(); p.stage = s; p.mu.Unlock() }
func (p *player) getStage() string  { p.mu.Lock(); defer p.mu.Unlock(); return p.stage }
func (p *player) setDone()          { p.mu.Lock(); p.done = true; p.mu.Unlock() }
func (p *player) isDone() bool      { p.mu.Lock(); defer p.mu.Unlock(); return p.done }

// say writes one transcript line: time, customer, direction, kind, text.
func (s *sim) say(p *player, dir, kind, text string) {
	text = strings.Join(strings.Fields(text), " ")
	s.outMu.Lock()
	defer s.outMu.Unlock()
	fmt.Fprintf(s.out, "%s  %-12s %s %-8s %s\n", time.Now().Format("15:04:05.000"), p.Name, dir, kind, text)
}

// send posts ev for p, remembering its reply token so the reply finds p.
func (s *sim) send(ctx context.Context, p *player, ev Event, kind, text string) error {
	if tok := ev.ReplyToken(); tok != "" {
		s.mu.Lock()
		s.tokens[tok] = p
		s.mu.Unlock()
	}
	s.say(p, "->", kind, text)
	if err := s.server.Send(ctx, ev); err != nil {
		return fmt.Errorf("%s: %w", kind, err)
	}
	return nil
}

// csatRE finds the session id in the survey's postback data.
var csatRE = regexp.MustCompile(`csat\|(\d+)\|`)

// play is one customer's conversation. It asks for a human only once the
// previous customer in the list (before; nil for the first) has been
// answered, reading what the server sends meanwhile.
func (s *sim) play(ctx context.Context, p *player, before *player) error {
	p.setStage("following")
	if err := s.send(ctx, p, s.events.Follow(p.UserID), "follow", "(adds the Official Account; "+p.UserID+")"); err != nil {
		return err
	}
	if err := s.send(ctx, p, s.events.Text(p.UserID, Hello), "text", Hello); err != nil {
		return err
	}
	turn := make(chan struct{})
	close(turn)
	if before != nil {
		turn = before.queued
		p.setStage("waiting for " + before.Name + "'s queue reply before asking for a human")
	}
	ask := s.events.Text(p.UserID, Handoff)
	hint := time.NewTimer(s.cfg.HintAfter)
	hint.Stop() // started by the handoff request
	defer hint.Stop()
	answered, rated := 0, false
	var ratingToken string
	for {
		var r linefake.Request
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-turn:
			turn = nil
			if err := s.send(ctx, p, ask, "text", Handoff); err != nil {
				return err
			}
			p.setStage("asked for a human, waiting for the queue reply")
			hint.Reset(s.cfg.HintAfter)
			continue
		case <-hint.C:
			s.log.Warn("no answer to the handoff request yet; is the server's LIVECHAT_LINE_API_BASE this fake LINE, "+
				"and its LIVECHAT_LINE_CHANNEL_TOKEN the one the fake requires?",
				"customer", p.Name, "waited", s.cfg.HintAfter, "fake_line", s.cfg.FakeLine)
			continue
		case r = <-p.inbox:
		}
		for _, m := range r.Messages {
			typ, _ := m["type"].(string)
			text, _ := m["text"].(string)
			switch {
			case r.Endpoint == linefake.Reply && r.ReplyToken == ask.ReplyToken():
				hint.Stop()
				s.say(p, "<-", "reply", text)
				p.setStage("queued, waiting for an operator")
				p.release()
			case r.Endpoint == linefake.Reply && r.ReplyToken == ratingToken:
				s.say(p, "<-", "reply", text)
				return nil // thanked: done
			case r.Endpoint == linefake.Reply:
				s.say(p, "<-", "reply", text)
			case typ == "text":
				hint.Stop()
				if turn == nil {
					p.release() // an operator writes: the server has the handoff, whatever became of its reply
				}
				s.say(p, "<-", "operator", text)
				if rated {
					continue
				}
				p.setStage("chatting with an operator")
				answer := answers[answered%len(answers)]
				if strings.Contains(answer, "%d") {
					answer = fmt.Sprintf(answer, 1000+p.N)
				}
				answered++
				if err := s.send(ctx, p, s.events.Text(p.UserID, answer), "text", answer); err != nil {
					return err
				}
			case isSurvey(m):
				raw, _ := json.Marshal(m)
				sm := csatRE.FindSubmatch(raw)
				if sm == nil {
					s.say(p, "<-", typ, "(a survey without a rating button)")
					continue
				}
				sessionID, _ := strconv.ParseInt(string(sm[1]), 10, 64)
				s.say(p, "<-", "survey", fmt.Sprintf("rate session %d (1-5 stars)", sessionID))
				if rated {
					continue
				}
				rated = true
				data := line.CSATData(sessionID, p.Score)
				ev := s.events.Postback(p.UserID, data)
				ratingToken = ev.ReplyToken()
				p.setStage(fmt.Sprintf("rated session %d with %d, waiting for the thank-you", sessionID, p.Score))
				if err := s.send(ctx, p, ev, "postback", fmt.Sprintf("%s (%s)", data, strings.Repeat("*", p.Score))); err != nil {
					return err
				}
			default:
				alt, _ := m["altText"].(string)
				s.say(p, "<-", typ, alt)
			}
		}
	}
}

// isSurvey reports whether m carries CSAT postback buttons.
func isSurvey(m line.Message) bool {
	if m["type"] != "flex" && m["type"] != "template" {
		return false
	}
	raw, _ := json.Marshal(m)
	return csatRE.Match(raw)
}

// watch long-polls the fake LINE and hands each delivered push and reply to
// its customer, until ctx ends. A failing fake LINE is retried.
func (s *sim) watch(ctx context.Context, start int) {
	cur := newCursor(start)
	failures := 0
	for ctx.Err() == nil {
		rs, err := s.line.requests(ctx, cur.after, s.cfg.PollWait)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			if failures == 1 || failures%10 == 0 {
				s.log.Warn("the fake LINE does not answer; retrying", "fake_line", s.cfg.FakeLine, "failures", failures, "err", err)
			}
			pause(ctx, time.Second)
			continue
		}
		failures = 0
		fresh := cur.take(rs)
		for _, r := range fresh {
			s.dispatch(ctx, r)
		}
		if len(fresh) == 0 && cur.gap() {
			// An earlier request is still in flight and the fake answers
			// at once with what we have seen: do not spin.
			pause(ctx, 100*time.Millisecond)
		}
	}
}

func (s *sim) dispatch(ctx context.Context, r linefake.Request) {
	if !r.Delivered {
		return // failed or a repeat: the customer never saw it
	}
	var p *player
	switch r.Endpoint {
	case linefake.Push:
		p = s.byUser[r.To]
	case linefake.Reply:
		s.mu.Lock()
		p = s.tokens[r.ReplyToken]
		s.mu.Unlock()
	}
	if p == nil {
		return
	}
	select {
	case p.inbox <- r:
	case <-p.quit:
	case <-ctx.Done():
	}
}

func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

package webhook

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/line"
	"livechat/internal/line/linefake"
)

// surveyRig runs Surveys against the fake LINE; attempts receives one
// value per push attempt, after its retry (if any) is scheduled.
type surveyRig struct {
	s        *Surveys
	line     *linefake.Server
	clock    *clock.Fake
	attempts chan struct{}
	stop     func()
}

func newSurveyRig(t *testing.T) *surveyRig {
	t.Helper()
	fake := linefake.New("tok")
	base := fake.Start()
	t.Cleanup(fake.Close)
	clk := clock.NewFake(time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC))
	r := &surveyRig{line: fake, clock: clk, attempts: make(chan struct{}, 100)}
	r.s = NewSurveys(line.NewClient(base, base, "tok", nil), clk, slog.New(slog.DiscardHandler), DefaultCloseNotices)
	r.s.sent = func() { r.attempts <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.s.Run(ctx) }()
	r.stop = func() { cancel(); <-done }
	t.Cleanup(r.stop)
	return r
}

func (r *surveyRig) waitAttempt(t *testing.T) {
	t.Helper()
	select {
	case <-r.attempts:
	case <-time.After(10 * time.Second):
		t.Fatal("no push attempt")
	}
}

func closedByOperator(id int64) chat.Session {
	by := chat.ClosedByOperator
	at := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	return chat.Session{ID: id, LineUserID: "U0123456789abcdef0123456789abcdef", Status: chat.StatusClosed, ClosedBy: &by, ClosedAt: &at}
}

func TestSurveyRetriesTemporaryFailuresWithOneRetryKey(t *testing.T) {
	r := newSurveyRig(t)
	r.line.FailNext(linefake.Push, linefake.Status(500), linefake.TooManyRequests(30*time.Second), linefake.Lost(linefake.Status(502)))
	r.s.AfterClose(context.Background(), closedByOperator(7))
	r.waitAttempt(t) // 500
	r.clock.Advance(time.Second)
	r.waitAttempt(t) // 429, Retry-After 30s beats the 2s backoff
	r.clock.Advance(29 * time.Second)
	if n := len(r.line.Requests(linefake.Push)); n != 2 {
		t.Fatalf("%d pushes before Retry-After passed, want 2", n)
	}
	r.clock.Advance(time.Second)
	r.waitAttempt(t) // accepted by LINE, answer lost (502)
	r.clock.Advance(4 * time.Second)
	r.waitAttempt(t) // 409: already accepted, done
	r.clock.Advance(time.Hour)
	pushes := r.line.Requests(linefake.Push)
	if len(pushes) != 4 {
		t.Fatalf("%d pushes, want 4", len(pushes))
	}
	for _, p := range pushes {
		if p.RetryKey != pushes[0].RetryKey {
			t.Fatalf("retry keys differ: %q, %q", p.RetryKey, pushes[0].RetryKey)
		}
	}
	if d := r.line.Deliveries(); len(d) != 1 {
		t.Fatalf("%d deliveries, want exactly 1", len(d))
	}
}

func TestSurveyGivesUpAfterFiveAttempts(t *testing.T) {
	r := newSurveyRig(t)
	for range surveyAttempts + 1 {
		r.line.FailNext(linefake.Push, linefake.Status(503))
	}
	r.s.AfterClose(context.Background(), closedByOperator(8))
	for i := range surveyAttempts {
		r.waitAttempt(t)
		if i < surveyAttempts-1 {
			r.clock.Advance(maxBackoff)
		}
	}
	r.clock.Advance(time.Hour)
	if n := len(r.line.Requests(linefake.Push)); n != surveyAttempts {
		t.Fatalf("%d pushes, want %d", n, surveyAttempts)
	}
	if n := r.clock.Pending(); n != 0 {
		t.Fatalf("%d timers pending", n)
	}
}

func TestSurveyRetryCancelledOnStop(t *testing.T) {
	r := newSurveyRig(t)
	r.line.FailNext(linefake.Push, linefake.Status(500))
	r.s.AfterClose(context.Background(), closedByOperator(9))
	r.waitAttempt(t)
	if n := r.clock.Pending(); n != 1 {
		t.Fatalf("%d timers pending, want the retry", n)
	}
	r.stop()
	if n := r.clock.Pending(); n != 0 {
		t.Fatalf("%d timers pending after stop", n)
	}
}

func TestSurveyRetryKey(t *testing.T) {
	a, b := closedByOperator(1), closedByOperator(2)
	if surveyRetryKey(a) != surveyRetryKey(a) || surveyRetryKey(a) == surveyRetryKey(b) {
		t.Fatal("retry keys are not one per session")
	}
	later := *a.ClosedAt
	later = later.Add(time.Hour)
	reset := a
	reset.ClosedAt = &later
	if surveyRetryKey(a) == surveyRetryKey(reset) {
		t.Fatal("the same session id after a database reset reuses the key")
	}
}

func TestSurveyGivesUpOnAClientError(t *testing.T) {
	r := newSurveyRig(t)
	r.line.FailNext(linefake.Push, linefake.Status(400))
	r.s.AfterClose(context.Background(), closedByOperator(10))
	r.waitAttempt(t)
	r.clock.Advance(time.Hour)
	if n := len(r.line.Requests(linefake.Push)); n != 1 {
		t.Fatalf("%d pushes after a 400, want 1", n)
	}
	if n := r.clock.Pending(); n != 0 {
		t.Fatalf("%d timers pending", n)
	}
}

// The survey follows an operator's close only; the sweep's closes get their
// notice instead, and the customer's own (an unfollow) nothing.
func TestSurveyOnlyForOperatorCloses(t *testing.T) {
	r := newSurveyRig(t)
	r.stop() // the queue is read here, not pushed
	for _, by := range []chat.ClosedBy{chat.ClosedByUser, chat.ClosedBySystem, chat.ClosedBySystemTimeout} {
		s := closedByOperator(11)
		s.ClosedBy = &by
		r.s.AfterClose(context.Background(), s)
	}
	r.s.AfterClose(context.Background(), chat.Session{ID: 12})
	if n := len(r.s.queue); n != 2 {
		t.Fatalf("%d queued, want the two notices", n)
	}
	for _, want := range []string{DefaultCloseNotices.Inactive, DefaultCloseNotices.Waiting} {
		j := <-r.s.queue
		if j.what != "close notice" || len(j.msgs) != 1 || j.msgs[0]["text"] != want {
			t.Fatalf("queued %s %v, want the notice %q", j.what, j.msgs, want)
		}
	}
}

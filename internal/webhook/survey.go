package webhook

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/line"
)

// Survey sending limits.
const (
	surveyQueue    = 1024
	surveyAttempts = 5
	surveyTimeout  = 15 * time.Second
)

// Surveys pushes what a customer gets after its session closed: the CSAT
// survey (line.CSATSurvey) after an operator's close, the close notice
// (CloseNotices) after the sweep's. AfterClose only queues, so the close
// does not wait for LINE; Run, one goroutine, pushes. A temporary failure
// (5xx, 429, timeout) is retried with the same X-Line-Retry-Key, so the
// customer gets it at most once; a session closes once, so once is all it
// gets. Queued pushes live in memory: a restart loses the ones not yet sent.
type Surveys struct {
	push    Pusher
	clock   clock.Clock
	log     *slog.Logger
	queue   chan surveyJob
	notices CloseNotices

	mu      sync.Mutex
	timers  map[clock.Timer]struct{} // pending retries
	stopped bool

	sent func() // tests: called after each attempt, its retry scheduled
}

type surveyJob struct {
	session chat.Session
	what    string // "csat survey", "close notice": for the logs
	msgs    []line.Message
	attempt int
}

// CloseNotices are the texts a customer gets when the sweep closes its
// session: Inactive after no activity (closed_by SYSTEM), Waiting after
// waiting too long for an operator (SYSTEM_TIMEOUT). Empty: none is sent.
type CloseNotices struct {
	Inactive, Waiting string
}

// DefaultCloseNotices are Thai first, then English, as the replies.
var DefaultCloseNotices = CloseNotices{
	Inactive: "การสนทนานี้สิ้นสุดลงเนื่องจากไม่มีการตอบกลับค่ะ หากต้องการความช่วยเหลือ ส่งข้อความมาได้อีกครั้งนะคะ\n" +
		"This chat ended after a period of inactivity. Send us a message any time to start again.",
	Waiting: "ขออภัยค่ะ ขณะนี้ไม่มีเจ้าหน้าที่ว่าง กรุณาส่งข้อความใหม่เพื่อเข้าคิวอีกครั้งค่ะ\n" +
		"Sorry, no agent was available in time. Send a new message to join the queue again.",
}

// NewSurveys returns the sender, with these close notices; start Run.
func NewSurveys(push Pusher, c clock.Clock, log *slog.Logger, notices CloseNotices) *Surveys {
	return &Surveys{
		push:    push,
		clock:   c,
		log:     log.With("component", "after-close"),
		queue:   make(chan surveyJob, surveyQueue),
		notices: notices,
		timers:  map[clock.Timer]struct{}{},
	}
}

// AfterClose is the chat.Service.AfterClose hook: it queues the survey for
// a session an operator closed, the notice for one the sweep closed, and
// never blocks.
func (s *Surveys) AfterClose(_ context.Context, sess chat.Session) {
	if sess.ClosedBy == nil {
		return
	}
	var text string
	switch *sess.ClosedBy {
	case chat.ClosedByOperator:
		s.enqueue(surveyJob{session: sess, what: "csat survey", msgs: []line.Message{line.CSATSurvey(sess.ID)}, attempt: 1})
		return
	case chat.ClosedBySystem:
		text = s.notices.Inactive
	case chat.ClosedBySystemTimeout:
		text = s.notices.Waiting
	}
	if text != "" {
		s.enqueue(surveyJob{session: sess, what: "close notice", msgs: []line.Message{line.Text(text)}, attempt: 1})
	}
}

func (s *Surveys) enqueue(j surveyJob) {
	select {
	case s.queue <- j:
	default:
		s.log.Warn(j.what+" dropped: queue full", "session_id", j.session.ID)
	}
}

// Run sends queued surveys until ctx ends; then pending retries are cancelled.
func (s *Surveys) Run(ctx context.Context) {
	defer s.stopTimers()
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-s.queue:
			s.send(ctx, j)
		}
	}
}

func (s *Surveys) send(ctx context.Context, j surveyJob) {
	if s.sent != nil {
		defer s.sent()
	}
	pctx, cancel := context.WithTimeout(ctx, surveyTimeout)
	err := s.push.Push(pctx, j.session.LineUserID, j.msgs, surveyRetryKey(j.session))
	cancel()
	if err == nil || line.IsAccepted(err) {
		s.log.Info(j.what+" sent", "session_id", j.session.ID, "attempt", j.attempt)
		return
	}
	if ctx.Err() != nil {
		s.log.Warn(j.what+" not sent: shutting down", "session_id", j.session.ID)
		return
	}
	delay, temporary := surveyRetry(err, j.attempt)
	if !temporary || j.attempt >= surveyAttempts {
		s.log.Log(ctx, quietIfNoToken(err), j.what+" not sent", "session_id", j.session.ID, "attempt", j.attempt, "err", err)
		return
	}
	s.log.Info(j.what+" failed, will retry", "session_id", j.session.ID, "attempt", j.attempt, "retry_in", delay, "err", err)
	j.attempt++
	s.after(delay, func() { s.enqueue(j) })
}

// surveyRetry says whether err may pass, and after how long.
func surveyRetry(err error, attempt int) (time.Duration, bool) {
	if errors.Is(err, line.ErrNoToken) {
		return 0, false
	}
	var ae *line.APIError
	if errors.As(err, &ae) {
		return max(ae.RetryAfter, backoff(attempt)), ae.Temporary()
	}
	return backoff(attempt), true // the network or a timeout
}

// after runs f after d unless Run has ended; the timer is Run's to stop.
func (s *Surveys) after(d time.Duration, f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	var t clock.Timer
	// The callback takes mu first, so it sees t assigned.
	t = s.clock.AfterFunc(d, func() {
		s.mu.Lock()
		delete(s.timers, t)
		s.mu.Unlock()
		f()
	})
	s.timers[t] = struct{}{}
}

func (s *Surveys) stopTimers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	for t := range s.timers {
		t.Stop()
	}
	clear(s.timers)
}

// surveyRetryKey is the same for every attempt of one session's survey
// or notice (a session gets one of them, once),
// and differs between sessions, also after the database was reset (the
// close time is part of it), since LINE remembers keys for 24 hours.
func surveyRetryKey(sess chat.Session) string {
	closed := int64(0)
	if sess.ClosedAt != nil {
		closed = sess.ClosedAt.UnixNano()
	}
	name := "livechat:csat-survey:" + strconv.FormatInt(sess.ID, 10) + ":" + strconv.FormatInt(closed, 10)
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte(name)).String()
}

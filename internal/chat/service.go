package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"livechat/internal/clock"
)

// Service holds the live-chat rules. The WebSocket and REST transports call
// the same methods, so both get the same checks and broadcasts.
type Service struct {
	store    Store
	clock    clock.Clock
	notify   Notifier
	outbound Outbound
	enqueue  Enqueuer // when set, replaces outbound (see SetEnqueuer)
	log      *slog.Logger
	loc      *time.Location

	// AfterClose runs after an operator close committed (the CSAT survey hook).
	AfterClose func(ctx context.Context, s Session)

	audit Auditor // nil: no audit log
}

// SetAuditor records the service's state changes in a.
func (s *Service) SetAuditor(a Auditor) { s.audit = a }

// record adds an audit row (Record), at the service's time.
func (s *Service) record(ctx context.Context, e AuditEntry) {
	if e.At.IsZero() {
		e.At = s.now()
	}
	Record(ctx, s.audit, e, s.log)
}

// byOperator is an audit row's actor.
func byOperator(op Operator, action string, sess Session, details map[string]any) AuditEntry {
	id := op.ID
	if details == nil {
		details = map[string]any{}
	}
	details["line_user_id"] = sess.LineUserID
	return AuditEntry{ActorID: &id, Actor: op.Username, Action: action, ResourceType: "session",
		ResourceID: strconv.FormatInt(sess.ID, 10), Details: details}
}

// NewService wires the service. loc is the business timezone ("today").
func NewService(store Store, c clock.Clock, out Outbound, log *slog.Logger, loc *time.Location) *Service {
	if loc == nil {
		loc = time.UTC
	}
	return &Service{store: store, clock: c, outbound: out, log: log.With("component", "chat"), loc: loc, notify: nopNotifier{}}
}

// SetNotifier installs the broadcaster (the hub, built after the service).
func (s *Service) SetNotifier(n Notifier) { s.notify = detached{n} }

func (s *Service) now() time.Time { return s.clock.Now().UTC() }

// Customer returns a customer by LINE user id (ErrCustomerNotFound).
func (s *Service) Customer(ctx context.Context, lineUserID string) (Customer, error) {
	if !ValidLineUserID(lineUserID) {
		return Customer{}, &Error{Kind: ErrInvalid, Message: "invalid line_user_id", Field: "line_user_id"}
	}
	c, err := s.store.Customer(ctx, lineUserID)
	if errors.Is(err, ErrNotFound) {
		return Customer{}, fmt.Errorf("customer %s: %w", lineUserID, ErrCustomerNotFound)
	}
	return c, err
}

// openSession returns the customer's open session (ErrSessionNotFound).
func (s *Service) openSession(ctx context.Context, lineUserID string) (Session, error) {
	sess, err := s.store.OpenSession(ctx, lineUserID)
	if errors.Is(err, ErrNotFound) {
		return Session{}, fmt.Errorf("open session of %s: %w", lineUserID, ErrSessionNotFound)
	}
	return sess, err
}

// OpenSession is the customer's WAITING or ACTIVE session, if any.
func (s *Service) OpenSession(ctx context.Context, lineUserID string) (*Session, error) {
	sess, err := s.store.OpenSession(ctx, lineUserID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &sess, nil
}

// RequestHuman is the handoff: it creates a WAITING session, or returns the
// open one, and announces a new one to every operator.
func (s *Service) RequestHuman(ctx context.Context, lineUserID string) (sess Session, created bool, position, total int, err error) {
	cust, err := s.Customer(ctx, lineUserID)
	if err != nil {
		return Session{}, false, 0, 0, err
	}
	sess, created, err = s.store.EnsureWaitingSession(ctx, lineUserID, s.now())
	if err != nil {
		return Session{}, false, 0, 0, fmt.Errorf("handoff %s: %w", lineUserID, err)
	}
	if sess.Status == StatusWaiting {
		if position, total, err = s.store.QueuePosition(ctx, sess.ID); err != nil {
			return Session{}, false, 0, 0, fmt.Errorf("queue position: %w", err)
		}
	}
	// position 0: claimed or closed since it was created; nothing waits.
	if created && position > 0 {
		s.notify.SessionQueued(ctx, sess, cust, position, total)
	}
	return sess, created, position, total, nil
}

// Claim gives the customer's WAITING session to actor. Of any number of
// concurrent claimers exactly one wins; the others get ErrAlreadyClaimed.
func (s *Service) Claim(ctx context.Context, actor Operator, lineUserID string) (Session, error) {
	sess, err := s.openSession(ctx, lineUserID)
	if err != nil {
		return Session{}, err
	}
	if sess.Status != StatusWaiting {
		if sess.OperatorID != nil && *sess.OperatorID == actor.ID {
			return Session{}, &Error{Kind: ErrAlreadyClaimed, Message: "You already own this session"}
		}
		return Session{}, &Error{Kind: ErrAlreadyClaimed, Message: "Session already claimed by another operator"}
	}
	claimed, err := s.store.ClaimSession(ctx, sess.ID, actor.ID, s.now())
	if err != nil {
		if errors.Is(err, ErrAlreadyClaimed) {
			return Session{}, &Error{Kind: ErrAlreadyClaimed, Message: "Session already claimed by another operator"}
		}
		return Session{}, fmt.Errorf("claim session %d: %w", sess.ID, err)
	}
	s.notify.SessionClaimed(ctx, claimed)
	s.record(ctx, byOperator(actor, AuditClaim, claimed, nil))
	return claimed, nil
}

// mayAct reports whether actor may act on sess: its owner, or a supervisor or admin.
func mayAct(actor Operator, sess Session) bool {
	return actor.Role.CanOverride() || (sess.OperatorID != nil && *sess.OperatorID == actor.ID)
}

// Close closes the customer's open session and hands the customer back to
// the bot. The owner may close an ACTIVE session; a supervisor or admin may
// close any open session, WAITING included.
func (s *Service) Close(ctx context.Context, actor Operator, lineUserID string) (Session, error) {
	sess, err := s.openSession(ctx, lineUserID)
	if err != nil {
		return Session{}, err
	}
	if sess.Status == StatusWaiting && !actor.Role.CanOverride() {
		return Session{}, &Error{Kind: ErrForbidden, Message: "Only a supervisor or admin can close a waiting session"}
	}
	if !mayAct(actor, sess) {
		return Session{}, &Error{Kind: ErrForbidden, Message: "Only the claiming operator, a supervisor or an admin can close this session"}
	}
	id := actor.ID
	// The checks above re-run in the conditional update: the status, and the
	// owner unless the actor may override, so a session transferred away
	// after the read stays open.
	var owner *int64
	if !actor.Role.CanOverride() {
		owner = &id
	}
	closed, err := s.store.CloseSession(ctx, sess.ID, sess.Status, owner, ClosedByOperator, &id, s.now())
	if errors.Is(err, ErrConflict) {
		return Session{}, &Error{Kind: ErrSessionState, Message: "The session changed meanwhile; reload it"}
	}
	if err != nil {
		return Session{}, fmt.Errorf("close session %d: %w", sess.ID, err)
	}
	s.notify.SessionClosed(ctx, closed)
	s.record(ctx, byOperator(actor, AuditClose, closed, nil))
	if s.AfterClose != nil {
		s.AfterClose(context.WithoutCancel(ctx), closed)
	}
	return closed, nil
}

// MaxReasonLen bounds a transfer reason, in characters.
const MaxReasonLen = 255

// Transfer hands the customer's ACTIVE session to another active operator.
func (s *Service) Transfer(ctx context.Context, actor Operator, lineUserID string, to int64, reason *string) (Session, error) {
	if to < 1 {
		return Session{}, &Error{Kind: ErrInvalid, Message: "to_operator_id must be a positive integer", Field: "to_operator_id"}
	}
	if reason != nil {
		// Free text: stripped of what no database stores, as a message is.
		r := CleanLine(*reason)
		if utf8.RuneCountInString(r) > MaxReasonLen {
			return Session{}, &Error{Kind: ErrInvalid, Message: "reason must be at most 255 characters", Field: "reason"}
		}
		reason = &r
		if r == "" {
			reason = nil
		}
	}
	sess, err := s.openSession(ctx, lineUserID)
	if err != nil {
		return Session{}, err
	}
	if sess.Status != StatusActive || sess.OperatorID == nil {
		return Session{}, &Error{Kind: ErrSessionState, Message: "Only an ACTIVE session can be transferred; claim it first"}
	}
	if !mayAct(actor, sess) {
		return Session{}, &Error{Kind: ErrForbidden, Message: "Only the current operator, a supervisor or an admin can transfer this session"}
	}
	from := *sess.OperatorID
	if to == from {
		return Session{}, &Error{Kind: ErrInvalid, Message: "The target already owns this session", Field: "to_operator_id"}
	}
	target, err := s.store.Operator(ctx, to)
	if errors.Is(err, ErrNotFound) || (err == nil && !target.Active) {
		return Session{}, fmt.Errorf("transfer target %d: %w", to, ErrOperatorNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("transfer target %d: %w", to, err)
	}
	moved, err := s.store.TransferSession(ctx, sess.ID, from, to, reason, s.now())
	if errors.Is(err, ErrConflict) {
		return Session{}, &Error{Kind: ErrSessionState, Message: "The session changed meanwhile; reload it"}
	}
	if err != nil {
		return Session{}, fmt.Errorf("transfer session %d: %w", sess.ID, err)
	}
	s.notify.SessionTransferred(ctx, moved, from)
	details := map[string]any{"from_operator_id": from, "to_operator_id": to}
	if reason != nil {
		details["reason"] = *reason
	}
	s.record(ctx, byOperator(actor, AuditTransfer, moved, details))
	return moved, nil
}

// SendRequest is an operator's text message.
type SendRequest struct {
	Actor      Operator
	LineUserID string
	Text       string
	TempID     string
	// Origin is the sending socket, excluded from new_message; empty for REST.
	Origin string
	// Ack, if set, runs once the message is stored and announced, before
	// delivery to the customer (the sending tab's message_sent).
	Ack func(Message)
	// SameText makes TempID a strict idempotency key (REST's
	// Idempotency-Key): a key already used with another text is
	// ErrIdempotencyKeyReused instead of a replay.
	SameText bool
}

// SendMessage stores an operator's message (persist first, with its seq),
// announces it, then hands it to the customer's channel. A delivery failure
// marks the message failed and tells the sender; it is not an error here.
//
// A TempID the actor already used in this conversation makes it a retry:
// nothing is stored, announced or delivered, and the message stored under
// it first is acked and returned, whatever its delivery state (see replay).
func (s *Service) SendMessage(ctx context.Context, r SendRequest) (Message, error) {
	if !Storable(r.TempID) { // an identifier, stored with the message: refused, not altered
		return Message{}, &Error{Kind: ErrInvalid, Message: "temp_id must be valid UTF-8 without NUL characters", Field: "payload.temp_id"}
	}
	text, err := CleanText(r.Text)
	if err != nil {
		return Message{}, err
	}
	opID := r.Actor.ID
	m := Message{
		LineUserID:     r.LineUserID,
		Direction:      Outgoing,
		MessageType:    "text",
		Content:        text,
		SenderRole:     SenderAdmin,
		OperatorID:     &opID,
		OperatorName:   r.Actor.DisplayName,
		DeliveryStatus: DeliveryPending,
		TempID:         r.TempID,
	}
	// The send's audit: its message is the row (store.AuditLog), stored
	// in the same write.
	m.SentIP, m.SentUserAgent = SourceOf(ctx)
	if s.enqueue != nil {
		// Stored with the message, so the outbox never sees it without its key.
		m.RetryKey = uuid.NewString()
	}
	// The rules are checked inside the append, against the session as it
	// is when the message is written (one statement, nothing read before):
	// an ACTIVE open session, the actor's unless it may override.
	guard := &AppendGuard{}
	if !r.Actor.Role.CanOverride() {
		guard.Owner = &opID
	}
	if err := s.store.AppendMessage(ctx, &m, guard, s.now()); err != nil {
		var dup *DuplicateSendError
		if errors.As(err, &dup) {
			return s.replay(ctx, r, text, dup.Original)
		}
		return Message{}, sendRefused(r.LineUserID, err)
	}
	if r.Ack != nil {
		r.Ack(m)
	}
	s.notify.MessageStored(ctx, m, r.TempID, r.Origin)
	if s.enqueue != nil {
		// The outbox delivers later and reports a failure itself. Should
		// Enqueue fail, the row is still pending and the outbox finds it.
		if err := s.enqueue.Enqueue(ctx, m, r.TempID); err != nil {
			s.log.ErrorContext(ctx, "enqueue delivery", "message_id", m.ID, "err", err)
		}
		return m, nil
	}
	s.deliver(ctx, &m, r.TempID)
	return m, nil
}

// replay answers a retried send with orig, the message its temp_id already
// stored: acked as it is now, and nothing else (it was announced and
// handed to the channel when it was stored). A strict key with another
// text is refused; a temp_id with another text is answered all the same,
// as the protocol says (logged at debug level only: a client can cause it
// at will).
func (s *Service) replay(ctx context.Context, r SendRequest, text string, orig Message) (Message, error) {
	if orig.Content != text {
		if r.SameText {
			return Message{}, &Error{Kind: ErrIdempotencyKeyReused,
				Message: "This Idempotency-Key was already used for a message with a different text; send a new message with a new key"}
		}
		s.log.DebugContext(ctx, "temp_id reused with a different text: answered with the original message",
			"operator_id", r.Actor.ID, "line_user_id", r.LineUserID, "message_id", orig.ID)
	}
	if r.Ack != nil {
		r.Ack(orig)
	}
	return orig, nil
}

// sendRefused words why an operator's message was not stored.
func sendRefused(lineUserID string, err error) error {
	switch {
	case errors.Is(err, ErrSessionNotFound):
		return fmt.Errorf("open session of %s: %w", lineUserID, ErrSessionNotFound)
	case errors.Is(err, ErrSessionState):
		return &Error{Kind: ErrSessionState, Message: "Claim the session before replying"}
	case errors.Is(err, ErrForbidden):
		return &Error{Kind: ErrForbidden, Message: "Only the claiming operator, a supervisor or an admin can reply in this session"}
	case errors.Is(err, ErrNotFound):
		return fmt.Errorf("customer %s: %w", lineUserID, ErrCustomerNotFound)
	}
	return fmt.Errorf("store message: %w", err)
}

// deliver hands m to the outbound channel and records the outcome.
func (s *Service) deliver(ctx context.Context, m *Message, tempID string) {
	status, reason := DeliverySent, ""
	err := s.outbound.Deliver(ctx, *m)
	retryable := false
	if err != nil {
		status, reason = DeliveryFailed, err.Error()
		var de *DeliveryError
		if errors.As(err, &de) {
			reason, retryable = de.Reason, de.Retryable
		}
		s.log.WarnContext(ctx, "delivery failed", "message_id", m.ID, "line_user_id", m.LineUserID, "err", err)
	}
	if serr := s.store.SetDelivery(ctx, m.ID, status, reason); serr != nil {
		s.log.ErrorContext(ctx, "record delivery", "message_id", m.ID, "err", serr)
	}
	m.DeliveryStatus, m.DeliveryError = status, reason
	if err != nil {
		s.notify.MessageFailed(ctx, *m, tempID, reason, retryable)
		return
	}
	s.notify.MessageDelivered(ctx, *m, tempID)
}

// CustomerMessage stores a message from the customer (or a bot/system
// notice), with its seq, and announces it.
func (s *Service) CustomerMessage(ctx context.Context, m Message) (Message, error) {
	if _, err := s.Customer(ctx, m.LineUserID); err != nil {
		return Message{}, err
	}
	if m.Direction == "" {
		m.Direction = Incoming
	}
	if m.SenderRole == "" {
		m.SenderRole = SenderUser
	}
	if m.MessageType == "" {
		m.MessageType = "text"
	}
	if err := s.store.AppendMessage(ctx, &m, nil, s.now()); err != nil {
		return Message{}, fmt.Errorf("store customer message: %w", err)
	}
	s.notify.MessageStored(ctx, m, "", "")
	return m, nil
}

// History is the conversation detail an operator sees on join.
type History struct {
	Customer Customer
	Session  *Session
	Messages []Message // oldest first
	// Resync: a resume could not be answered with what the client missed
	// (too many, or its seq is beyond the conversation's); Messages are the
	// last n instead.
	Resync bool
}

// Conversation loads a customer, its open session and its last n messages,
// and marks it read for the reader.
func (s *Service) Conversation(ctx context.Context, readerID int64, lineUserID string, n int) (History, error) {
	cust, err := s.Customer(ctx, lineUserID)
	if err != nil {
		return History{}, err
	}
	return s.History(ctx, readerID, cust, nil, 0, n)
}

// History loads cust's open session and messages, and marks it read for
// the reader up to cust.LastSeq. Without after, the messages are the last
// n. With it (a client that holds the messages up to *after), they are
// those after it, oldest first; more than window of them, or an *after
// beyond cust.LastSeq, answers the last n with Resync set.
func (s *Service) History(ctx context.Context, readerID int64, cust Customer, after *int64, window, n int) (History, error) {
	sess, err := s.OpenSession(ctx, cust.LineUserID)
	if err != nil {
		return History{}, err
	}
	h := History{Customer: cust, Session: sess}
	resync := after != nil && (*after > cust.LastSeq || cust.LastSeq-*after > int64(window))
	if after != nil && !resync {
		h.Messages, err = s.store.MessagesAfter(ctx, cust.LineUserID, *after, window+1)
		if err != nil {
			return History{}, fmt.Errorf("messages after %d: %w", *after, err)
		}
		// More came since cust was read; or fewer than cust counts after
		// the client's seq came back, which a replay must never pass off
		// as all it missed.
		resync = len(h.Messages) > window || int64(len(h.Messages)) < cust.LastSeq-*after
	}
	if after == nil || resync {
		h.Messages, _, err = s.store.RecentMessages(ctx, cust.LineUserID, 0, n)
		if err != nil {
			return History{}, fmt.Errorf("recent messages: %w", err)
		}
		h.Resync = resync
	}
	if err := s.markRead(ctx, readerID, cust); err != nil {
		return History{}, err
	}
	return h, nil
}

func (s *Service) markRead(ctx context.Context, readerID int64, cust Customer) error {
	if cust.LastSeq == 0 {
		return nil
	}
	if err := s.store.MarkRead(ctx, readerID, cust.LineUserID, cust.LastSeq); err != nil {
		return fmt.Errorf("mark read: %w", err)
	}
	return nil
}

type nopNotifier struct{}

func (nopNotifier) SessionQueued(context.Context, Session, Customer, int, int)   {}
func (nopNotifier) MessageUnsent(context.Context, Message)                       {}
func (nopNotifier) ConversationTagged(context.Context, string, []Tag)            {}
func (nopNotifier) SessionClaimed(context.Context, Session)                      {}
func (nopNotifier) SessionClosed(context.Context, Session)                       {}
func (nopNotifier) SessionTransferred(context.Context, Session, int64)           {}
func (nopNotifier) MessageStored(context.Context, Message, string, string)       {}
func (nopNotifier) MessageFailed(context.Context, Message, string, string, bool) {}
func (nopNotifier) MessageDelivered(context.Context, Message, string)            {}
func (nopNotifier) CSATReceived(context.Context, Session, int)                   {}
func (nopNotifier) SLAAlert(context.Context, SLAAlert)                           {}

package ws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/gorilla/websocket"

	lc "livechat/gen/livechat"
	"livechat/internal/bus"
	"livechat/internal/chat"
	"livechat/internal/contract"
	"livechat/internal/errcode"
	"livechat/internal/ratelimit"
)

// historySize is how many messages join_room returns.
const historySize = 50

// events handles one socket's client frames; it implements the generated
// lc.Handler, so a new client event in the spec does not compile until it
// is handled here.
type events struct {
	c       *Conn
	rejects *ratelimit.Sampler // this socket's rejected-frame log line, once authenticated
}

// handle runs the inbound pipeline in the order the spec fixes: JSON, type,
// authentication, rate limit, schema, dispatch. Every failure is an error
// frame; the socket stays open.
func (e *events) handle(ctx context.Context, data []byte) {
	c, h := e.c, e.c.hub
	inst, err := contract.Decode(data)
	if err != nil {
		e.reject("", &errcode.Error{Code: errcode.ValidationError, Message: "malformed JSON"})
		return
	}
	obj, ok := inst.(map[string]any)
	if !ok {
		e.reject("", &errcode.Error{Code: errcode.ValidationError, Message: "a frame must be a JSON object"})
		return
	}
	typ, _ := obj["type"].(string)
	if !lc.IsClientEvent(typ) {
		h.deps.Metrics.FrameIn("unknown") // never a client's string: the labels stay bounded
		msg := "missing type"
		if typ != "" {
			msg = "unknown event type: " + typ
		}
		e.reject("", &errcode.Error{Code: errcode.UnknownEvent, Message: msg})
		return
	}
	h.deps.Metrics.FrameIn(typ)
	op, authed := c.operator()
	if !authed && typ != lc.TypeAuth {
		e.reject(typ, &errcode.Error{Code: errcode.NotAuthenticated, Message: "Not authenticated. Send 'auth' first."})
		return
	}
	if authed && typ != lc.TypePing {
		limiter := h.deps.Limit
		if typ == lc.TypeTypingStart || typ == lc.TypeTypingStop {
			limiter = h.deps.Typing
		}
		if ok, wait := limiter.Allow(op.ID); !ok {
			e.reject(typ, &errcode.Error{Code: errcode.RateLimitExceeded, Message: "Rate limit exceeded. Try again in " + wait.Round(time.Millisecond).String() + ".", RetryAfter: wait})
			return
		}
	}
	payload, present := obj["payload"]
	if !present {
		obj["payload"] = map[string]any{} // the spec's default
	} else if _, isObj := payload.(map[string]any); !isObj {
		e.reject(typ, &errcode.Error{Code: errcode.ValidationError, Message: "payload must be a JSON object", Field: "payload"})
		return
	}
	if err := h.deps.Validator.ValidateInstance(typ, obj); err != nil {
		e.reject(typ, err)
		return
	}
	if _, err := lc.Dispatch(ctx, e, data); err != nil {
		e.fail(typ, err)
	}
}

// reject answers a frame the pipeline refused before dispatch.
func (e *events) reject(reqType string, err error) {
	e.logRejected(reqType, errcode.Of(err).Code)
	e.fail(reqType, err)
}

// logRejected logs a refused frame without letting a client flood the log:
// at most once per logEvery per authenticated socket, and once per
// logEvery for all unauthenticated sockets together (anyone can open them).
// Each line counts the ones held back. It runs on the reader goroutine.
func (e *events) logRejected(reqType, code string) {
	c, h := e.c, e.c.hub
	args := []any{"code", code}
	if reqType != "" { // a known event type, never a client's string
		args = append(args, "type", reqType)
	}
	if _, authed := c.operator(); !authed {
		sampled(context.Background(), h.floods.frames, c.logger(), slog.LevelInfo, "frame rejected on an unauthenticated socket", args...)
		return
	}
	if e.rejects == nil {
		e.rejects = ratelimit.NewSampler(logEvery, h.deps.Clock)
	}
	sampled(context.Background(), e.rejects, c.logger(), slog.LevelWarn, "frame rejected", args...)
}

// fail sends the error frame for err, the one place where errors become frames.
func (e *events) fail(reqType string, err error) {
	m := errcode.Of(err)
	if !m.Internal && !errcode.InSpec(m.Code) {
		// A REST-only code (not_found, conflict) has no place on the socket.
		m = errcode.Mapped{Code: errcode.InternalError, Message: "Internal error", Internal: true}
	}
	if m.Internal {
		e.c.logger().Error("event failed", "type", reqType, "err", err)
	}
	errcode.Observe("ws", m.Code)
	p := lc.ErrorPayloadSchema{Code: lc.ErrorCodeSchema(m.Code), Message: m.Message}
	if reqType != "" {
		p.RequestType = &reqType
	}
	if m.Field != "" {
		f := m.Field
		if !startsWith(f, "payload") {
			f = "payload." + f
		}
		p.Field = &f
	}
	if m.Code == errcode.RateLimitExceeded && m.RetryAfter > 0 {
		zero, ms := int64(0), max(m.RetryAfter.Milliseconds(), 1)
		p.Remaining, p.RetryAfterMs = &zero, &ms
	}
	var te *tempIDError
	if errors.As(err, &te) && te.tempID != "" {
		p.TempId = &te.tempID
	}
	e.c.sendFrame(lc.NewErrorEvent(p, e.c.now()))
}

func startsWith(s, prefix string) bool { return len(s) >= len(prefix) && s[:len(prefix)] == prefix }

// tempIDError carries a send_message's temp_id into its error frame.
type tempIDError struct {
	err    error
	tempID string
}

func (e *tempIDError) Error() string { return e.err.Error() }
func (e *tempIDError) Unwrap() error { return e.err }

// --- auth ---------------------------------------------------------------

func (e *events) HandleAuth(ctx context.Context, p lc.AuthPayloadSchema) error {
	c, h := e.c, e.c.hub
	if _, ok := c.operator(); ok {
		return &errcode.Error{Code: errcode.AlreadyAuthenticated, Message: "This socket is already authenticated; the identity does not change."}
	}
	token := ""
	if p.Token != nil {
		token = *p.Token
	}
	if token == "" {
		token = c.queryToken
	}
	var (
		opID    int64
		expires time.Time
	)
	switch {
	case token == "" && h.opt.DevAuth && p.AdminId != nil:
		id, err := strconv.ParseInt(*p.AdminId, 10, 64)
		if err != nil || id < 1 {
			e.authFailed(chat.ErrTokenInvalid)
			return nil
		}
		c.logger().Warn("dev auth: trusting admin_id without a token", "operator_id", id)
		opID = id
	default:
		claims, err := h.deps.Tokens.Verify(token)
		if err != nil {
			h.tokenRejected(ctx, errcode.Of(err).Code)
			e.authFailed(err)
			return nil
		}
		opID, expires = claims.OperatorID, claims.ExpiresAt
	}
	op, err := h.deps.Store.Operator(ctx, opID)
	if errors.Is(err, chat.ErrNotFound) || (err == nil && !op.Active) {
		h.tokenRejected(ctx, "operator unknown or disabled")
		e.authFailed(chat.ErrTokenInvalid)
		return nil
	}
	if err != nil {
		return err
	}
	first, err := h.attach(c, op)
	if err != nil {
		sampled(context.Background(), h.floods.authRefused, c.logger(), slog.LevelWarn, "auth refused: connection cap", "operator_id", op.ID, "err", err)
		e.fail(lc.TypeAuth, err)
		c.closeWith(websocket.ClosePolicyViolation, "too many connections")
		return nil
	}
	role := lc.OperatorRoleSchema(op.Role)
	name := op.DisplayName
	c.sendFrame(lc.NewAuthSuccessEvent(lc.AuthSuccessPayloadSchema{AdminId: idString(op.ID), DisplayName: &name, Role: &role}, c.now()))
	c.authenticated(expires, func() { e.authFailed(chat.ErrTokenExpired) })
	if first { // the others learn that it is online; its own list says so
		h.presenceChanged(ctx, op.ID)
		h.kpisChanged(ctx)
	}
	return h.listPresence(ctx, c)
}

// authFailed sends auth_error and closes the socket with 1008.
func (e *events) authFailed(err error) {
	m := errcode.Of(err)
	code := m.Code
	switch code {
	case errcode.AuthMissingToken, errcode.AuthExpiredToken, errcode.AuthInvalidToken:
	default:
		code, m.Message = errcode.AuthInvalidToken, "Invalid token or insufficient permissions"
	}
	e.c.sendFrame(lc.NewAuthErrorEvent(lc.AuthErrorPayloadSchema{Code: code, Message: m.Message}, e.c.now()))
	e.c.closeWith(websocket.ClosePolicyViolation, code)
}

func (e *events) HandlePing(context.Context, lc.EmptyPayloadSchema) error {
	now := e.c.now()
	e.c.sendFrame(lc.NewPongEvent(lc.PongPayloadSchema{ServerTime: now.UTC()}, now))
	return nil
}

// --- rooms -------------------------------------------------------------

func (e *events) HandleJoinRoom(ctx context.Context, p lc.JoinRoomPayloadSchema) error {
	c, h := e.c, e.c.hub
	op, _ := c.operator()
	room := string(p.LineUserId)
	// Subscribed to the room's frames from the other instances before
	// anything of the answer is read: what is stored after a read arrives.
	h.watchRoom(ctx, room)
	cust, err := h.deps.Service.Customer(ctx, room)
	if err != nil {
		h.unwatchRoom(room)
		return err // unknown customer: no room joined, the previous one kept
	}
	prevTyping := c.typingRoom()
	// The room's order starts, if it has none here, where the answer
	// surely reaches: a frame that overtakes an earlier one then waits.
	h.seqBaseline(room, cust.LastSeq)
	// In the room before its history is read (resume.go): what is stored
	// meanwhile follows the answer, once.
	left, lastInLeft, first, rejoin := h.joinGated(c, room)
	if rejoin {
		h.unwatchRoom(room) // the socket holds one for the room already
	}
	if left != "" {
		h.typingEnded(ctx, c, prevTyping)
		if lastInLeft {
			h.publish(ctx, bus.Audience{Kind: bus.Room, Room: left}, lc.NewOperatorLeftEvent(operatorRoom(op.ID, left), c.now()))
		}
	}
	hist, err := h.deps.Service.History(ctx, op.ID, cust, p.LastSeq, h.opt.ResumeWindow, historySize)
	if err != nil {
		if rejoin {
			h.openGate(c, nil, 0)
		} else {
			h.leave(c) // never announced
		}
		return err
	}
	through := int64(0)
	if p.LastSeq != nil && !hist.Resync {
		through = *p.LastSeq
	}
	if n := len(hist.Messages); n > 0 {
		through = max(through, hist.Messages[n-1].Seq)
	}
	answer := lc.NewConversationUpdateEvent(joinView(h.deps.Wire, hist, p.LastSeq != nil), c.now())
	data, err := json.Marshal(answer)
	if err != nil {
		h.openGate(c, nil, 0)
		return fmt.Errorf("ws: join answer: %w", err)
	}
	h.openGate(c, &outbound{data: data}, through)
	if first {
		h.publish(ctx, bus.Audience{Kind: bus.Room, Room: room, ExcludeOperator: op.ID}, lc.NewOperatorJoinedEvent(operatorRoom(op.ID, room), c.now()))
	}
	return nil
}

func (e *events) HandleLeaveRoom(ctx context.Context, p lc.RoomPayloadSchema) error {
	c, h := e.c, e.c.hub
	if current := h.currentRoom(c); current == "" {
		return nil // nothing to leave
	} else if p.LineUserId != nil && string(*p.LineUserId) != current {
		return chat.E(chat.ErrNotInRoom, "line_user_id is not this tab's current room")
	}
	op, _ := c.operator()
	prevTyping := c.typingRoom()
	room, last := h.leave(c)
	h.typingEnded(ctx, c, prevTyping)
	if room != "" && last {
		h.publish(ctx, bus.Audience{Kind: bus.Room, Room: room}, lc.NewOperatorLeftEvent(operatorRoom(op.ID, room), c.now()))
	}
	return nil
}

// room returns the socket's current room; a given line_user_id must match it.
func (e *events) room(given *lc.LineUserIdSchema) (string, error) {
	room := e.c.hub.currentRoom(e.c)
	if room == "" {
		return "", chat.E(chat.ErrNotInRoom, "Join a room first")
	}
	if given != nil && string(*given) != room {
		return "", chat.E(chat.ErrNotInRoom, "line_user_id is not this tab's current room")
	}
	return room, nil
}

// --- messages and typing ----------------------------------------------

func (e *events) HandleSendMessage(ctx context.Context, p lc.SendMessagePayloadSchema) error {
	c, h := e.c, e.c.hub
	if m := h.deps.Metrics; m != nil {
		start := time.Now()
		defer func() { m.Send(time.Since(start)) }()
	}
	tempID := ""
	if p.TempId != nil {
		tempID = *p.TempId
	}
	room, err := e.room(p.LineUserId)
	if err != nil {
		return &tempIDError{err: err, tempID: tempID}
	}
	op, _ := c.operator()
	defer h.sendBegins(room, op.ID, tempID, c.id)()
	_, err = h.deps.Service.SendMessage(ctx, chat.SendRequest{
		Actor: op, LineUserID: room, Text: p.Text, TempID: tempID, Origin: c.id,
		Ack: func(m chat.Message) {
			frame := lc.NewMessageSentEvent(h.deps.Wire.Message(m, tempID), c.now())
			h.ackInSequence(room, m.Seq, c.id, func() { c.sendFrame(frame) })
		},
	})
	if err != nil {
		return &tempIDError{err: err, tempID: tempID}
	}
	h.typingEnded(ctx, c, c.typingRoom()) // a sent message ends typing
	return nil
}

func (e *events) HandleTypingStart(ctx context.Context, p lc.RoomPayloadSchema) error {
	room := e.c.hub.currentRoom(e.c)
	if room == "" {
		return nil // the spec: ignored without a room
	}
	if p.LineUserId != nil && string(*p.LineUserId) != room {
		return chat.E(chat.ErrNotInRoom, "line_user_id is not this tab's current room")
	}
	e.c.hub.typingStarted(ctx, e.c, room)
	return nil
}

func (e *events) HandleTypingStop(ctx context.Context, p lc.RoomPayloadSchema) error {
	room := e.c.hub.currentRoom(e.c)
	if room == "" {
		return nil
	}
	if p.LineUserId != nil && string(*p.LineUserId) != room {
		return chat.E(chat.ErrNotInRoom, "line_user_id is not this tab's current room")
	}
	e.c.hub.typingEnded(ctx, e.c, e.c.typingRoom())
	return nil
}

// --- session lifecycle ---------------------------------------------------

func (e *events) HandleClaimSession(ctx context.Context, p lc.RoomPayloadSchema) error {
	room, err := e.room(p.LineUserId)
	if err != nil {
		return err
	}
	op, _ := e.c.operator()
	_, err = e.c.hub.deps.Service.Claim(ctx, op, room)
	return err
}

func (e *events) HandleCloseSession(ctx context.Context, p lc.RoomPayloadSchema) error {
	room, err := e.room(p.LineUserId)
	if err != nil {
		return err
	}
	op, _ := e.c.operator()
	_, err = e.c.hub.deps.Service.Close(ctx, op, room)
	return err
}

func (e *events) HandleTransferSession(ctx context.Context, p lc.TransferSessionPayloadSchema) error {
	room, err := e.room(p.LineUserId)
	if err != nil {
		return err
	}
	op, _ := e.c.operator()
	_, err = e.c.hub.deps.Service.Transfer(ctx, op, room, p.ToOperatorId, p.Reason)
	return err
}

// --- analytics and presence -----------------------------------------------

func (e *events) HandleSubscribeAnalytics(ctx context.Context, _ lc.EmptyPayloadSchema) error {
	h := e.c.hub
	h.setAnalytics(e.c, true)
	k, err := h.kpis(ctx)
	if err != nil {
		return err
	}
	e.c.sendFrame(lc.NewAnalyticsUpdateEvent(k, e.c.now()))
	return nil
}

func (e *events) HandleUnsubscribeAnalytics(context.Context, lc.EmptyPayloadSchema) error {
	e.c.hub.setAnalytics(e.c, false)
	return nil
}

func (e *events) HandleSetStatus(ctx context.Context, p lc.SetStatusPayloadSchema) error {
	op, _ := e.c.operator()
	e.c.hub.setStatus(op.ID, p.Status)
	e.c.hub.publishStatus(ctx, op.ID, p.Status) // for its tabs on other instances
	e.c.hub.presenceChanged(ctx, op.ID)
	return nil
}

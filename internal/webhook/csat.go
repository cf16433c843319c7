package webhook

import (
	"context"
	"errors"
	"strings"

	"livechat/internal/chat"
)

// csat records a rating postback and thanks the customer. A rating that
// cannot count (a second one, someone else's session, an open session) is
// logged and dropped: retrying would not change the answer.
func (p *processor) csat(ctx context.Context, e event, userID string, sessionID int64, score int) error {
	_, err := p.chat.RateSession(ctx, sessionID, userID, score)
	switch {
	case err == nil:
		p.log.InfoContext(ctx, "inbox: csat recorded", "session_id", sessionID, "score", score)
		p.reply(ctx, e, p.opt.Replies.CSATThanks[score-1])
		return nil
	case errors.Is(err, chat.ErrConflict):
		p.log.InfoContext(ctx, "inbox: csat ignored, the session is already rated", "session_id", sessionID)
	case errors.Is(err, chat.ErrNotFound):
		p.log.WarnContext(ctx, "inbox: csat rejected, not a session of this customer", "session_id", sessionID, "line_user_id", userID)
	case errors.Is(err, chat.ErrSessionState):
		p.log.WarnContext(ctx, "inbox: csat rejected, the session is still open", "session_id", sessionID)
	case errors.Is(err, chat.ErrInvalid):
		p.log.WarnContext(ctx, "inbox: csat rejected", "session_id", sessionID, "err", err)
	default:
		return err
	}
	return nil
}

// isCSATData reports whether postback data is meant as a rating, valid or not.
func isCSATData(data string) bool { return strings.HasPrefix(data, "csat|") }

package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"livechat/internal/chat"
	"livechat/internal/hours"
	"livechat/internal/line"
)

// wantsHuman reports whether text contains a handoff keyword, ignoring case.
func (p *processor) wantsHuman(text string) bool {
	text = strings.ToLower(text)
	for _, k := range p.opt.Keywords {
		if strings.Contains(text, k) {
			return true
		}
	}
	return false
}

// handoff queues the customer for a human and tells them where they stand.
// Outside business hours they get the out-of-hours reply with the next
// opening instead, and are queued unless OutOfHoursNoQueue. Which hours
// apply is decided by when the customer wrote, not when this runs.
func (p *processor) handoff(ctx context.Context, e event, userID string) error {
	sched := p.hours(ctx)
	if !sched.IsOpen(e.at()) {
		next, ok := sched.NextOpening(e.at())
		var position, total int
		if !p.opt.OutOfHoursNoQueue {
			var err error
			if _, _, position, total, err = p.chat.RequestHuman(ctx, userID); err != nil {
				return err
			}
		}
		p.log.InfoContext(ctx, "inbox: handoff outside business hours", "line_user_id", userID, "queued", !p.opt.OutOfHoursNoQueue)
		p.reply(ctx, e, fill(p.opt.Replies.OutOfHours, position, total, "?", next, ok, sched.Location))
		return nil
	}
	sess, created, position, total, err := p.chat.RequestHuman(ctx, userID)
	if err != nil {
		return err
	}
	p.log.InfoContext(ctx, "inbox: handoff", "line_user_id", userID, "session_id", sess.ID, "created", created, "position", position)
	text := p.opt.Replies.Queued
	if sess.Status != chat.StatusWaiting {
		text = p.opt.Replies.Active
	}
	p.reply(ctx, e, fill(text, position, total, p.eta(ctx, position, total), time.Time{}, false, sched.Location))
	return nil
}

// hours loads the business hours; if they cannot be read, the customer is
// treated as within hours (queued, told their position) rather than failed.
func (p *processor) hours(ctx context.Context) hours.Schedule {
	s, err := p.store.BusinessHours(ctx)
	if err != nil {
		p.log.ErrorContext(ctx, "inbox: business hours unavailable, treating as open", "err", err)
		s = hours.Schedule{Location: time.UTC}
		for d := range s.Days {
			s.Days[d] = []hours.Range{{Opens: 0, Closes: hours.MinutesPerDay}}
		}
	}
	return s
}

// reply answers the event with text while its reply token is still good:
// LINE accepts a reply token once, for about a minute, and the console's
// verify events carry a dummy one. Replying is best effort: a failure is
// logged, not retried (the token would be spent or stale by then).
func (p *processor) reply(ctx context.Context, e event, text string) {
	switch {
	case p.replier == nil:
		return
	case e.ReplyToken == "" || isDummyReplyToken(e.ReplyToken):
		p.log.DebugContext(ctx, "inbox: no reply token", "webhook_event_id", e.WebhookEventID)
		return
	case p.clock.Now().Sub(e.at()) > p.opt.ReplyWindow:
		p.log.InfoContext(ctx, "inbox: reply skipped, the reply token has expired", "webhook_event_id", e.WebhookEventID)
		return
	}
	if err := p.replier.Reply(ctx, e.ReplyToken, []line.Message{line.Text(text)}); err != nil {
		p.log.Log(ctx, quietIfNoToken(err), "inbox: reply failed", "webhook_event_id", e.WebhookEventID, "err", err)
	}
}

// isDummyReplyToken spots the reply tokens of LINE's verify events.
func isDummyReplyToken(t string) bool {
	return t == "00000000000000000000000000000000" || t == "ffffffffffffffffffffffffffffffff"
}

// eta is the {eta_minutes} of a queued customer's reply: a whole number
// of minutes, or "?" when there is no estimate (no claim in the last hour,
// or it could not be read: the reply goes out all the same).
func (p *processor) eta(ctx context.Context, position, total int) string {
	m, ok, err := p.chat.QueueETA(ctx, position, total)
	if err != nil {
		p.log.WarnContext(ctx, "inbox: queue estimate", "err", err)
	}
	if !ok || err != nil {
		return "?"
	}
	return strconv.Itoa(m)
}

// fill expands a reply template's placeholders.
func fill(tmpl string, position, total int, eta string, next time.Time, hasNext bool, loc *time.Location) string {
	en, th := "soon", "เร็ว ๆ นี้"
	if hasNext {
		en, th = formatEN(next.In(loc)), formatTH(next.In(loc))
	}
	return strings.NewReplacer(
		"{position}", strconv.Itoa(position),
		"{total}", strconv.Itoa(total),
		"{eta_minutes}", eta,
		"{next_open}", en,
		"{next_open_th}", th,
	).Replace(tmpl)
}

// formatEN is "Mon 30 Nov 08:00".
func formatEN(t time.Time) string { return t.Format("Mon 2 Jan 15:04") }

var (
	thaiDays   = [7]string{"อาทิตย์", "จันทร์", "อังคาร", "พุธ", "พฤหัสบดี", "ศุกร์", "เสาร์"}
	thaiMonths = [12]string{"ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค."}
)

// formatTH is "วันจันทร์ที่ 30 พ.ย. เวลา 08:00 น.".
func formatTH(t time.Time) string {
	return fmt.Sprintf("วัน%sที่ %d %s เวลา %s น.", thaiDays[t.Weekday()], t.Day(), thaiMonths[t.Month()-1], t.Format("15:04"))
}

// quietIfNoToken is the log level of a failed LINE call: a missing channel
// token is a known setup (the server runs without LINE), not news each time.
func quietIfNoToken(err error) slog.Level {
	if errors.Is(err, line.ErrNoToken) {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}

package webhook

import (
	"strings"
	"time"
)

// DefaultKeywords are the handoff keywords of the original, in English and
// Thai ("contact staff", "talk to staff").
const DefaultKeywords = "agent,human,operator,ติดต่อเจ้าหน้าที่,คุยกับเจ้าหน้าที่"

// ParseKeywords splits a keyword list on commas, semicolons and newlines
// (the original's forms), trims and lower-cases each, and drops empty and
// repeated ones.
func ParseKeywords(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == '\n' }) {
		k = strings.ToLower(strings.TrimSpace(k))
		if k != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// Replies are the texts of the automatic replies. Placeholders:
// {position} and {total} (the queue), {next_open} ("Mon 30 Nov 08:00") and
// {next_open_th} ("วันจันทร์ที่ 30 พ.ย. เวลา 08:00 น."), in the business
// hours' zone.
type Replies struct {
	Queued     string    // handoff within business hours
	Active     string    // handoff while an operator already has the chat
	OutOfHours string    // handoff outside business hours
	CSATThanks [5]string // by score 1..5
}

// DefaultReplies are Thai first, as the original's, then English.
var DefaultReplies = Replies{
	Queued: "ได้รับคำขอของคุณแล้วค่ะ เจ้าหน้าที่จะติดต่อกลับโดยเร็วที่สุด (คิวที่ {position})\n" +
		"Thanks! An agent will be with you shortly. You are number {position} in the queue.",
	Active: "เจ้าหน้าที่กำลังดูแลคุณอยู่ค่ะ\nAn agent is already with you.",
	OutOfHours: "ขณะนี้อยู่นอกเวลาทำการค่ะ เราจะเปิดทำการอีกครั้ง {next_open_th} เจ้าหน้าที่จะติดต่อกลับเมื่อเปิดทำการ\n" +
		"We are outside business hours. We open again {next_open}; an agent will get back to you then.",
	CSATThanks: [5]string{
		"ขอบคุณสำหรับความคิดเห็นค่ะ เราจะนำไปปรับปรุงการให้บริการ\nThank you for your feedback. We will use it to improve.",
		"ขอบคุณสำหรับความคิดเห็นค่ะ เราจะพยายามปรับปรุงให้ดีขึ้น\nThank you for your feedback. We will do better.",
		"ขอบคุณสำหรับความคิดเห็นค่ะ\nThank you for your feedback.",
		"ขอบคุณมากค่ะ ยินดีให้บริการเสมอค่ะ\nThank you very much! We are always happy to help.",
		"ขอบคุณมากค่ะ ยินดีให้บริการเสมอค่ะ\nThank you very much! We are always happy to help.",
	},
}

// Options tune the processing. The zero value is usable: defaults apply.
type Options struct {
	// Keywords start the handoff when a BOT-mode text contains one,
	// ignoring case (see ParseKeywords). Empty: DefaultKeywords.
	Keywords []string
	// OutOfHoursNoQueue makes a handoff outside business hours only answer
	// with the out-of-hours reply; by default the customer is also queued.
	OutOfHoursNoQueue bool
	// Replies overrides the default texts field by field.
	Replies Replies
	// ReplyWindow is how long after an event its reply token is used (LINE
	// accepts it for about a minute). Default 50s.
	ReplyWindow time.Duration
	// MaxFailures quarantines an event after this many attempts that
	// failed because of the event itself. Default DefaultMaxFailures.
	MaxFailures int
}

func (o Options) withDefaults() Options {
	o.Keywords = ParseKeywords(strings.Join(o.Keywords, "\n"))
	if len(o.Keywords) == 0 {
		o.Keywords = ParseKeywords(DefaultKeywords)
	}
	d := DefaultReplies
	o.Replies.Queued = or(o.Replies.Queued, d.Queued)
	o.Replies.Active = or(o.Replies.Active, d.Active)
	o.Replies.OutOfHours = or(o.Replies.OutOfHours, d.OutOfHours)
	for i := range o.Replies.CSATThanks {
		o.Replies.CSATThanks[i] = or(o.Replies.CSATThanks[i], d.CSATThanks[i])
	}
	if o.ReplyWindow <= 0 {
		o.ReplyWindow = 50 * time.Second
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = DefaultMaxFailures
	}
	return o
}

func or(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

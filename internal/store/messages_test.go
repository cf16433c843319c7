package store_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

func TestAppendMessage(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		op := storetest.Operator(t, db, "alice", chat.RoleAgent)
		c := storetest.Customer(t, db)

		// Bot phase: no session to link.
		m1 := mustAppend(t, db, incoming(c.LineUserID, "hi"), at(0))
		if m1.ID == 0 || m1.Seq != 1 || m1.SessionID != nil {
			t.Fatalf("first message = %+v", m1)
		}
		eqTime(t, "CreatedAt", m1.CreatedAt, at(0))
		bot := outgoing(c.LineUserID, "hello, I am a bot", nil)
		bot.Payload = json.RawMessage(`{"quickReply": {"items": [1, 2]}}`)
		m2 := mustAppend(t, db, bot, at(time.Second))
		if m2.Seq != 2 || m2.SessionID != nil {
			t.Fatalf("second message = %+v", m2)
		}

		// Human phase: messages join the open session and count as activity.
		s := mustEnsure(t, db, c.LineUserID, at(2*time.Second))
		m3 := mustAppend(t, db, incoming(c.LineUserID, "a human please"), at(3*time.Second))
		if m3.Seq != 3 || m3.SessionID == nil || *m3.SessionID != s.ID {
			t.Fatalf("third message = %+v, want seq 3 in session %d", m3, s.ID)
		}
		got, _ := db.Session(ctx, s.ID)
		if got.MessageCount != 1 || got.FirstResponseAt != nil {
			t.Errorf("after a USER message: %+v", got)
		}
		eqTime(t, "LastActivityAt", got.LastActivityAt, at(3*time.Second))

		mustClaim(t, db, s.ID, op.ID, at(4*time.Second))
		mustAppend(t, db, outgoing(c.LineUserID, "hello, Alice here", &op), at(5*time.Second))
		mustAppend(t, db, outgoing(c.LineUserID, "how can I help?", &op), at(6*time.Second))
		got, _ = db.Session(ctx, s.ID)
		if got.MessageCount != 3 {
			t.Errorf("MessageCount = %d, want 3", got.MessageCount)
		}
		eqTimePtr(t, "FirstResponseAt (first ADMIN message)", got.FirstResponseAt, at(5*time.Second))
		eqTime(t, "LastActivityAt", got.LastActivityAt, at(6*time.Second))

		cust, _ := db.Customer(ctx, c.LineUserID)
		if cust.LastSeq != 5 {
			t.Errorf("LastSeq = %d, want 5", cust.LastSeq)
		}
		eqTimePtr(t, "LastMessageAt", cust.LastMessageAt, at(6*time.Second))

		// What was stored is what Message returns.
		read, err := db.Message(ctx, m2.ID)
		if err != nil {
			t.Fatal(err)
		}
		var gotPayload, wantPayload any
		_ = json.Unmarshal(read.Payload, &gotPayload)
		_ = json.Unmarshal(bot.Payload, &wantPayload)
		if !reflect.DeepEqual(gotPayload, wantPayload) {
			t.Errorf("payload = %s, want %s", read.Payload, bot.Payload)
		}
		read.Payload, m2.Payload = nil, nil
		if !reflect.DeepEqual(read, m2) {
			t.Errorf("Message = %+v, want %+v", read, m2)
		}
		if read, _ := db.Message(ctx, m1.ID); read.Payload != nil || !reflect.DeepEqual(read, m1) {
			t.Errorf("Message = %+v, want %+v", read, m1)
		}
		_, err = db.Message(ctx, 1<<40)
		wantErr(t, "Message(missing)", err, chat.ErrNotFound)
	})
}

func TestAppendMessageErrors(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		c := storetest.Customer(t, db)
		tests := []struct {
			name string
			edit func(m *chat.Message)
			want error
		}{
			{"unknown customer", func(m *chat.Message) { m.LineUserID = storetest.LineUserID() }, chat.ErrNotFound},
			{"bad direction", func(m *chat.Message) { m.Direction = "SIDEWAYS" }, chat.ErrInvalid},
			{"bad sender role", func(m *chat.Message) { m.SenderRole = "GHOST" }, chat.ErrInvalid},
			{"bad delivery status", func(m *chat.Message) { m.DeliveryStatus = "lost" }, chat.ErrInvalid},
			{"invalid JSON payload", func(m *chat.Message) { m.Payload = json.RawMessage(`{nope`) }, chat.ErrInvalid},
			{"unknown operator", func(m *chat.Message) { id := int64(1 << 40); m.OperatorID = &id }, chat.ErrNotFound},
			{"empty payload is no payload", func(m *chat.Message) { m.Payload = json.RawMessage{} }, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				m := incoming(c.LineUserID, tt.name)
				tt.edit(m)
				wantErr(t, "AppendMessage", db.AppendMessage(ctx, m, nil, at(0)), tt.want)
			})
		}
		// Failed appends rolled back their seq: one success, one seq.
		cust, _ := db.Customer(ctx, c.LineUserID)
		if cust.LastSeq != 1 {
			t.Errorf("LastSeq = %d after one successful append, want 1", cust.LastSeq)
		}
	})
}

// Seqs stay gap-free and unique per customer under concurrent appends, and
// the session's counter sees every message.
func TestAppendMessageConcurrent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		c := storetest.Customer(t, db)
		other := storetest.Customer(t, db)
		s := mustEnsure(t, db, c.LineUserID, at(0))
		const workers, each = 20, 10
		seqs := make([][]int64, workers)
		errs := make([]error, workers)
		parallel(workers, func(w int) {
			for i := range each + 1 {
				target := c.LineUserID
				if i == each/2 {
					target = other.LineUserID // interleave another conversation
				}
				m := incoming(target, fmt.Sprintf("w%d-%d", w, i))
				if err := db.AppendMessage(ctx, m, nil, at(time.Duration(w*each+i)*time.Millisecond)); err != nil {
					errs[w] = err
					return
				}
				if target == c.LineUserID {
					seqs[w] = append(seqs[w], m.Seq)
				}
			}
		})
		for w, err := range errs {
			if err != nil {
				t.Fatalf("worker %d: %v", w, err)
			}
		}
		var all []int64
		for w := range seqs {
			if !slices.IsSorted(seqs[w]) {
				t.Errorf("worker %d saw seqs out of order: %v", w, seqs[w])
			}
			all = append(all, seqs[w]...)
		}
		slices.Sort(all)
		n := workers * each
		for i, seq := range all {
			if seq != int64(i+1) {
				t.Fatalf("seqs are not exactly 1..%d: position %d holds %d", n, i, seq)
			}
		}
		if len(all) != n {
			t.Fatalf("got %d seqs, want %d", len(all), n)
		}
		tail, _, err := db.RecentMessages(ctx, c.LineUserID, 0, 100)
		if err != nil || len(tail) != 100 || tail[99].Seq != int64(n) {
			t.Fatalf("RecentMessages tail = %d messages, %v", len(tail), err)
		}
		cust, _ := db.Customer(ctx, c.LineUserID)
		oth, _ := db.Customer(ctx, other.LineUserID)
		got, _ := db.Session(ctx, s.ID)
		if cust.LastSeq != int64(n) || oth.LastSeq != workers || got.MessageCount != n {
			t.Errorf("LastSeq = %d (want %d), other LastSeq = %d (want %d), MessageCount = %d (want %d)",
				cust.LastSeq, n, oth.LastSeq, workers, got.MessageCount, n)
		}
	})
}

func TestRecentMessagesAndMessagesAfter(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		c := storetest.Customer(t, db)
		other := storetest.Customer(t, db)
		for i := range 7 {
			mustAppend(t, db, incoming(c.LineUserID, fmt.Sprint(i+1)), at(time.Duration(i)*time.Second))
			mustAppend(t, db, incoming(other.LineUserID, "noise"), at(time.Duration(i)*time.Second))
		}
		seqsOf := func(ms []chat.Message) []int64 {
			out := []int64{}
			for _, m := range ms {
				if m.LineUserID != c.LineUserID {
					t.Errorf("message of %s leaked in", m.LineUserID)
				}
				out = append(out, m.Seq)
			}
			return out
		}

		recent := []struct {
			before   int64
			limit    int
			want     []int64
			wantMore bool
		}{
			{0, 3, []int64{5, 6, 7}, true},
			{-1, 3, []int64{5, 6, 7}, true},
			{5, 3, []int64{2, 3, 4}, true},
			{4, 3, []int64{1, 2, 3}, false},
			{3, 3, []int64{1, 2}, false},
			{1, 3, []int64{}, false},
			{0, 7, []int64{1, 2, 3, 4, 5, 6, 7}, false},
			{0, 0, []int64{1, 2, 3, 4, 5, 6, 7}, false},    // default limit
			{0, 1000, []int64{1, 2, 3, 4, 5, 6, 7}, false}, // clamped
		}
		for _, tt := range recent {
			got, more, err := db.RecentMessages(ctx, c.LineUserID, tt.before, tt.limit)
			if err != nil || !slices.Equal(seqsOf(got), tt.want) || more != tt.wantMore {
				t.Errorf("RecentMessages(before %d, limit %d) = %v, %v, %v; want %v, %v",
					tt.before, tt.limit, seqsOf(got), more, err, tt.want, tt.wantMore)
			}
		}

		after := []struct {
			after int64
			limit int
			want  []int64
		}{
			{0, 3, []int64{1, 2, 3}},
			{3, 3, []int64{4, 5, 6}},
			{6, 3, []int64{7}},
			{7, 3, []int64{}},
			{2, 0, []int64{3, 4, 5, 6, 7}},
		}
		for _, tt := range after {
			got, err := db.MessagesAfter(ctx, c.LineUserID, tt.after, tt.limit)
			if err != nil || !slices.Equal(seqsOf(got), tt.want) {
				t.Errorf("MessagesAfter(%d, %d) = %v, %v; want %v", tt.after, tt.limit, seqsOf(got), err, tt.want)
			}
		}

		unknown := storetest.LineUserID()
		if got, more, err := db.RecentMessages(ctx, unknown, 0, 10); err != nil || len(got) != 0 || more {
			t.Errorf("RecentMessages(unknown) = %v, %v, %v", got, more, err)
		}
		if got, err := db.MessagesAfter(ctx, unknown, 0, 10); err != nil || len(got) != 0 {
			t.Errorf("MessagesAfter(unknown) = %v, %v", got, err)
		}
	})
}

func TestRecentMessagesLimitClamp(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := storetest.Customer(t, db)
		for i := range 101 {
			mustAppend(t, db, incoming(c.LineUserID, "x"), at(time.Duration(i)*time.Millisecond))
		}
		got, more, err := db.RecentMessages(t.Context(), c.LineUserID, 0, 500)
		if err != nil || len(got) != 100 || !more || got[0].Seq != 2 {
			t.Errorf("RecentMessages(limit 500) = %d messages from seq %d, more %v, %v; want 100 from 2, more", len(got), got[0].Seq, more, err)
		}
		// A resume's or a refill's read is no REST page: it gets all it asks for.
		after, err := db.MessagesAfter(t.Context(), c.LineUserID, 0, 500)
		if err != nil || len(after) != 101 {
			t.Errorf("MessagesAfter(limit 500) = %d messages, %v; want all 101", len(after), err)
		}
		if after, err := db.MessagesAfter(t.Context(), c.LineUserID, 1, 100); err != nil || len(after) != 100 || after[0].Seq != 2 {
			t.Errorf("MessagesAfter(1, limit 100) = %d messages, %v; want 100 from seq 2", len(after), err)
		}
	})
}

func TestSearchMessages(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		a := storetest.Customer(t, db)
		b := storetest.Customer(t, db)
		contents := []struct {
			who     string
			content string
		}{
			{a.LineUserID, "Hello World"},      // seq a1
			{a.LineUserID, "I am 100% sure"},   // a2
			{a.LineUserID, "100 percent"},      // a3
			{a.LineUserID, "snake_case"},       // a4
			{a.LineUserID, "snakeXcase"},       // a5
			{a.LineUserID, `C:\temp\file`},     // a6
			{b.LineUserID, "hello again"},      // b1
			{b.LineUserID, "SHOUTING HELLO"},   // b2
			{b.LineUserID, "it's quoted"},      // b3
			{b.LineUserID, "สวัสดีครับ hello"}, // b4
		}
		for i, c := range contents {
			mustAppend(t, db, incoming(c.who, c.content), at(time.Duration(i)*time.Second))
		}
		tests := []struct {
			q     string
			scope string
			limit int
			want  []string
		}{
			{"hello", "", 0, []string{"สวัสดีครับ hello", "SHOUTING HELLO", "hello again", "Hello World"}},
			{"HeLLo", a.LineUserID, 0, []string{"Hello World"}},
			{"hello", "", 2, []string{"สวัสดีครับ hello", "SHOUTING HELLO"}},
			{"%", "", 0, []string{"I am 100% sure"}},
			{"100%", "", 0, []string{"I am 100% sure"}},
			{"_", "", 0, []string{"snake_case"}},
			{"e_c", "", 0, []string{"snake_case"}},
			{`\`, "", 0, []string{`C:\temp\file`}},
			{`\t`, "", 0, []string{`C:\temp\file`}},
			{"it's", "", 0, []string{"it's quoted"}},
			{"สวัสดี", "", 0, []string{"สวัสดีครับ hello"}},
			{"nothing like this", "", 0, []string{}},
		}
		for _, tt := range tests {
			t.Run(tt.q, func(t *testing.T) {
				got, err := db.SearchMessages(ctx, tt.q, tt.scope, tt.limit)
				if err != nil {
					t.Fatal(err)
				}
				texts := []string{}
				for _, m := range got {
					texts = append(texts, m.Content)
				}
				if !slices.Equal(texts, tt.want) {
					t.Errorf("SearchMessages(%q) = %q, want %q", tt.q, texts, tt.want)
				}
			})
		}
		_, err := db.SearchMessages(ctx, "  ", "", 10)
		wantErr(t, "SearchMessages(blank)", err, chat.ErrInvalid)
	})
}

func TestSearchMessagesLimitClamp(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := storetest.Customer(t, db)
		for i := range 101 {
			mustAppend(t, db, incoming(c.LineUserID, "needle"), at(time.Duration(i)*time.Millisecond))
		}
		got, err := db.SearchMessages(t.Context(), "needle", "", 1000)
		if err != nil || len(got) != 100 || got[0].Seq != 101 {
			t.Errorf("SearchMessages(limit 1000) = %d messages, %v; want the newest 100", len(got), err)
		}
	})
}

func TestSetDelivery(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		c := storetest.Customer(t, db)
		m := mustAppend(t, db, outgoing(c.LineUserID, "hi", nil), at(0))
		if m.DeliveryStatus != chat.DeliveryPending {
			t.Fatalf("DeliveryStatus = %q", m.DeliveryStatus)
		}
		tests := []struct {
			id         int64
			status     chat.DeliveryStatus
			reason     string
			want       error
			wantStatus chat.DeliveryStatus
			wantReason string
		}{
			{m.ID, chat.DeliveryFailed, "LINE 429", nil, chat.DeliveryFailed, "LINE 429"},
			{m.ID, chat.DeliverySent, "", nil, chat.DeliverySent, ""},
			{m.ID, "teleported", "", chat.ErrInvalid, chat.DeliverySent, ""},
			{1 << 40, chat.DeliverySent, "", chat.ErrNotFound, chat.DeliverySent, ""},
		}
		for _, tt := range tests {
			wantErr(t, fmt.Sprintf("SetDelivery(%d, %q)", tt.id, tt.status), db.SetDelivery(ctx, tt.id, tt.status, tt.reason), tt.want)
			got, err := db.Message(ctx, m.ID)
			if err != nil || got.DeliveryStatus != tt.wantStatus || got.DeliveryError != tt.wantReason {
				t.Errorf("after SetDelivery(%q): %q %q, %v", tt.status, got.DeliveryStatus, got.DeliveryError, err)
			}
		}
	})
}

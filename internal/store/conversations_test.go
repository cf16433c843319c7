package store_test

import (
	"context"
	"encoding/base64"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

type inbox struct {
	a, b, c, d, e, f chat.Customer
	sessions         map[string]*chat.Session // by line user id; nil: none expected
	last             map[string]string        // last message content; "": none
}

// seedInbox creates six conversations, newest activity first:
//
//	e: no messages at all (ordered by created_at, now)
//	f: a closed session and a newer WAITING one
//	d: two closed sessions
//	c: ACTIVE with op, who has read seq 1 of 2
//	b: WAITING
//	a: bot only, never a session
func seedInbox(t *testing.T, db *store.DB, op chat.Operator) inbox {
	ctx := t.Context()
	t0 := time.Now().Add(-time.Hour)
	min := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	in := inbox{sessions: map[string]*chat.Session{}, last: map[string]string{}}
	newCustomer := func() chat.Customer { return storetest.Customer(t, db) }
	closeS := func(s chat.Session, now time.Time) chat.Session {
		s, err := db.CloseSession(ctx, s.ID, s.Status, nil, chat.ClosedByUser, nil, now)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	in.a = newCustomer()
	mustAppend(t, db, incoming(in.a.LineUserID, "hi bot"), min(1))
	mustAppend(t, db, outgoing(in.a.LineUserID, "bot reply", nil), min(2))
	in.last[in.a.LineUserID] = "bot reply"

	in.b = newCustomer()
	mustAppend(t, db, incoming(in.b.LineUserID, "waiting for a human"), min(3))
	sb := mustEnsure(t, db, in.b.LineUserID, min(3))
	in.sessions[in.b.LineUserID] = &sb
	in.last[in.b.LineUserID] = "waiting for a human"

	in.c = newCustomer()
	mustAppend(t, db, incoming(in.c.LineUserID, "help"), min(4))
	sc := mustClaim(t, db, mustEnsure(t, db, in.c.LineUserID, min(4)).ID, op.ID, min(4))
	mustAppend(t, db, outgoing(in.c.LineUserID, "on it", &op), min(5))
	sc, _ = db.Session(ctx, sc.ID)
	in.sessions[in.c.LineUserID] = &sc
	in.last[in.c.LineUserID] = "on it"
	if err := db.MarkRead(ctx, op.ID, in.c.LineUserID, 1); err != nil {
		t.Fatal(err)
	}

	in.d = newCustomer()
	closeS(mustEnsure(t, db, in.d.LineUserID, min(0)), min(0))
	mustAppend(t, db, incoming(in.d.LineUserID, "bye"), min(6))
	sd := closeS(mustEnsure(t, db, in.d.LineUserID, min(6)), min(6))
	in.sessions[in.d.LineUserID] = &sd
	in.last[in.d.LineUserID] = "bye"

	in.f = newCustomer()
	closeS(mustEnsure(t, db, in.f.LineUserID, min(0)), min(1))
	sf := mustEnsure(t, db, in.f.LineUserID, min(7))
	mustAppend(t, db, incoming(in.f.LineUserID, "back again"), min(7))
	sf, _ = db.Session(ctx, sf.ID)
	in.sessions[in.f.LineUserID] = &sf
	in.last[in.f.LineUserID] = "back again"

	in.e = newCustomer() // created after t0+7m: newest
	return in
}

func TestListConversationsFilters(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		op := storetest.Operator(t, db, "alice", chat.RoleAgent)
		other := storetest.Operator(t, db, "bob", chat.RoleAgent)
		in := seedInbox(t, db, op)

		tests := []struct {
			status string
			want   []chat.Customer
		}{
			{"", []chat.Customer{in.e, in.f, in.d, in.c, in.b, in.a}},
			{"WAITING", []chat.Customer{in.f, in.b}},
			{"ACTIVE", []chat.Customer{in.c}},
			{"CLOSED", []chat.Customer{in.d}},
			{"BOT", []chat.Customer{in.e, in.d, in.a}},
		}
		for _, tt := range tests {
			t.Run("status="+tt.status, func(t *testing.T) {
				page, err := db.ListConversations(ctx, chat.ConversationFilter{Status: tt.status, OperatorID: op.ID})
				if err != nil {
					t.Fatal(err)
				}
				if page.NextCursor != "" {
					t.Errorf("NextCursor = %q on the only page", page.NextCursor)
				}
				if got, want := ids(page.Items), customerIDs(tt.want); !slices.Equal(got, want) {
					t.Fatalf("customers = %v, want %v", got, want)
				}
				for _, item := range page.Items {
					checkConversation(t, db, in, item, op.ID)
				}
			})
		}

		_, err := db.ListConversations(ctx, chat.ConversationFilter{Status: "OPEN"})
		wantErr(t, "status OPEN", err, chat.ErrInvalid)

		// Unread counts are the reader's own.
		page, err := db.ListConversations(ctx, chat.ConversationFilter{Status: "ACTIVE", OperatorID: other.ID})
		if err != nil || len(page.Items) != 1 || page.Items[0].Unread != 1 {
			t.Fatalf("ACTIVE for bob = %+v, %v; want c with 1 unread", page.Items, err)
		}
	})
}

// checkConversation compares an inbox row with the store's own answers.
func checkConversation(t *testing.T, db *store.DB, in inbox, item chat.Conversation, operatorID int64) {
	t.Helper()
	ctx := t.Context()
	id := item.Customer.LineUserID
	cust, err := db.Customer(ctx, id)
	if err != nil || !sameCustomer(cust, item.Customer) {
		t.Errorf("%s: Customer = %+v, want %+v", id, item.Customer, cust)
	}
	want := in.sessions[id]
	switch {
	case want == nil && item.Session != nil:
		t.Errorf("%s: Session = %+v, want none", id, *item.Session)
	case want != nil && item.Session == nil:
		t.Errorf("%s: Session = nil, want %d", id, want.ID)
	case want != nil:
		got, _ := db.Session(ctx, want.ID)
		if item.Session.ID != want.ID || item.Session.Status != got.Status || item.Session.MessageCount != got.MessageCount ||
			!item.Session.LastActivityAt.Equal(got.LastActivityAt) || (got.OperatorID != nil) != (item.Session.OperatorID != nil) {
			t.Errorf("%s: Session = %+v, want %+v", id, *item.Session, got)
		}
	}
	switch wantLast := in.last[id]; {
	case wantLast == "" && item.LastMessage != nil:
		t.Errorf("%s: LastMessage = %+v, want none", id, *item.LastMessage)
	case wantLast != "" && (item.LastMessage == nil || item.LastMessage.Content != wantLast || item.LastMessage.Seq != cust.LastSeq):
		t.Errorf("%s: LastMessage = %+v, want %q at seq %d", id, item.LastMessage, wantLast, cust.LastSeq)
	case item.LastMessage != nil:
		m, _ := db.Message(ctx, item.LastMessage.ID)
		if !m.CreatedAt.Equal(item.LastMessage.CreatedAt) || m.Direction != item.LastMessage.Direction {
			t.Errorf("%s: LastMessage = %+v, want %+v", id, *item.LastMessage, m)
		}
	}
	unread, err := db.Unread(ctx, operatorID, id)
	if err != nil || item.Unread != unread {
		t.Errorf("%s: Unread = %d, want %d (%v)", id, item.Unread, unread, err)
	}
}

func sameCustomer(a, b chat.Customer) bool {
	la, lb := a.LastMessageAt, b.LastMessageAt
	a.LastMessageAt, b.LastMessageAt = nil, nil
	return a == b && (la == nil) == (lb == nil) && (la == nil || la.Equal(*lb))
}

func ids(items []chat.Conversation) []int64 {
	out := []int64{}
	for _, it := range items {
		out = append(out, it.Customer.ID)
	}
	return out
}

func customerIDs(cs []chat.Customer) []int64 {
	out := []int64{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// collect pages through the inbox and returns every customer id in order.
func collect(t *testing.T, db *store.DB, f chat.ConversationFilter) (all []int64, pages int) {
	t.Helper()
	for {
		page, err := db.ListConversations(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		all = append(all, ids(page.Items)...)
		if page.NextCursor == "" {
			return all, pages
		}
		if len(page.Items) == 0 {
			t.Fatal("empty page with a cursor")
		}
		f.Cursor = page.NextCursor
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
	}
}

func TestListConversationsPagination(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		op := storetest.Operator(t, db, "alice", chat.RoleAgent)
		in := seedInbox(t, db, op)
		// Three more with identical activity times, only told apart by id,
		// and one a microsecond later (different fractional digits on SQLite).
		tie := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
		var tied []chat.Customer
		for i := range 4 {
			c := storetest.Customer(t, db)
			when := tie
			if i == 3 {
				when = tie.Add(time.Microsecond)
			}
			mustAppend(t, db, incoming(c.LineUserID, "tie"), when)
			tied = append(tied, c)
		}
		all := []chat.Customer{in.e, in.f, in.d, in.c, in.b, in.a, tied[3], tied[2], tied[1], tied[0]}

		for _, limit := range []int{1, 2, 3, 4, 10} {
			got, pages := collect(t, db, chat.ConversationFilter{OperatorID: op.ID, Limit: limit})
			if !slices.Equal(got, customerIDs(all)) {
				t.Errorf("limit %d: pages give %v, want %v", limit, got, customerIDs(all))
			}
			if want := (len(all) + limit - 1) / limit; pages != want && pages != want+1 {
				t.Errorf("limit %d: %d pages, want %d", limit, pages, want)
			}
		}
		got, _ := collect(t, db, chat.ConversationFilter{Status: "BOT", OperatorID: op.ID, Limit: 1})
		if want := customerIDs([]chat.Customer{in.e, in.d, in.a, tied[3], tied[2], tied[1], tied[0]}); !slices.Equal(got, want) {
			t.Errorf("BOT pages give %v, want %v", got, want)
		}

		for _, bad := range []string{"!!!", base64.RawURLEncoding.EncodeToString([]byte("garbage")), base64.RawURLEncoding.EncodeToString([]byte("1:x"))} {
			_, err := db.ListConversations(t.Context(), chat.ConversationFilter{Cursor: bad})
			wantErr(t, "cursor "+bad, err, chat.ErrInvalid)
		}
	})
}

func TestListConversationsLimit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for range 101 {
			storetest.Customer(t, db)
		}
		tests := []struct {
			limit, want int
		}{{0, 50}, {-3, 50}, {1, 1}, {100, 100}, {1000, 100}}
		for _, tt := range tests {
			page, err := db.ListConversations(t.Context(), chat.ConversationFilter{Limit: tt.limit})
			if err != nil || len(page.Items) != tt.want || page.NextCursor == "" {
				t.Errorf("Limit %d: %d items, cursor %q, %v; want %d and a cursor", tt.limit, len(page.Items), page.NextCursor, err, tt.want)
			}
		}
	})
}

// queryCounter counts the statements bun sends.
type queryCounter struct{ n atomic.Int64 }

func (q *queryCounter) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	q.n.Add(1)
	return ctx
}
func (q *queryCounter) AfterQuery(context.Context, *bun.QueryEvent) {}

func TestListConversationsIsOneQuery(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		op := storetest.Operator(t, db, "alice", chat.RoleAgent)
		seedInbox(t, db, op)
		counter := &queryCounter{}
		db.AddQueryHook(counter)
		page, err := db.ListConversations(t.Context(), chat.ConversationFilter{OperatorID: op.ID, Limit: 4})
		if err != nil || len(page.Items) != 4 {
			t.Fatalf("ListConversations = %d items, %v", len(page.Items), err)
		}
		if n := counter.n.Load(); n != 1 {
			t.Errorf("ListConversations ran %d queries, want 1", n)
		}
	})
}

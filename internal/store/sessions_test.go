package store_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
		bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
		c := storetest.Customer(t, db)

		_, err := db.OpenSession(ctx, c.LineUserID)
		wantErr(t, "OpenSession before any", err, chat.ErrNotFound)

		s, created, err := db.EnsureWaitingSession(ctx, c.LineUserID, at(0))
		if err != nil || !created {
			t.Fatalf("EnsureWaitingSession = %+v, %v, %v", s, created, err)
		}
		if s.ID == 0 || s.Status != chat.StatusWaiting || s.LineUserID != c.LineUserID || s.OperatorID != nil {
			t.Fatalf("new session = %+v", s)
		}
		eqTime(t, "StartedAt", s.StartedAt, at(0))
		eqTime(t, "LastActivityAt", s.LastActivityAt, at(0))
		if cust, _ := db.Customer(ctx, c.LineUserID); cust.ChatMode != chat.ModeHuman {
			t.Errorf("chat mode after EnsureWaitingSession = %q", cust.ChatMode)
		}

		again, created, err := db.EnsureWaitingSession(ctx, c.LineUserID, at(time.Minute))
		if err != nil || created || !reflect.DeepEqual(again, s) {
			t.Fatalf("second EnsureWaitingSession = %+v, %v, %v; want %+v, false", again, created, err, s)
		}
		if got, err := db.OpenSession(ctx, c.LineUserID); err != nil || !reflect.DeepEqual(got, s) {
			t.Fatalf("OpenSession = %+v, %v", got, err)
		}
		if got, err := db.Session(ctx, s.ID); err != nil || !reflect.DeepEqual(got, s) {
			t.Fatalf("Session = %+v, %v", got, err)
		}

		claimed := mustClaim(t, db, s.ID, alice.ID, at(2*time.Minute))
		if claimed.Status != chat.StatusActive || claimed.OperatorID == nil || *claimed.OperatorID != alice.ID {
			t.Fatalf("claimed = %+v", claimed)
		}
		eqTimePtr(t, "ClaimedAt", claimed.ClaimedAt, at(2*time.Minute))
		eqTime(t, "LastActivityAt", claimed.LastActivityAt, at(2*time.Minute))
		_, err = db.ClaimSession(ctx, s.ID, bob.ID, at(3*time.Minute))
		wantErr(t, "second claim", err, chat.ErrAlreadyClaimed)

		reason := "shift change"
		moved, err := db.TransferSession(ctx, s.ID, alice.ID, bob.ID, &reason, at(4*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if *moved.OperatorID != bob.ID || moved.TransferCount != 1 || moved.TransferReason == nil || *moved.TransferReason != reason {
			t.Fatalf("transferred = %+v", moved)
		}
		eqTime(t, "LastActivityAt after transfer", moved.LastActivityAt, at(4*time.Minute))
		moved, err = db.TransferSession(ctx, s.ID, bob.ID, alice.ID, nil, at(5*time.Minute))
		if err != nil || moved.TransferCount != 2 || moved.TransferReason != nil {
			t.Fatalf("second transfer = %+v, %v", moved, err)
		}

		closed, err := db.CloseSession(ctx, s.ID, chat.StatusActive, nil, chat.ClosedByOperator, &alice.ID, at(6*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if closed.Status != chat.StatusClosed || closed.ClosedBy == nil || *closed.ClosedBy != chat.ClosedByOperator ||
			closed.ClosedByID == nil || *closed.ClosedByID != alice.ID || closed.TransferCount != 2 {
			t.Fatalf("closed = %+v", closed)
		}
		eqTimePtr(t, "ClosedAt", closed.ClosedAt, at(6*time.Minute))
		if cust, _ := db.Customer(ctx, c.LineUserID); cust.ChatMode != chat.ModeBot {
			t.Errorf("chat mode after close = %q", cust.ChatMode)
		}
		_, err = db.OpenSession(ctx, c.LineUserID)
		wantErr(t, "OpenSession after close", err, chat.ErrNotFound)

		next, created, err := db.EnsureWaitingSession(ctx, c.LineUserID, at(7*time.Minute))
		if err != nil || !created || next.ID == s.ID || next.Status != chat.StatusWaiting {
			t.Fatalf("EnsureWaitingSession after close = %+v, %v, %v", next, created, err)
		}
		closed, err = db.CloseSession(ctx, next.ID, chat.StatusWaiting, nil, chat.ClosedByUser, nil, at(8*time.Minute))
		if err != nil || closed.ClosedByID != nil || *closed.ClosedBy != chat.ClosedByUser {
			t.Fatalf("close WAITING = %+v, %v", closed, err)
		}
	})
}

func TestSessionStateErrors(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
		bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
		waiting := mustEnsure(t, db, storetest.Customer(t, db).LineUserID, at(0))
		active := mustClaim(t, db, mustEnsure(t, db, storetest.Customer(t, db).LineUserID, at(0)).ID, alice.ID, at(time.Second))
		closedS := mustEnsure(t, db, storetest.Customer(t, db).LineUserID, at(0))
		if _, err := db.CloseSession(ctx, closedS.ID, chat.StatusWaiting, nil, chat.ClosedBySystem, nil, at(time.Second)); err != nil {
			t.Fatal(err)
		}
		const missing = 1 << 40
		long := strings.Repeat("ก", 256) // 256 characters, 768 bytes

		tests := []struct {
			name string
			do   func() error
			want error
		}{
			{"claim missing session", func() error { _, err := db.ClaimSession(ctx, missing, alice.ID, at(0)); return err }, chat.ErrNotFound},
			{"claim active session", func() error { _, err := db.ClaimSession(ctx, active.ID, bob.ID, at(0)); return err }, chat.ErrAlreadyClaimed},
			{"claim closed session", func() error { _, err := db.ClaimSession(ctx, closedS.ID, bob.ID, at(0)); return err }, chat.ErrAlreadyClaimed},
			{"claim for missing operator", func() error { _, err := db.ClaimSession(ctx, waiting.ID, missing, at(0)); return err }, chat.ErrNotFound},
			{"close missing session", func() error {
				_, err := db.CloseSession(ctx, missing, chat.StatusWaiting, nil, chat.ClosedBySystem, nil, at(0))
				return err
			}, chat.ErrNotFound},
			{"close waiting as active", func() error {
				_, err := db.CloseSession(ctx, waiting.ID, chat.StatusActive, nil, chat.ClosedBySystem, nil, at(0))
				return err
			}, chat.ErrConflict},
			{"close active as waiting", func() error {
				_, err := db.CloseSession(ctx, active.ID, chat.StatusWaiting, nil, chat.ClosedBySystem, nil, at(0))
				return err
			}, chat.ErrConflict},
			{"close closed", func() error {
				_, err := db.CloseSession(ctx, closedS.ID, chat.StatusWaiting, nil, chat.ClosedBySystem, nil, at(0))
				return err
			}, chat.ErrConflict},
			{"close from CLOSED", func() error {
				_, err := db.CloseSession(ctx, closedS.ID, chat.StatusClosed, nil, chat.ClosedBySystem, nil, at(0))
				return err
			}, chat.ErrInvalid},
			{"close with bad closed_by", func() error {
				_, err := db.CloseSession(ctx, waiting.ID, chat.StatusWaiting, nil, "ALIENS", nil, at(0))
				return err
			}, chat.ErrInvalid},
			{"transfer missing session", func() error { _, err := db.TransferSession(ctx, missing, alice.ID, bob.ID, nil, at(0)); return err }, chat.ErrNotFound},
			{"transfer from non-owner", func() error { _, err := db.TransferSession(ctx, active.ID, bob.ID, alice.ID, nil, at(0)); return err }, chat.ErrConflict},
			{"transfer waiting", func() error { _, err := db.TransferSession(ctx, waiting.ID, alice.ID, bob.ID, nil, at(0)); return err }, chat.ErrConflict},
			{"transfer to missing operator", func() error { _, err := db.TransferSession(ctx, active.ID, alice.ID, missing, nil, at(0)); return err }, chat.ErrNotFound},
			{"transfer with long reason", func() error { _, err := db.TransferSession(ctx, active.ID, alice.ID, bob.ID, &long, at(0)); return err }, chat.ErrInvalid},
			{"ensure for unknown customer", func() error {
				_, _, err := db.EnsureWaitingSession(ctx, storetest.LineUserID(), at(0))
				return err
			}, chat.ErrNotFound},
			{"session missing", func() error { _, err := db.Session(ctx, missing); return err }, chat.ErrNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) { wantErr(t, tt.name, tt.do(), tt.want) })
		}

		// Failed calls changed nothing.
		for _, want := range []chat.Session{waiting, active} {
			got, err := db.Session(ctx, want.ID)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("session %d = %+v, %v; want unchanged %+v", want.ID, got, err, want)
			}
		}
		// A failed close leaves the customer with the human.
		if cust, _ := db.Customer(ctx, waiting.LineUserID); cust.ChatMode != chat.ModeHuman {
			t.Errorf("chat mode after failed close = %q", cust.ChatMode)
		}
	})
}

// The partial unique index itself refuses a second open session.
func TestOneOpenSessionPerCustomerIsEnforced(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := mustEnsure(t, db, storetest.Customer(t, db).LineUserID, at(0))
		_, err := db.Bun().NewRaw(`INSERT INTO chat_sessions (line_user_id, status, started_at, last_activity_at)
			VALUES (?, 'WAITING', ?, ?)`, s.LineUserID, at(0), at(0)).Exec(t.Context())
		if err == nil {
			t.Fatal("second open session inserted")
		}
		if _, err := db.CloseSession(t.Context(), s.ID, chat.StatusWaiting, nil, chat.ClosedBySystem, nil, at(1)); err != nil {
			t.Fatal(err)
		}
		// Closed sessions do not count.
		_, err = db.Bun().NewRaw(`INSERT INTO chat_sessions (line_user_id, status, started_at, last_activity_at)
			VALUES (?, 'WAITING', ?, ?)`, s.LineUserID, at(0), at(0)).Exec(t.Context())
		if err != nil {
			t.Fatalf("insert after close: %v", err)
		}
	})
}

func TestEnsureWaitingSessionConcurrent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := storetest.Customer(t, db)
		const n = 10
		sessions := make([]chat.Session, n)
		created := make([]bool, n)
		errs := make([]error, n)
		parallel(n, func(i int) {
			sessions[i], created[i], errs[i] = db.EnsureWaitingSession(t.Context(), c.LineUserID, at(time.Duration(i)*time.Second))
		})
		winners := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("caller %d: %v", i, errs[i])
			}
			if created[i] {
				winners++
			}
			if sessions[i].ID != sessions[0].ID {
				t.Errorf("caller %d got session %d, caller 0 got %d", i, sessions[i].ID, sessions[0].ID)
			}
		}
		if winners != 1 {
			t.Errorf("%d callers created a session, want 1", winners)
		}
		var count int
		if err := db.Bun().NewRaw("SELECT count(*) FROM chat_sessions WHERE line_user_id = ?", c.LineUserID).Scan(t.Context(), &count); err != nil || count != 1 {
			t.Errorf("sessions in table = %d, %v", count, err)
		}
	})
}

func TestClaimSessionConcurrent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const n = 50
		ops := make([]chat.Operator, n)
		for i := range ops {
			ops[i] = storetest.Operator(t, db, "op"+string(rune('a'+i/26))+string(rune('a'+i%26)), chat.RoleAgent)
		}
		s := mustEnsure(t, db, storetest.Customer(t, db).LineUserID, at(0))
		results := make([]chat.Session, n)
		errs := make([]error, n)
		parallel(n, func(i int) {
			results[i], errs[i] = db.ClaimSession(t.Context(), s.ID, ops[i].ID, at(time.Second))
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("callers %d and %d both claimed", winner, i)
				}
				winner = i
			case !errors.Is(err, chat.ErrAlreadyClaimed):
				t.Errorf("caller %d: %v, want ErrAlreadyClaimed", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("nobody claimed the session")
		}
		got, err := db.Session(t.Context(), s.ID)
		if err != nil || got.OperatorID == nil || *got.OperatorID != ops[winner].ID || !reflect.DeepEqual(got, results[winner]) {
			t.Errorf("session = %+v, %v; winner %d got %+v", got, err, winner, results[winner])
		}
	})
}

func TestQueuePosition(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		op := storetest.Operator(t, db, "op", chat.RoleAgent)
		// Started: s1 at +2s, s2 and s3 together at +1s (ties go by id), s4 at +3s.
		s1 := mustEnsure(t, db, storetest.Customer(t, db).LineUserID, at(2*time.Second))
		s2 := mustEnsure(t, db, storetest.Customer(t, db).LineUserID, at(time.Second))
		s3 := mustEnsure(t, db, storetest.Customer(t, db).LineUserID, at(time.Second))
		s4 := mustEnsure(t, db, storetest.Customer(t, db).LineUserID, at(3*time.Second))
		check := func(step string, want map[int64][2]int) {
			t.Helper()
			for id, w := range want {
				pos, total, err := db.QueuePosition(ctx, id)
				if err != nil || pos != w[0] || total != w[1] {
					t.Errorf("%s: QueuePosition(%d) = %d, %d, %v; want %d, %d", step, id, pos, total, err, w[0], w[1])
				}
			}
		}
		check("all waiting", map[int64][2]int{s2.ID: {1, 4}, s3.ID: {2, 4}, s1.ID: {3, 4}, s4.ID: {4, 4}})
		mustClaim(t, db, s3.ID, op.ID, at(4*time.Second))
		check("s3 claimed", map[int64][2]int{s2.ID: {1, 3}, s3.ID: {0, 3}, s1.ID: {2, 3}, s4.ID: {3, 3}})
		if _, err := db.CloseSession(ctx, s2.ID, chat.StatusWaiting, nil, chat.ClosedByUser, nil, at(5*time.Second)); err != nil {
			t.Fatal(err)
		}
		check("s2 closed", map[int64][2]int{s2.ID: {0, 2}, s1.ID: {1, 2}, s4.ID: {2, 2}})
		_, _, err := db.QueuePosition(ctx, 1<<40)
		wantErr(t, "QueuePosition(missing)", err, chat.ErrNotFound)
	})
}

func TestActiveChatsAndStats(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		if m, err := db.ActiveChats(ctx); err != nil || m == nil || len(m) != 0 {
			t.Fatalf("ActiveChats on empty DB = %v, %v", m, err)
		}
		alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
		bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
		carol := storetest.Operator(t, db, "carol", chat.RoleAgent)
		day := time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)
		starts := []time.Time{day.Add(-time.Microsecond), day, day.Add(time.Hour), day.Add(2 * time.Hour), day.Add(3 * time.Hour), day.Add(4 * time.Hour)}
		var ss []chat.Session
		for _, st := range starts {
			ss = append(ss, mustEnsure(t, db, storetest.Customer(t, db).LineUserID, st))
		}
		mustClaim(t, db, ss[0].ID, alice.ID, day.Add(5*time.Hour))
		mustClaim(t, db, ss[1].ID, alice.ID, day.Add(5*time.Hour))
		mustClaim(t, db, ss[2].ID, bob.ID, day.Add(5*time.Hour))
		mustClaim(t, db, ss[3].ID, carol.ID, day.Add(5*time.Hour))
		if _, err := db.CloseSession(ctx, ss[3].ID, chat.StatusActive, nil, chat.ClosedByOperator, &carol.ID, day.Add(6*time.Hour)); err != nil {
			t.Fatal(err)
		}

		m, err := db.ActiveChats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != 2 || m[alice.ID] != 2 || m[bob.ID] != 1 {
			t.Errorf("ActiveChats = %v, want alice:2 bob:1", m)
		}

		tests := []struct {
			since time.Time
			want  chat.SessionStats
		}{
			{day.Add(-time.Hour), chat.SessionStats{Waiting: 2, Active: 3, Today: 6}},
			{day, chat.SessionStats{Waiting: 2, Active: 3, Today: 5}}, // at or after: the boundary counts
			{day.Add(time.Microsecond), chat.SessionStats{Waiting: 2, Active: 3, Today: 4}},
			{day.In(time.FixedZone("ICT", 7*3600)), chat.SessionStats{Waiting: 2, Active: 3, Today: 5}},
			{day.Add(24 * time.Hour), chat.SessionStats{Waiting: 2, Active: 3, Today: 0}},
		}
		for _, tt := range tests {
			got, err := db.SessionStats(ctx, tt.since)
			if err != nil || got != tt.want {
				t.Errorf("SessionStats(%v) = %+v, %v; want %+v", tt.since, got, err, tt.want)
			}
		}
	})
}

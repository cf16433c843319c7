package store_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
)

// base is a fixed instant with sub-microsecond digits and a non-UTC zone, to
// prove the store normalises both.
var base = time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.FixedZone("ICT", 7*3600))

// at is base plus d, as the store keeps it.
func at(d time.Duration) time.Time { return base.Add(d) }

// stored is t as the store hands it back.
func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func incoming(lineUserID, content string) *chat.Message {
	return &chat.Message{
		LineUserID:  lineUserID,
		Direction:   chat.Incoming,
		MessageType: "text",
		Content:     content,
		SenderRole:  chat.SenderUser,
	}
}

func outgoing(lineUserID, content string, op *chat.Operator) *chat.Message {
	m := &chat.Message{
		LineUserID:     lineUserID,
		Direction:      chat.Outgoing,
		MessageType:    "text",
		Content:        content,
		SenderRole:     chat.SenderBot,
		DeliveryStatus: chat.DeliveryPending,
	}
	if op != nil {
		m.SenderRole = chat.SenderAdmin
		m.OperatorID = &op.ID
		m.OperatorName = op.DisplayName
	}
	return m
}

func mustAppend(t *testing.T, db *store.DB, m *chat.Message, now time.Time) chat.Message {
	t.Helper()
	if err := db.AppendMessage(t.Context(), m, nil, now); err != nil {
		t.Fatalf("AppendMessage(%q): %v", m.Content, err)
	}
	return *m
}

func mustEnsure(t *testing.T, db *store.DB, lineUserID string, now time.Time) chat.Session {
	t.Helper()
	s, _, err := db.EnsureWaitingSession(t.Context(), lineUserID, now)
	if err != nil {
		t.Fatalf("EnsureWaitingSession: %v", err)
	}
	return s
}

func mustClaim(t *testing.T, db *store.DB, sessionID, operatorID int64, now time.Time) chat.Session {
	t.Helper()
	s, err := db.ClaimSession(t.Context(), sessionID, operatorID, now)
	if err != nil {
		t.Fatalf("ClaimSession: %v", err)
	}
	return s
}

// wantErr checks err against a sentinel (nil: no error).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func eqTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(stored(want)) || got.Location() != time.UTC {
		t.Errorf("%s = %v, want %v (UTC, µs)", what, got, stored(want))
	}
}

func eqTimePtr(t *testing.T, what string, got *time.Time, want time.Time) {
	t.Helper()
	if got == nil {
		t.Errorf("%s = nil, want %v", what, stored(want))
		return
	}
	eqTime(t, what, *got, want)
}

// parallel runs fn(i) for i in [0,n) on n goroutines released together, and
// waits for them all.
func parallel(n int, fn func(i int)) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			fn(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
}

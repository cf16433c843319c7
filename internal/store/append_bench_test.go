package store_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

// BenchmarkAppendMessage measures an operator message's append on SQLite
// through the group writer, one sender at a time (a batch of one, as at a
// light load) and eight at once: without and with where it was sent from,
// which is its audit (message.send).
func BenchmarkAppendMessage(b *testing.B) {
	for _, senders := range []int{1, 8} {
		for _, audited := range []bool{false, true} {
			name := map[bool]string{false: "plain", true: "audited"}[audited] + map[int]string{1: "/alone", 8: "/8-senders"}[senders]
			b.Run(name, func(b *testing.B) { benchAppend(b, senders, audited) })
		}
	}
}

func benchAppend(b *testing.B, senders int, audited bool) {
	db := storetest.Open(b, store.SQLite)
	ctx := context.Background()
	op := storetest.Operator(b, db, "alice", chat.RoleAgent)
	var custs []chat.Customer
	for range senders {
		c := storetest.Customer(b, db)
		s, _, err := db.EnsureWaitingSession(ctx, c.LineUserID, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.ClaimSession(ctx, s.ID, op.ID, time.Now()); err != nil {
			b.Fatal(err)
		}
		custs = append(custs, c)
	}
	var next atomic.Int64
	send := func(c chat.Customer) error {
		m := chat.Message{LineUserID: c.LineUserID, Direction: chat.Outgoing, MessageType: "text", Content: "hello there",
			SenderRole: chat.SenderAdmin, OperatorID: &op.ID, OperatorName: op.DisplayName, DeliveryStatus: chat.DeliveryPending}
		if audited {
			m.SentIP, m.SentUserAgent = "203.0.113.7", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
		}
		return db.AppendMessage(ctx, &m, &chat.AppendGuard{Owner: &op.ID}, time.Now())
	}
	b.ReportAllocs()
	b.ResetTimer()
	if senders == 1 {
		for b.Loop() {
			if err := send(custs[0]); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism(max(1, senders/runtime.GOMAXPROCS(0))) // about senders goroutines
	b.RunParallel(func(pb *testing.PB) {
		c := custs[int(next.Add(1))%len(custs)]
		for pb.Next() {
			if err := send(c); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

package ws_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/contract/wstest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
	"livechat/internal/ws"
)

// presenceInterval is the hub's: at most one presence push per second.
const presenceInterval = time.Second

type presence struct {
	Full      bool            `json:"full"`
	Operators []presenceEntry `json:"operators"`
}

type presenceEntry struct {
	ID          string `json:"id"`
	Status      string `json:"status"`
	ActiveChats int    `json:"active_chats"`
}

func decodePresence(t *testing.T, f wstest.Frame) presence {
	t.Helper()
	if f.Type != "presence_update" {
		t.Fatalf("got %s %s, want presence_update", f.Type, f.Payload)
	}
	var p presence
	f.Decode(t, &p)
	return p
}

// String is the entries as "id:status:chats", in order.
func (p presence) String() string {
	var s []string
	for _, o := range p.Operators {
		s = append(s, fmt.Sprintf("%s:%s:%d", o.ID, o.Status, o.ActiveChats))
	}
	return fmt.Sprintf("full=%v [%s]", p.Full, strings.Join(s, " "))
}

func entry(op chat.Operator, status string, chats int) string {
	return fmt.Sprintf("%d:%s:%d", op.ID, status, chats)
}

func want(full bool, entries ...string) string {
	return fmt.Sprintf("full=%v [%s]", full, strings.Join(entries, " "))
}

// loginListed authenticates op and returns the socket with the
// presence_update that comes right after its auth_success.
func (e *env) loginListed(t *testing.T, op chat.Operator) (*wstest.Client, presence) {
	t.Helper()
	c := wstest.Dial(t, e.url(), nil)
	c.Send("auth", map[string]any{"token": e.token(t, op.ID)})
	c.Expect("auth_success")
	return c, decodePresence(t, c.Next())
}

// awaitPresence lets the interval pass until c gets a presence_update (the
// change that causes it may still be on its way, as after a close), and
// checks that nothing else came with it.
func (e *env) awaitPresence(t *testing.T, c *wstest.Client) presence {
	t.Helper()
	deadline := time.Now().Add(wstest.Timeout)
	for time.Now().Before(deadline) {
		e.clock.Advance(presenceInterval)
		if fs := c.Sync(); len(fs) > 0 {
			if len(fs) > 1 {
				t.Fatalf("got %v, want one presence_update", count(fs))
			}
			return decodePresence(t, fs[0])
		}
	}
	t.Fatalf("no presence_update within %v", wstest.Timeout)
	return presence{}
}

// TestPresenceFullListThenChanges: a socket's first presence_update is
// the full list; then every operator gets only what changed, at most once
// per second.
func TestPresenceFullListThenChanges(t *testing.T) {
	e := newEnv(t, sqlite(t))
	alice := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
	bob := storetest.Operator(t, e.db, "bob", chat.RoleAgent)
	a, list := e.loginListed(t, alice)
	if got := list.String(); got != want(true, entry(alice, "online", 0), entry(bob, "offline", 0)) {
		t.Fatalf("alice's list: %s", got)
	}
	b1, list := e.loginListed(t, bob)
	if got := list.String(); got != want(true, entry(alice, "online", 0), entry(bob, "online", 0)) {
		t.Fatalf("bob's list: %s", got)
	}
	b1.Sync()
	only(t, "alice within the second after her own push", a.Sync(), map[string]int{})
	if got := e.awaitPresence(t, a).String(); got != want(false, entry(bob, "online", 0)) {
		t.Fatalf("bob connected: %s", got)
	}
	b2 := e.login(t, bob)
	b2.Sync()
	e.clock.Advance(presenceInterval)
	only(t, "alice after bob's second tab", a.Sync(), map[string]int{})
	b1.Send("set_status", map[string]any{"status": "away"})
	b1.Sync()
	if got := e.awaitPresence(t, a).String(); got != want(false, entry(bob, "away", 0)) {
		t.Fatalf("bob away: %s", got)
	}
	b1.Close()
	b2.Sync()
	e.clock.Advance(presenceInterval)
	only(t, "alice after bob closed one of two tabs", a.Sync(), map[string]int{})
	b2.Close()
	if got := e.awaitPresence(t, a).String(); got != want(false, entry(bob, "offline", 0)) {
		t.Fatalf("bob gone: %s", got)
	}
	// active_chats counts owned ACTIVE sessions.
	cust := e.waiting(t)
	a.Send("join_room", map[string]any{"line_user_id": cust.LineUserID})
	a.WaitFor("conversation_update")
	a.Send("claim_session", nil)
	a.WaitFor("session_claimed")
	if got := e.awaitPresence(t, a).String(); got != want(false, entry(alice, "online", 1)) {
		t.Fatalf("alice claimed: %s", got)
	}
	a.Send("close_session", nil)
	a.WaitFor("session_closed")
	if got := e.awaitPresence(t, a).String(); got != want(false, entry(alice, "online", 0)) {
		t.Fatalf("alice closed: %s", got)
	}
}

// TestPresenceStormIsCoalesced: operators connecting at once cost each
// their own list, and the others one push for all of them.
func TestPresenceStormIsCoalesced(t *testing.T) {
	e := newEnv(t, sqlite(t), func(o *ws.Options) { o.MaxConnections = 100 })
	watcher, _ := e.loginListed(t, storetest.Operator(t, e.db, "watcher", chat.RoleAgent))
	const n = 20
	ops := make([]chat.Operator, n)
	for i := range ops {
		ops[i] = storetest.Operator(t, e.db, fmt.Sprintf("op%02d", i), chat.RoleAgent)
	}
	var entries []string
	for _, op := range ops {
		c, list := e.loginListed(t, op)
		if !list.Full || len(list.Operators) != n+1 || !slices.Contains(list.Operators, presenceEntry{idStr(op.ID), "online", 0}) {
			t.Fatalf("%s's list: %s", op.Username, list)
		}
		c.Sync()
		entries = append(entries, entry(op, "online", 0))
	}
	only(t, "the watcher while they connect", watcher.Sync(), map[string]int{})
	if got := e.awaitPresence(t, watcher).String(); got != want(false, entries...) {
		t.Fatalf("after the storm: %s, want one push with the %d", got, n)
	}
}

// TestPresenceListsDisabledOperatorOffline: a change lists an operator
// whose account was disabled once more, as offline; the next full list
// leaves it out.
func TestPresenceListsDisabledOperatorOffline(t *testing.T) {
	e := newEnv(t, sqlite(t))
	alice := storetest.Operator(t, e.db, "alice", chat.RoleAgent)
	bob := storetest.Operator(t, e.db, "bob", chat.RoleAgent)
	a := e.login(t, alice)
	b := e.login(t, bob)
	if got := e.awaitPresence(t, a).String(); got != want(false, entry(bob, "online", 0)) {
		t.Fatalf("bob connected: %s", got)
	}
	if err := e.db.SetOperatorActive(context.Background(), bob.ID, false); err != nil {
		t.Fatal(err)
	}
	e.hub.Recheck(context.Background())
	b.ExpectClosed()
	if got := e.awaitPresence(t, a).String(); got != want(false, entry(bob, "offline", 0)) {
		t.Fatalf("bob disabled: %s", got)
	}
	_, list := e.loginListed(t, alice)
	if slices.ContainsFunc(list.Operators, func(o presenceEntry) bool { return o.ID == idStr(bob.ID) }) {
		t.Fatalf("a new list has the disabled operator: %s", list)
	}
}

// heldLists, once hold is set, holds the first of the hub's reads of the
// operator list until released, and counts them.
type heldLists struct {
	*store.DB
	hold    atomic.Bool
	reads   atomic.Int32
	started chan struct{}
	release chan struct{}
}

func (s *heldLists) ListOperators(ctx context.Context) ([]chat.Operator, error) {
	if s.hold.Load() && s.reads.Add(1) == 1 {
		close(s.started)
		<-s.release
	}
	return s.DB.ListOperators(ctx)
}

// TestPresenceListIsSharedInAStorm: sockets that authenticate while a
// full list is being read share one later read, which still lists each of
// them online (it starts after they joined).
func TestPresenceListIsSharedInAStorm(t *testing.T) {
	db := sqlite(t)
	st := &heldLists{DB: db, started: make(chan struct{}), release: make(chan struct{})}
	e := newEnvStore(t, db, st, func(o *ws.Options) { o.MaxConnections = 100 })
	first := storetest.Operator(t, db, "first", chat.RoleAgent)
	holder := storetest.Operator(t, db, "holder", chat.RoleAgent)
	const n = 12
	ops := make([]chat.Operator, n)
	for i := range ops {
		ops[i] = storetest.Operator(t, db, fmt.Sprintf("op%02d", i), chat.RoleAgent)
	}
	// first's connect pushes presence now; the next ones within the
	// second (the clock stands still) wait for the coalesced push, which
	// reads nothing here.
	e.loginListed(t, first)
	st.hold.Store(true)
	h := wstest.Dial(t, e.url(), nil)
	h.Send("auth", map[string]any{"token": e.token(t, holder.ID)})
	h.Expect("auth_success")
	<-st.started // holder's list is being read, and held
	cs := make([]*wstest.Client, n)
	for i, op := range ops {
		cs[i] = wstest.Dial(t, e.url(), nil)
		cs[i].Send("auth", map[string]any{"token": e.token(t, op.ID)})
		cs[i].Expect("auth_success")
	}
	deadline := time.Now().Add(wstest.Timeout)
	for e.hub.PresenceListWaiting() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sockets wait for the list", e.hub.PresenceListWaiting(), n)
		}
		runtime.Gosched()
	}
	close(st.release)
	if l := decodePresence(t, h.Next()); !l.Full || !slices.Contains(l.Operators, presenceEntry{idStr(holder.ID), "online", 0}) {
		t.Fatalf("holder's list: %s", l)
	}
	for i, op := range ops {
		l := decodePresence(t, cs[i].Next())
		if !l.Full || len(l.Operators) != n+2 {
			t.Fatalf("%s's list: %s", op.Username, l)
		}
		for _, other := range ops {
			if !slices.Contains(l.Operators, presenceEntry{idStr(other.ID), "online", 0}) {
				t.Fatalf("%s's list misses %s online: %s", op.Username, other.Username, l)
			}
		}
	}
	// holder's list, then one for all twelve.
	if got := st.reads.Load(); got != 2 {
		t.Fatalf("%d reads of the operator list for %d sockets, want 2", got, n+1)
	}
}

// countedLists counts the hub's reads of the operator list.
type countedLists struct {
	*store.DB
	reads atomic.Int32
}

func (s *countedLists) ListOperators(ctx context.Context) ([]chat.Operator, error) {
	s.reads.Add(1)
	return s.DB.ListOperators(ctx)
}

// TestPresenceListIsReusedWhileNothingChanged: a socket that authenticates
// when nothing changed since the last full list was read gets that list,
// without a read (a reconnect storm's sockets share it); after a change,
// or a second, the list is read again and says what changed.
func TestPresenceListIsReusedWhileNothingChanged(t *testing.T) {
	db := sqlite(t)
	st := &countedLists{DB: db}
	e := newEnvStore(t, db, st)
	alice := storetest.Operator(t, db, "alice", chat.RoleAgent)
	bob := storetest.Operator(t, db, "bob", chat.RoleAgent)
	_, first := e.loginListed(t, alice)
	reads := st.reads.Load()
	_, again := e.loginListed(t, alice) // a second tab: alice was online already
	if got := st.reads.Load(); got != reads || again.String() != first.String() {
		t.Fatalf("alice's second tab: %d more reads, list %s; want none and %s", got-reads, again, first)
	}
	_, withBob := e.loginListed(t, bob) // bob comes online: a change
	if got := st.reads.Load(); got == reads {
		t.Fatal("bob's list was not read again after he came online")
	}
	if !slices.Contains(withBob.Operators, presenceEntry{idStr(bob.ID), "online", 0}) {
		t.Fatalf("bob's list: %s, want him online", withBob)
	}
	reads = st.reads.Load()
	if _, l := e.loginListed(t, bob); st.reads.Load() != reads || l.String() != withBob.String() {
		t.Fatalf("bob's second tab: %d more reads, list %s", st.reads.Load()-reads, l)
	}
	e.clock.Advance(presenceInterval) // bob's coalesced push goes out (a read), and the list ages
	reads = st.reads.Load()
	e.loginListed(t, alice)
	if st.reads.Load() == reads {
		t.Fatal("a list a second old was reused")
	}
}

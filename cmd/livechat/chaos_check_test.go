package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"livechat/internal/chat"
	"livechat/internal/line/linefake"
)

// check waits (bounded) for the system to settle, then settles every
// account: the clients against the store, the store against what was
// acknowledged, the fake LINE against the store.
func (h *chaosHarness) check() {
	t := h.t

	// What was acknowledged: operator messages by temp_id, customer ones by text.
	acked := map[string]chaosAck{} // text → ack
	for i := range h.rooms {
		c := h.clients[2*i]
		c.mu.Lock()
		for temp, seq := range c.acks {
			acked[opText(temp)] = chaosAck{room: i, seq: seq, inst: c.ackInst[temp]}
		}
		c.mu.Unlock()
	}
	h.accMu.Lock()
	accepted := make(map[string]int, len(h.accepted))
	for k, v := range h.accepted {
		accepted[k] = v
	}
	failedWH := h.failedWH
	h.accMu.Unlock()
	custRoom := func(text string) int { // "chaos cust <room> <n>"
		f := strings.Fields(text)
		n, _ := strconv.Atoi(f[2])
		return n
	}

	// 1. The inbox has stored every accepted customer message.
	var msgs [][]chat.Message
	deadline := time.Now().Add(60 * time.Second)
	for {
		msgs = h.allRooms()
		have := 0
		for _, ms := range msgs {
			for _, m := range ms {
				if _, ok := accepted[m.Content]; ok {
					have++
				}
			}
		}
		if have >= len(accepted) || time.Now().After(deadline) {
			if have < len(accepted) {
				h.logf("the store holds %d of %d accepted customer messages after 60 s", have, len(accepted))
			}
			break
		}
		backoff(h.ctx, 100*time.Millisecond)
	}

	// 2. Every client is connected and has passed its room's last seq
	// (a socket delivers in seq order: what it passed by is lost).
	deadline = time.Now().Add(30 * time.Second)
	for _, c := range h.clients {
		last := int64(0)
		if ms := msgs[c.room]; len(ms) > 0 {
			last = ms[len(ms)-1].Seq
		}
		for {
			c.mu.Lock()
			ok := c.conn != nil && c.maxSeq >= last
			c.mu.Unlock()
			if ok || time.Now().After(deadline) {
				break
			}
			backoff(h.ctx, 20*time.Millisecond)
		}
	}

	// 3. The outbox has pushed every acknowledged operator message.
	lineCount := func() map[string]int {
		n := map[string]int{}
		for _, r := range h.line.Deliveries() {
			if r.Endpoint != linefake.Push {
				continue
			}
			for _, m := range r.Messages {
				if text, _ := m["text"].(string); strings.HasPrefix(text, "chaos op ") {
					n[text]++
				}
			}
		}
		return n
	}
	lineDeadline := time.NewTimer(120 * time.Second)
	defer lineDeadline.Stop()
	var pushed map[string]int
wait:
	for {
		changed := h.line.Changed()
		pushed = lineCount()
		done := 0
		for text := range acked {
			if pushed[text] > 0 {
				done++
			}
		}
		if done == len(acked) {
			break
		}
		select {
		case <-changed:
		case <-lineDeadline.C:
			h.logf("the fake LINE has %d of %d acknowledged operator messages after 120 s", done, len(acked))
			break wait
		}
	}
	msgs = h.allRooms()

	// The store against what was acknowledged.
	storeMissing, storeExtra, storeDup, total := 0, 0, 0, 0
	var storeNotes []string
	seen := map[string]int{}
	for i, ms := range msgs {
		for _, m := range ms {
			if m.Seq <= h.base[i] {
				continue
			}
			total++
			seen[m.Content]++
			switch {
			case seen[m.Content] > 1:
				storeDup++
				storeNotes = append(storeNotes, fmt.Sprintf("room %d seq %d %q stored twice", i, m.Seq, m.Content))
			case strings.HasPrefix(m.Content, "chaos op "):
				a, ok := acked[m.Content]
				if !ok || a.room != i || a.seq != m.Seq {
					storeExtra++
					storeNotes = append(storeNotes, fmt.Sprintf("room %d seq %d %q: not acknowledged as stored (ack %+v, %v)", i, m.Seq, m.Content, a, ok))
				}
			case strings.HasPrefix(m.Content, "chaos cust "):
				if _, ok := accepted[m.Content]; !ok || custRoom(m.Content) != i {
					storeExtra++
					storeNotes = append(storeNotes, fmt.Sprintf("room %d seq %d %q: no webhook got 200 for it", i, m.Seq, m.Content))
				}
			default:
				storeExtra++
				storeNotes = append(storeNotes, fmt.Sprintf("room %d seq %d: unexpected %s message %q", i, m.Seq, m.SenderRole, m.Content))
			}
		}
	}
	for text, a := range acked {
		if seen[text] == 0 {
			storeMissing++
			storeNotes = append(storeNotes, fmt.Sprintf("room %d: acknowledged %q (seq %d) not stored", a.room, text, a.seq))
		}
	}
	for text := range accepted {
		if seen[text] == 0 {
			storeMissing++
			storeNotes = append(storeNotes, fmt.Sprintf("room %d: customer %q got 200 but is not stored", custRoom(text), text))
		}
	}

	// The fake LINE against the acknowledged operator messages.
	lineMissing, lineDup, lineExtra := 0, 0, 0
	var lineNotes []string
	for text := range acked {
		switch n := pushed[text]; {
		case n == 0:
			lineMissing++
			lineNotes = append(lineNotes, fmt.Sprintf("%q never reached LINE", text))
		case n > 1:
			lineDup++
			lineNotes = append(lineNotes, fmt.Sprintf("%q reached LINE %d times", text, n))
		}
	}
	for text := range pushed {
		if _, ok := acked[text]; !ok {
			lineExtra++
			lineNotes = append(lineNotes, fmt.Sprintf("%q reached LINE, never acknowledged", text))
		}
	}

	// Every client against its room in the store.
	lost, dup, reord, phantom, resumes, resyncs, retried, lostRedis := 0, 0, 0, 0, 0, 0, 0, 0
	var lostNotes []string
	for _, c := range h.clients {
		c.mu.Lock()
		inDB := map[int64]chat.Message{}
		var missing []chat.Message
		for _, m := range msgs[c.room] {
			inDB[m.Seq] = m
			if !c.held[m.Seq] {
				missing = append(missing, m)
			}
		}
		for seq := range c.held {
			if _, ok := inDB[seq]; !ok {
				phantom++
				lostNotes = append(lostNotes, fmt.Sprintf("%s (room %d) holds seq %d, which the store has not", c.name, c.room, seq))
			}
		}
		lost += len(missing)
		dup += len(c.dups)
		reord += len(c.reorders)
		resumes += len(c.spans) - 1
		resyncs += c.resyncs
		retried += len(c.retried)
		if len(c.dups) > 0 {
			lostNotes = append(lostNotes, fmt.Sprintf("%s (room %d) received again: seqs %v", c.name, c.room, c.dups))
		}
		for _, r := range c.reorders {
			why := "a message whose seq the store has not"
			if m, ok := inDB[r.seq]; ok {
				why = h.explain(c, m, acked, accepted)
			}
			if m, ok := inDB[r.after]; ok {
				why += fmt.Sprintf("; seq %d was %s", r.after, h.origin(m, acked, accepted))
			}
			lostNotes = append(lostNotes, fmt.Sprintf("REORDERED %s room %d: seq %d received at %.2fs on instance %d after seq %d; it was stored at %.2fs; %s",
				c.name, c.room, r.seq, r.at.Sub(h.start).Seconds(), r.inst, r.after, inDB[r.seq].CreatedAt.Sub(h.start).Seconds(), why))
		}
		// Each lost message: when it was stored, which socket the client
		// had then (on which instance), where it came from, which fault.
		byWhy := map[string][]string{}
		var whys []string
		for _, m := range missing {
			why := h.explain(c, m, acked, accepted)
			if strings.Contains(why, "during redis down") {
				lostRedis++
			}
			if _, ok := byWhy[why]; !ok {
				whys = append(whys, why)
			}
			byWhy[why] = append(byWhy[why], fmt.Sprintf("%d@%.2fs", m.Seq, m.CreatedAt.Sub(h.start).Seconds()))
		}
		for _, why := range whys {
			lostNotes = append(lostNotes, fmt.Sprintf("LOST %s room %d (%s) seqs (seq@stored) %v: %s", c.name, c.room, h.rooms[c.room], byWhy[why], why))
		}
		c.mu.Unlock()
	}

	h.fmu.Lock()
	for _, f := range h.faults {
		t.Logf("fault %-32s at %6.2fs .. %6.2fs", f.what, f.from.Seconds(), f.to.Seconds())
	}
	h.fmu.Unlock()
	for _, n := range storeNotes {
		t.Log("store: " + n)
	}
	for _, n := range lineNotes {
		t.Log("line: " + n)
	}
	for _, n := range lostNotes {
		t.Log(n)
	}
	ops, custs := len(acked), len(accepted)
	details := fmt.Sprintf("chaos %s: operator=%d customer=%d clients=%d resumes=%d resyncs=%d send_retries=%d webhook_retries=%d phantom=%d "+
		"store_missing=%d store_extra=%d store_duplicated=%d line_pushed=%d line_missing=%d line_duplicated=%d line_extra=%d",
		h.prof.name, ops, custs, len(h.clients), resumes, resyncs, retried, failedWH, phantom,
		storeMissing, storeExtra, storeDup, len(pushed), lineMissing, lineDup, lineExtra)
	summary := fmt.Sprintf("lost=%d duplicated=%d reordered=%d messages=%d", lost, dup, reord, total)
	window := fmt.Sprintf("lost while Redis was down or within 3 s of its restart: %d of %d", lostRedis, lost)
	t.Log(details)
	t.Log(window)
	t.Log(summary)
	fmt.Println(details)
	fmt.Println(window)
	fmt.Println(summary)

	if lost+dup+reord+phantom != 0 {
		t.Errorf("clients: lost %d, duplicated %d, reordered %d, phantom %d (see above)", lost, dup, reord, phantom)
	}
	if storeMissing+storeExtra+storeDup != 0 {
		t.Errorf("store: missing %d, extra %d, duplicated %d (see above)", storeMissing, storeExtra, storeDup)
	}
	if lineMissing+lineDup+lineExtra != 0 {
		t.Errorf("fake LINE: missing %d, duplicated %d, extra %d (see above)", lineMissing, lineDup, lineExtra)
	}
	if total != ops+custs {
		t.Errorf("the store holds %d messages of the run, %d acknowledged + %d accepted", total, ops, custs)
	}
	if total < h.prof.minMessages {
		t.Errorf("only %d messages in the run, want at least %d", total, h.prof.minMessages)
	}
	if resumes == 0 || retried+resumes == 0 {
		t.Errorf("no client resumed: the faults did not bite")
	}
}

// opText is the text of the operator message with temp_id "chaos-<room>-<n>".
func opText(temp string) string {
	f := strings.Split(temp, "-")
	return "chaos op " + f[1] + " " + f[2]
}

// allRooms reads every room's messages (failing the test on a store error).
func (h *chaosHarness) allRooms() [][]chat.Message {
	out := make([][]chat.Message, len(h.rooms))
	for i, u := range h.rooms {
		ms, err := h.roomMessages(u)
		if err != nil {
			h.t.Fatalf("read room %d: %v", i, err)
		}
		out[i] = ms
	}
	return out
}

// chaosAck is an acknowledged operator message: its room, its seq, and the
// instance whose socket brought the message_sent.
type chaosAck struct {
	room int
	seq  int64
	inst int
}

// explain says, for a message a client never received, which socket the
// client had when it was stored (instance, which socket), where the message
// came from, and which fault was under way. The caller holds c.mu.
func (h *chaosHarness) explain(c *chaosClient, m chat.Message, acked map[string]chaosAck, accepted map[string]int) string {
	at := m.CreatedAt.Sub(h.start)
	var parts []string
	sock := "no socket (between sockets)"
	for k, s := range c.spans {
		if !m.CreatedAt.Before(s.from) && (s.to.IsZero() || m.CreatedAt.Before(s.to)) {
			sock = fmt.Sprintf("the client on instance %d (socket #%d, joined at %.2fs with last_seq %d)", s.inst, k, s.from.Sub(h.start).Seconds(), s.lastSeq)
			break
		}
	}
	parts = append(parts, sock)
	parts = append(parts, h.origin(m, acked, accepted))
	var faults []string
	h.fmu.Lock()
	for _, f := range h.faults {
		if at >= f.from-500*time.Millisecond && at <= f.to+3*time.Second {
			faults = append(faults, fmt.Sprintf("during %s (%.2fs..%.2fs, +3 s)", f.what, f.from.Seconds(), f.to.Seconds()))
		}
	}
	h.fmu.Unlock()
	if len(faults) == 0 {
		faults = append(faults, "no fault under way")
	}
	parts = append(parts, strings.Join(faults, ", "))
	return strings.Join(parts, "; ")
}

// origin says where a message came from.
func (h *chaosHarness) origin(m chat.Message, acked map[string]chaosAck, accepted map[string]int) string {
	if a, ok := acked[m.Content]; ok {
		return fmt.Sprintf("an operator message acknowledged on instance %d", a.inst)
	}
	if inst, ok := accepted[m.Content]; ok {
		return fmt.Sprintf("a customer message whose webhook went to instance %d (any instance's inbox worker may store it)", inst)
	}
	return fmt.Sprintf("a %s message %q", m.SenderRole, m.Content)
}

package bench

import (
	"bytes"
	"encoding/json"
)

// The bench reads every delivery of a run, tens of thousands a second on
// one core, so the two things it reads of each (the type; a message's id,
// seq and temp_id) are found by scanning the frame's bytes, and
// encoding/json is the fallback for anything else.

// frameType is the "type" of an envelope, "" when it is not one. The
// floor writes it first, livechat's generated envelopes last.
func frameType(data []byte) string {
	if bytes.HasPrefix(data, keyTypeFirst) {
		rest := data[len(keyTypeFirst):]
		if i := bytes.IndexByte(rest, '"'); i > 0 {
			return string(rest[:i])
		}
	}
	if i := bytes.LastIndex(data, keyTypeLast); i >= 0 {
		rest := data[i+len(keyTypeLast):]
		if j := bytes.IndexByte(rest, '"'); j > 0 && string(rest[j:]) == `"}` {
			return string(rest[:j])
		}
	}
	var env struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(data, &env) != nil {
		return ""
	}
	return env.Type
}

// decodeMessage reads the id, seq and temp_id of a message_sent or
// new_message. A key with its closing quote and colon (`"seq":`) cannot
// occur inside a JSON string, where every quote is escaped, so a scan
// finds the keys themselves; frames of other shapes go through
// encoding/json.
func decodeMessage(f frame, m *message) bool {
	id, ok1 := intField(f.data, keyID)
	seq, ok2 := intField(f.data, keySeq)
	temp, ok3 := stringField(f.data, keyTempID)
	if ok1 && ok2 && ok3 {
		*m = message{ID: id, Seq: seq, TempID: temp}
		return true
	}
	*m = message{}
	return f.payload(m) == nil
}

var (
	keyID        = []byte(`"id":`)
	keySeq       = []byte(`"seq":`)
	keyTempID    = []byte(`"temp_id":"`)
	keyTypeFirst = []byte(`{"type":"`)
	keyTypeLast  = []byte(`,"type":"`)
)

// intField finds key (preceded by '{' or ',', so "id" is not "session_id")
// and reads the integer after it.
func intField(data, key []byte) (int64, bool) {
	for off := 0; ; {
		i := bytes.Index(data[off:], key)
		if i < 0 {
			return 0, false
		}
		i += off
		if i > 0 && (data[i-1] == '{' || data[i-1] == ',') {
			return digits(data[i+len(key):])
		}
		off = i + len(key)
	}
}

// digits reads a non-negative decimal integer at the start of b.
func digits(b []byte) (int64, bool) {
	var v int64
	n := 0
	for ; n < len(b) && b[n] >= '0' && b[n] <= '9' && n < 18; n++ {
		v = v*10 + int64(b[n]-'0')
	}
	if n == 0 || (n < len(b) && b[n] >= '0' && b[n] <= '9') {
		return 0, false // none, or too long for the fast path
	}
	return v, true
}

// stringField reads the string after key (which ends with the opening
// quote), when it has no escapes (a stamp never has).
func stringField(data, key []byte) (string, bool) {
	i := bytes.Index(data, key)
	if i < 0 {
		return "", false
	}
	rest := data[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 || bytes.IndexByte(rest[:j], '\\') >= 0 {
		return "", false
	}
	return string(rest[:j]), true
}

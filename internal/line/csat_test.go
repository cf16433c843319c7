package line_test

import (
	"encoding/json"
	"strings"
	"testing"

	"livechat/internal/line"
)

func TestCSATData(t *testing.T) {
	if got := line.CSATData(42, 5); got != "csat|42|5" {
		t.Fatalf("CSATData = %q", got)
	}
	for _, tc := range []struct {
		data      string
		sessionID int64
		score     int
		ok        bool
	}{
		{"csat|42|5", 42, 5, true},
		{"csat|1|1", 1, 1, true},
		{"csat|42|0", 0, 0, false},
		{"csat|42|6", 0, 0, false},
		{"csat|0|3", 0, 0, false},
		{"csat|-1|3", 0, 0, false},
		{"csat|42", 0, 0, false},
		{"csat|x|3", 0, 0, false},
		{"csat|42|3|9", 0, 0, false},
		{"other|42|3", 0, 0, false},
		{"", 0, 0, false},
	} {
		sid, score, ok := line.ParseCSAT(tc.data)
		if sid != tc.sessionID || score != tc.score || ok != tc.ok {
			t.Errorf("ParseCSAT(%q) = %d, %d, %v; want %d, %d, %v", tc.data, sid, score, ok, tc.sessionID, tc.score, tc.ok)
		}
	}
}

// The survey is a Flex message LINE accepts, with one postback per score.
func TestCSATSurvey(t *testing.T) {
	f, c := fake(t)
	m := line.CSATSurvey(7)
	if err := c.Push(t.Context(), user, []line.Message{m}, retryKey); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(f.Deliveries()[0].Messages[0])
	var flex struct {
		Type     string `json:"type"`
		AltText  string `json:"altText"`
		Contents struct {
			Type   string `json:"type"`
			Footer struct {
				Contents []struct {
					Action struct {
						Type, Label, Data, DisplayText string
					} `json:"action"`
				} `json:"contents"`
			} `json:"footer"`
		} `json:"contents"`
	}
	if err := json.Unmarshal(raw, &flex); err != nil {
		t.Fatal(err)
	}
	if flex.Type != "flex" || flex.AltText == "" || flex.Contents.Type != "bubble" {
		t.Fatalf("survey = %s", raw)
	}
	buttons := flex.Contents.Footer.Contents
	if len(buttons) != 5 {
		t.Fatalf("%d buttons, want 5", len(buttons))
	}
	for i, b := range buttons {
		score := i + 1
		sid, got, ok := line.ParseCSAT(b.Action.Data)
		if b.Action.Type != "postback" || !ok || sid != 7 || got != score ||
			b.Action.Label != strings.Repeat("⭐", score) || !strings.Contains(b.Action.DisplayText, string(rune('0'+score))) {
			t.Errorf("button %d = %+v", score, b.Action)
		}
	}
}

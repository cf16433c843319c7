package line

import (
	"strconv"
	"strings"
)

// CSAT postbacks carry "csat|{session_id}|{score}", as in the original, so
// the rating buttons of surveys already sent keep working.
const csatPrefix = "csat|"

// CSAT score range.
const (
	MinCSATScore = 1
	MaxCSATScore = 5
)

// CSATData is the postback data of the rating button for score.
func CSATData(sessionID int64, score int) string {
	return csatPrefix + strconv.FormatInt(sessionID, 10) + "|" + strconv.Itoa(score)
}

// ParseCSAT reads postback data written by CSATData. ok is false for any
// other postback, a malformed one, or a score outside 1..5.
func ParseCSAT(data string) (sessionID int64, score int, ok bool) {
	rest, found := strings.CutPrefix(data, csatPrefix)
	if !found {
		return 0, 0, false
	}
	sid, sc, found := strings.Cut(rest, "|")
	if !found {
		return 0, 0, false
	}
	sessionID, err := strconv.ParseInt(sid, 10, 64)
	if err != nil || sessionID < 1 {
		return 0, 0, false
	}
	score, err = strconv.Atoi(sc)
	if err != nil || score < MinCSATScore || score > MaxCSATScore {
		return 0, 0, false
	}
	return sessionID, score, true
}

// CSATSurvey is the rating message pushed to the customer when an operator
// closes the session: a Flex bubble with five postback buttons, ⭐ to
// ⭐⭐⭐⭐⭐, whose tap shows "ให้คะแนน N ดาว" in the chat (the original's
// wording) and posts back CSATData.
func CSATSurvey(sessionID int64) Message {
	buttons := make([]any, 0, MaxCSATScore)
	for score := MinCSATScore; score <= MaxCSATScore; score++ {
		buttons = append(buttons, map[string]any{
			"type":   "button",
			"style":  "secondary",
			"height": "sm",
			"action": map[string]any{
				"type":        "postback",
				"label":       strings.Repeat("⭐", score),
				"data":        CSATData(sessionID, score),
				"displayText": "ให้คะแนน " + strconv.Itoa(score) + " ดาว",
			},
		})
	}
	return Message{
		"type":    "flex",
		"altText": "กรุณาให้คะแนนความพึงพอใจในการให้บริการ (1–5 ดาว)",
		"contents": map[string]any{
			"type": "bubble",
			"body": map[string]any{
				"type":    "box",
				"layout":  "vertical",
				"spacing": "sm",
				"contents": []any{
					map[string]any{"type": "text", "text": "ความพึงพอใจในการให้บริการ", "weight": "bold", "size": "lg", "wrap": true},
					map[string]any{"type": "text", "text": "กรุณาให้คะแนนการให้บริการของเราครั้งนี้", "size": "sm", "color": "#666666", "wrap": true},
				},
			},
			"footer": map[string]any{
				"type":     "box",
				"layout":   "vertical",
				"spacing":  "sm",
				"contents": buttons,
			},
		},
	}
}

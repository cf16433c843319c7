package chat

// CustomerExport is everything stored of one customer (Thailand's PDPA:
// the data subject's copy): the profile, the sessions, the messages and
// the ratings, every column as the database holds it.
type CustomerExport struct {
	LineUserID string           `json:"line_user_id"`
	Customer   map[string]any   `json:"customer"`
	Sessions   []map[string]any `json:"sessions"`
	Messages   []map[string]any `json:"messages"`
	CSAT       []map[string]any `json:"csat"`
	Tags       []Tag            `json:"tags"` // the conversation's, by name
}

// Erased counts the rows an erasure deleted, by table.
type Erased map[string]int64

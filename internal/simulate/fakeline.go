package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"livechat/internal/line"
	"livechat/internal/line/linefake"
)

// fakeLine talks to the fake LINE's control API (see linefake's control.go).
type fakeLine struct {
	base string
	http *http.Client
}

// controlTimeout bounds a control call that does not long-poll.
const controlTimeout = 10 * time.Second

// requests returns the answered requests with seq > after, waiting up to
// wait for one to arrive (0: answer at once).
func (f fakeLine) requests(ctx context.Context, after int, wait time.Duration) ([]linefake.Request, error) {
	ctx, cancel := context.WithTimeout(ctx, wait+controlTimeout)
	defer cancel()
	q := url.Values{"after": {strconv.Itoa(after)}}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.base+"/_fake/requests?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	var out struct {
		Requests *[]linefake.Request `json:"requests"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &out) != nil || out.Requests == nil {
		return nil, fmt.Errorf("GET %s/_fake/requests answered %s %.200q: is it the fake LINE (livechat fakeline)?", f.base, resp.Status, raw)
	}
	return *out.Requests, nil
}

// setProfile makes the fake answer the server's profile fetch for c.
func (f fakeLine) setProfile(ctx context.Context, c Customer) error {
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	body, _ := json.Marshal(line.Profile{DisplayName: c.Name})
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, f.base+"/_fake/profiles/"+url.PathEscape(c.UserID), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("PUT %s/_fake/profiles/%s answered %s %.200q", f.base, c.UserID, resp.Status, raw)
	}
	return nil
}

// cursor follows the fake's request log. Requests are numbered in order of
// arrival but listed once answered, so a slow one (an injected timeout) may
// be listed after a later one: the cursor only moves past a seq once every
// seq up to it was seen, and never hands out a request twice.
type cursor struct {
	after int          // every request with seq <= after was handed out
	ahead map[int]bool // handed out, seq > after
}

func newCursor(after int) *cursor { return &cursor{after: after, ahead: map[int]bool{}} }

// take returns the requests not handed out yet, and moves the cursor.
func (c *cursor) take(rs []linefake.Request) []linefake.Request {
	var out []linefake.Request
	for _, r := range rs {
		if r.Seq <= c.after || c.ahead[r.Seq] {
			continue
		}
		c.ahead[r.Seq] = true
		out = append(out, r)
	}
	for c.ahead[c.after+1] {
		delete(c.ahead, c.after+1)
		c.after++
	}
	return out
}

// gap reports whether a request before one already handed out is still
// unanswered.
func (c *cursor) gap() bool { return len(c.ahead) > 0 }

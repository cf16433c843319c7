package rest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"livechat/internal/chat"
	"livechat/internal/line"
	"livechat/internal/line/linefake"
	"livechat/internal/rest"
	"livechat/internal/store"
	"livechat/internal/store/storetest"
)

var _ rest.Content = (*line.Client)(nil)

const lineToken = "fake-channel-token"

// contentPath is the media route of message id.
func contentPath(id int64) string { return fmt.Sprintf("%smessages/%d/content", lc, id) }

// withLine serves media from a fake LINE through a real line.Client with
// channel token token; the client gives up on a silent LINE after 300ms.
func withLine(t testing.TB, token string) (*linefake.Server, func(*rest.Deps)) {
	t.Helper()
	fake := linefake.New(lineToken)
	base := fake.Start()
	t.Cleanup(fake.Close)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 300 * time.Millisecond
	t.Cleanup(tr.CloseIdleConnections)
	client := line.NewClient(base, base, token, &http.Client{Transport: tr})
	return fake, func(d *rest.Deps) { d.Media = client }
}

// customerMessage stores a message of c as the webhook would: typ with
// payload p (marshalled to JSON unless nil).
func (e *env) customerMessage(t testing.TB, c chat.Customer, dir chat.Direction, typ, content string, p map[string]any) chat.Message {
	t.Helper()
	m := chat.Message{LineUserID: c.LineUserID, Direction: dir, MessageType: typ, Content: content, SenderRole: chat.SenderUser}
	if dir == chat.Outgoing {
		m.SenderRole = chat.SenderAdmin
		m.DeliveryStatus = chat.DeliverySent
	}
	if p != nil {
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		m.Payload = raw
	}
	e.clock.Advance(time.Second)
	if err := e.db.AppendMessage(context.Background(), &m, nil, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	return m
}

func media(lineID string, extra ...any) map[string]any {
	p := map[string]any{"line_message_id": lineID, "webhook_event_id": "01JEVENT" + lineID, "content_provider": "line"}
	for i := 0; i+1 < len(extra); i += 2 {
		p[extra[i].(string)] = extra[i+1]
	}
	return p
}

// expectMedia checks a streamed answer: status 200, the body and the headers.
func (r response) expectMedia(t testing.TB, body []byte, contentType, disposition string) {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("status %d, want 200; body %.300s", r.Status, r.Body)
	}
	if !bytes.Equal(r.Body, body) {
		t.Errorf("body: %d bytes, want %d (equal prefix: %v)", len(r.Body), len(body), bytes.HasPrefix(body, r.Body))
	}
	for k, want := range map[string]string{
		"Content-Type":            contentType,
		"Content-Disposition":     disposition,
		"Cache-Control":           "private, max-age=300",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "sandbox",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("%s %q, want %q", k, got, want)
		}
	}
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func TestMediaStreamsContent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fake, wire := withLine(t, lineToken)
		e := newEnv(t, db, wire)
		agent := e.token(t, e.operator(t, "agent", chat.RoleAgent))
		c := storetest.Customer(t, db)

		jpeg := randomBytes(t, 1500)
		big := randomBytes(t, 3<<20+17) // several chunks, more than any buffer
		voice := randomBytes(t, 4000)
		clip := randomBytes(t, 70_000)
		fake.SetContent("1001", "image/jpeg", jpeg)
		fake.SetContent("1002", "application/pdf", big)
		fake.SetContent("1003", "", voice) // LINE gave no type
		fake.SetContent("1004", "video/mp4", clip)
		fake.SetContent("1005", "text/plain; charset=utf-8", []byte("hello"))
		fake.SetContent("1006", "application/pdf", []byte("%PDF-1.7"))

		img := e.customerMessage(t, c, chat.Incoming, "image", "[Image]", media("1001"))
		file := e.customerMessage(t, c, chat.Incoming, "file", "report.pdf", media("1002", "file_name", "report.pdf", "file_size", len(big)))
		audio := e.customerMessage(t, c, chat.Incoming, "audio", "[Audio]", media("1003", "duration_ms", 3000))
		video := e.customerMessage(t, c, chat.Incoming, "video", "[Video]", media("1004", "duration_ms", 9000))
		thai := e.customerMessage(t, c, chat.Incoming, "file", "ใบเสร็จ 01.txt", media("1005", "file_name", "../ใบเสร็จ 01.txt", "file_size", 5))
		noName := e.customerMessage(t, c, chat.Incoming, "file", "[File]", media("1006", "file_name", "", "file_size", 8))

		e.call(t, "GET", contentPath(img.ID), agent, nil).expectMedia(t, jpeg, "image/jpeg", "inline")
		e.call(t, "GET", contentPath(file.ID), agent, nil).expectMedia(t, big, "application/pdf", "inline; filename=report.pdf")
		e.call(t, "GET", contentPath(audio.ID), agent, nil).expectMedia(t, voice, "application/octet-stream", "inline")
		e.call(t, "GET", contentPath(video.ID), agent, nil).expectMedia(t, clip, "video/mp4", "inline")
		e.call(t, "GET", contentPath(thai.ID), agent, nil).expectMedia(t, []byte("hello"), "text/plain; charset=utf-8",
			"inline; filename*=utf-8''%E0%B9%83%E0%B8%9A%E0%B9%80%E0%B8%AA%E0%B8%A3%E0%B9%87%E0%B8%88%2001.txt")
		e.call(t, "GET", contentPath(noName.ID), agent, nil).expectMedia(t, []byte("%PDF-1.7"), "application/pdf", "inline")

		// LINE was asked by message id, with the channel token.
		var asked []string
		for _, r := range fake.Requests(linefake.Content) {
			asked = append(asked, fmt.Sprintf("%s %d", r.To, r.Status))
		}
		if want := []string{"1001 200", "1002 200", "1003 200", "1004 200", "1005 200", "1006 200"}; !equal(asked, want) {
			t.Errorf("LINE content requests %q, want %q", asked, want)
		}

		// HEAD answers the headers without the body.
		r := e.call(t, "HEAD", contentPath(img.ID), agent, nil)
		if r.Status != 200 || r.Header.Get("Content-Type") != "image/jpeg" || len(r.Body) != 0 {
			t.Errorf("HEAD: %d %q %d bytes", r.Status, r.Header.Get("Content-Type"), len(r.Body))
		}
	})
}

func TestMediaRefusals(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fake, wire := withLine(t, lineToken)
		e := newEnv(t, db, wire)
		agent := e.token(t, e.operator(t, "agent", chat.RoleAgent))
		c := storetest.Customer(t, db)
		for _, id := range []string{"2001", "2002", "2003", "2004", "2005", "2006", "2007", "2008"} {
			fake.SetContent(id, "image/png", []byte("png"))
		}
		img := e.customerMessage(t, c, chat.Incoming, "image", "[Image]", media("2001"))

		// Authentication first, for any id.
		e.call(t, "GET", contentPath(img.ID), "", nil).expectError(t, 401, "auth_missing_token")
		e.call(t, "GET", contentPath(img.ID), "garbage", nil).expectError(t, 401, "auth_invalid_token")
		e.call(t, "GET", contentPath(999999), "", nil).expectError(t, 401, "auth_missing_token")

		for _, id := range []string{"abc", "0", "-3", "1.5", "99999999999999999999"} {
			e.call(t, "GET", lc+"messages/"+id+"/content", agent, nil).expectError(t, 400, "validation_error", "id")
		}

		notMedia := map[string]chat.Message{
			"unknown id":           {ID: img.ID + 1000},
			"text":                 e.customerMessage(t, c, chat.Incoming, "text", "hi", media("2002")),
			"sticker":              e.customerMessage(t, c, chat.Incoming, "sticker", "[Sticker 1/2]", media("2003", "package_id", "1", "sticker_id", "2")),
			"location":             e.customerMessage(t, c, chat.Incoming, "location", "[Location] x", media("2004")),
			"outgoing image":       e.customerMessage(t, c, chat.Outgoing, "image", "[Image]", media("2005")),
			"no payload":           e.customerMessage(t, c, chat.Incoming, "image", "[Image]", nil),
			"no line id":           e.customerMessage(t, c, chat.Incoming, "image", "[Image]", map[string]any{"content_provider": "line"}),
			"empty line id":        e.customerMessage(t, c, chat.Incoming, "video", "[Video]", media("")),
			"line id not a string": e.customerMessage(t, c, chat.Incoming, "audio", "[Audio]", map[string]any{"line_message_id": 2006}),
			"external content": e.customerMessage(t, c, chat.Incoming, "image", "[Image]",
				media("2007", "content_provider", "external", "original_content_url", "https://example.com/a.png")),
			"unsent image": e.unsent(t, e.customerMessage(t, c, chat.Incoming, "image", "[Image]", media("2008"))),
		}
		for name, m := range notMedia {
			t.Run(name, func(t *testing.T) {
				e.call(t, "GET", contentPath(m.ID), agent, nil).expectError(t, 404, "not_found")
			})
		}
		// None of those reached LINE.
		if rs := fake.Requests(linefake.Content); len(rs) != 0 {
			t.Errorf("LINE asked %d times for refused messages: %+v", len(rs), rs)
		}
		// Other methods are not routes.
		e.call(t, "POST", contentPath(img.ID), agent, nil).expectError(t, 405, "invalid_request")
	})
}

// unsent has the customer unsend m (LINE unsend) and returns it.
func (e *env) unsent(t *testing.T, m chat.Message) chat.Message {
	t.Helper()
	var p struct {
		ID string `json:"line_message_id"`
	}
	if err := json.Unmarshal(m.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Unsend(context.Background(), m.LineUserID, p.ID); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMediaLineFailures(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fake, wire := withLine(t, lineToken)
		e := newEnv(t, db, wire)
		agent := e.token(t, e.operator(t, "agent", chat.RoleAgent))
		c := storetest.Customer(t, db)
		gone := e.customerMessage(t, c, chat.Incoming, "image", "[Image]", media("3001")) // LINE has no content
		img := e.customerMessage(t, c, chat.Incoming, "image", "[Image]", media("3002"))
		fake.SetContent("3002", "image/png", []byte("png"))

		m := e.call(t, "GET", contentPath(gone.ID), agent, nil).expectError(t, 404, "not_found")
		if m["message"] != fmt.Sprintf("The content of message %d is no longer available from LINE", gone.ID) {
			t.Errorf("LINE 404 message %q", m["message"])
		}

		for _, f := range []struct {
			name  string
			fault linefake.Fault
		}{
			{"500", linefake.Status(500)},
			{"503", linefake.Status(503)},
			{"429", linefake.TooManyRequests(time.Second)},
			{"400", linefake.Status(400)},
			{"timeout", linefake.Timeout()},
		} {
			t.Run(f.name, func(t *testing.T) {
				fake.FailNext(linefake.Content, f.fault)
				r := e.call(t, "GET", contentPath(img.ID), agent, nil)
				r.expectError(t, 502, "unavailable")
				if cc := r.Header.Get("Cache-Control"); cc == "private, max-age=300" {
					t.Errorf("an error is cacheable: %q", cc)
				}
			})
		}
		// LINE recovered: the same message streams.
		e.call(t, "GET", contentPath(img.ID), agent, nil).expectMedia(t, []byte("png"), "image/png", "inline")
	})
}

func TestMediaWrongOrNoToken(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := storetest.Customer(t, db)

		// No channel token: 503, and LINE is not asked.
		fake, wire := withLine(t, "")
		e := newEnv(t, db, wire)
		agent := e.token(t, e.operator(t, "agent", chat.RoleAgent))
		img := e.customerMessage(t, c, chat.Incoming, "image", "[Image]", media("4001"))
		fake.SetContent("4001", "image/png", []byte("png"))
		m := e.call(t, "GET", contentPath(img.ID), agent, nil).expectError(t, 503, "unavailable")
		if m["message"] != "LINE channel token not configured: customer media cannot be fetched" {
			t.Errorf("503 message %q", m["message"])
		}
		if rs := fake.Requests(); len(rs) != 0 {
			t.Errorf("LINE asked without a token: %+v", rs)
		}

		// A token LINE refuses (401) is LINE failing us: 502.
		fake2, wire2 := withLine(t, "revoked-token")
		e2 := newEnv(t, db, wire2)
		fake2.SetContent("4001", "image/png", []byte("png"))
		e2.call(t, "GET", contentPath(img.ID), e2.token(t, e2.operator(t, "agent2", chat.RoleAgent)), nil).expectError(t, 502, "unavailable")
	})
}

func TestMediaNotWired(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		agent := e.token(t, e.operator(t, "agent", chat.RoleAgent))
		c := storetest.Customer(t, db)
		img := e.customerMessage(t, c, chat.Incoming, "image", "[Image]", media("5001"))
		e.call(t, "GET", contentPath(img.ID), agent, nil).expectError(t, 404, "not_found")
	})
}

// pipeContent is a LINE whose content the test writes as it goes.
type pipeContent struct {
	mu    sync.Mutex
	pipes map[string]*io.PipeWriter
	ready chan string
}

func newPipeContent() *pipeContent {
	return &pipeContent{pipes: map[string]*io.PipeWriter{}, ready: make(chan string, 10)}
}

func (p *pipeContent) Content(_ context.Context, id string) (io.ReadCloser, string, error) {
	r, w := io.Pipe()
	p.mu.Lock()
	p.pipes[id] = w
	p.mu.Unlock()
	p.ready <- id
	return r, "video/mp4", nil
}

// Preview is not what these tests stream.
func (p *pipeContent) Preview(context.Context, string) (io.ReadCloser, string, error) {
	return nil, "", &line.APIError{Status: http.StatusNotFound}
}

func (p *pipeContent) writer(t testing.TB, id string) *io.PipeWriter {
	t.Helper()
	select {
	case got := <-p.ready:
		if got != id {
			t.Fatalf("fetched %q, want %q", got, id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("content never fetched")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pipes[id]
}

// open starts a GET of the content; the response arrives on the channel
// once its headers do, with the body unread.
func (e *env) open(id int64, token string) <-chan *http.Response {
	out := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest("GET", e.srv.URL+contentPath(id), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := e.srv.Client().Do(req)
		if err != nil {
			close(out)
			return
		}
		out <- res
	}()
	return out
}

// headers waits for a response started by open.
func headers(t testing.TB, ch <-chan *http.Response) *http.Response {
	t.Helper()
	select {
	case res, ok := <-ch:
		if !ok {
			t.Fatal("request failed")
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	case <-time.After(10 * time.Second):
		t.Fatal("no response headers")
	}
	return nil
}

// The body is relayed as it arrives, never gathered first: the client reads
// the first chunk while LINE has not finished sending, and a body over the
// limit or a LINE failure mid-stream breaks the transfer instead of ending
// it like a complete file.
func TestMediaStreamsWithoutBuffering(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		upstream := newPipeContent()
		e := newEnv(t, db, func(d *rest.Deps) { d.Media = upstream; d.MediaMaxBytes = 100 << 10 })
		agent := e.token(t, e.operator(t, "agent", chat.RoleAgent))
		c := storetest.Customer(t, db)
		whole := e.customerMessage(t, c, chat.Incoming, "video", "[Video]", media("6001"))
		over := e.customerMessage(t, c, chat.Incoming, "video", "[Video]", media("6002"))
		broken := e.customerMessage(t, c, chat.Incoming, "video", "[Video]", media("6003"))

		// The first chunk reaches the client while the upstream stays open.
		first, second := randomBytes(t, 100), randomBytes(t, 50_000)
		pending := e.open(whole.ID, agent)
		w := upstream.writer(t, "6001")
		if _, err := w.Write(first); err != nil {
			t.Fatal(err)
		}
		res := headers(t, pending)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "video/mp4" {
			t.Fatalf("status %d type %q", res.StatusCode, res.Header.Get("Content-Type"))
		}
		buf := make([]byte, len(first))
		if _, err := io.ReadFull(res.Body, buf); err != nil || !bytes.Equal(buf, first) {
			t.Fatalf("first chunk before the upstream finished: %v", err)
		}
		go func(w *io.PipeWriter) { _, _ = w.Write(second); _ = w.Close() }(w)
		tail, err := io.ReadAll(res.Body)
		if err != nil || !bytes.Equal(tail, second) {
			t.Fatalf("rest of the body: %d bytes, err %v", len(tail), err)
		}

		// Over the limit after the headers went out: the transfer breaks.
		pending = e.open(over.ID, agent)
		w = upstream.writer(t, "6002")
		chunks := make([][]byte, 20) // 200 KB, twice the limit
		for i := range chunks {
			chunks[i] = randomBytes(t, 10_000)
		}
		go func(w *io.PipeWriter) {
			for _, c := range chunks {
				if _, err := w.Write(c); err != nil {
					return
				}
			}
			_ = w.Close()
		}(w)
		res = headers(t, pending)
		n, err := io.Copy(io.Discard, res.Body)
		if err == nil || n > 100<<10 {
			t.Errorf("over the limit: read %d bytes, err %v; want a broken transfer within the limit", n, err)
		}

		// LINE fails mid-stream: the transfer breaks too.
		pending = e.open(broken.ID, agent)
		w = upstream.writer(t, "6003")
		if _, err := w.Write(randomBytes(t, 5000)); err != nil {
			t.Fatal(err)
		}
		res = headers(t, pending)
		if _, err := io.ReadFull(res.Body, make([]byte, 5000)); err != nil {
			t.Fatal(err)
		}
		_ = w.CloseWithError(errors.New("connection reset by LINE"))
		if _, err := io.ReadAll(res.Body); err == nil {
			t.Error("a failed upstream ended like a complete file")
		}
	})
}

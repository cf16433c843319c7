package ws

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// gorilla writes every frame with its own net.Conn.Write. batchConn sits
// under it (ServeHTTP hands it to gorilla through the hijack): while the
// writer drains its queue it holds the frames in a buffer and flush
// writes them with one syscall; otherwise every write goes straight
// through. The lock orders the reader's control frames (pongs, the close
// reply), which gorilla may write at any time, with the writer's batch.
// Close does not take it: it must unblock a write stuck on a full socket.
type batchConn struct {
	net.Conn

	// The reader waits for a frame with a 1-byte read (awaitByte) and hands
	// the byte back to gorilla's next Read. Only the reader and the frame
	// goroutine it waits for read, one after the other.
	peek   [1]byte
	peeked bool

	mu       sync.Mutex
	holding  bool
	buf      *[]byte   // while holding, from batchBufs
	deadline time.Time // the write deadline gorilla set last
	applied  time.Time // the one set on the socket
	err      error     // the first failed write: every later one fails too
}

// flushAt is the batch size that is written out while the writer still has
// frames to go, so a burst of large frames is not copied into one huge buffer.
const flushAt = 32 << 10

// batchBufs holds the batch buffers: a socket has one only while it writes.
var batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

func (c *batchConn) Read(p []byte) (int, error) {
	if c.peeked && len(p) > 0 {
		p[0], c.peeked = c.peek[0], false
		return 1, nil
	}
	return c.Conn.Read(p)
}

// awaitByte blocks until the peer sends something (or the read deadline
// passes) and keeps the byte for the next Read. It is a shallow place for
// an idle socket's reader to wait in: its stack stays small.
func (c *batchConn) awaitByte() error {
	if c.peeked {
		return nil
	}
	n, err := c.Conn.Read(c.peek[:])
	if n == 1 {
		c.peeked = true
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.holding {
		*c.buf = append(*c.buf, p...)
		return len(p), nil
	}
	return c.writeLocked(p, c.deadline)
}

func (c *batchConn) writeLocked(p []byte, deadline time.Time) (int, error) {
	if !deadline.Equal(c.applied) {
		if err := c.Conn.SetWriteDeadline(deadline); err != nil {
			c.err = err
			return 0, err
		}
		c.applied = deadline
	}
	n, err := c.Conn.Write(p)
	if err != nil {
		c.err = err
	}
	return n, err
}

// SetWriteDeadline takes effect at the next write to the socket: gorilla
// sets one before every frame, which must not move the deadline of a batch
// being flushed.
func (c *batchConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return nil
}

func (c *batchConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline, c.applied = t, t
	return c.Conn.SetDeadline(t)
}

// hold starts a batch: writes are buffered until flush.
func (c *batchConn) hold() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holding = true
	if c.buf == nil {
		c.buf = batchBufs.Get().(*[]byte)
	}
}

// buffered is the size of the batch so far.
func (c *batchConn) buffered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		return 0
	}
	return len(*c.buf)
}

// flush ends the batch: it writes what was buffered in one syscall, by
// deadline, and gives the buffer back.
func (c *batchConn) flush(deadline time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holding = false
	buf := c.buf
	c.buf = nil
	if buf == nil {
		return c.err
	}
	defer func() {
		if cap(*buf) <= 64<<10 { // a rare huge batch is not kept
			*buf = (*buf)[:0]
			batchBufs.Put(buf)
		}
	}()
	if c.err != nil || len(*buf) == 0 {
		return c.err
	}
	_, err := c.writeLocked(*buf, deadline)
	return err
}

// readBufferSize is a socket's read buffer, which it keeps for life: small,
// as client frames are (a larger frame is read past it, not through it).
// gorilla takes a hijacked reader only when it is over 256 bytes.
const readBufferSize = 512

// hijacker hands gorilla a batchConn instead of the raw connection, and a
// read buffer of ours, whose Buffered tells the reader when a frame is
// already there without waiting on the socket.
type hijacker struct {
	http.ResponseWriter
	conn *batchConn
	br   *bufio.Reader
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &batchConn{Conn: nc}
	if brw.Reader.Buffered() > 0 { // gorilla refuses a client that sent data before the handshake ended
		return h.conn, brw, nil
	}
	h.br = bufio.NewReaderSize(h.conn, readBufferSize)
	return h.conn, bufio.NewReadWriter(h.br, brw.Writer), nil
}

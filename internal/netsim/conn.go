// Package netsim simulates wide-area network conditions on real net.Conn
// connections: latency, loss (modelled as retransmission delay) and
// black-hole partitions, full or one-way.
//
// Two callers import it. internal/testcluster, the in-process multi-region
// harness, builds one Network, registers every node's listening address and
// gives each node Network.Dialer(node) as its peer dialer; it then changes link
// conditions while the test runs. The CLI's `meridian up --wan realistic`
// wraps each real peer TCP connection a process dials with Delay. Engines and
// API adapters must not import it.
//
// The wrappers behave like a real TCP net.Conn for crypto/tls and gRPC: read
// and write deadlines (os.ErrDeadlineExceeded, a net.Error whose Timeout is
// true), Close unblocking pending reads and writes with net.ErrClosed, and the
// underlying LocalAddr and RemoteAddr. Only one end of a connection needs to
// be wrapped: the wrapper delays both what it writes and what it reads.
//
// Time is wall-clock time, because the connections are real sockets whose
// deadlines run on it; randomness comes from the Network's seeded source.
package netsim

import (
	"net"
	"os"
	"sync"
	"time"
)

const (
	// maxQueued bounds the bytes buffered per direction. A Write blocks
	// (backpressure, like a full socket send buffer) once this much is
	// queued; the read side stops reading the socket, so TCP flow control
	// pushes back on the peer.
	maxQueued = 4 << 20
	// maxChunk is the largest piece one queued write chunk holds.
	maxChunk = 64 << 10
	// readBufSize is the size of one read from the underlying conn.
	readBufSize = 32 << 10
	// lossPenalty is the extra hold of a chunk that is "lost": roughly one
	// TCP retransmission timeout.
	lossPenalty = 200 * time.Millisecond
	// lingerMax bounds how long a closed conn keeps flushing bytes queued
	// before Close, like a kernel flushing a closed socket's send buffer.
	lingerMax = 2 * time.Second
)

// condition is the state of one direction of a link at one moment.
type condition struct {
	delay time.Duration // one-way latency
	loss  float64       // probability that a chunk is held an extra lossPenalty
	// cutAt is non-zero while the direction is black-holed, and is when the
	// cut started.
	cutAt time.Time
	// lastCut and lastHeal delimit the most recent cut that has healed.
	lastCut, lastHeal time.Time
}

// deliverAt reports when a chunk that entered the direction at arrived (with
// its own extra loss hold) reaches the other side, or ok=false while it is
// held by a black hole.
//
// A chunk that would have landed before a cut started is unaffected. A chunk
// still in flight when a cut started is held; once the cut heals it arrives one
// delay after the heal, as a TCP retransmission does when the path returns.
func (c condition) deliverAt(arrived time.Time, extra time.Duration) (at time.Time, ok bool) {
	at = arrived.Add(c.delay + extra)
	if !c.cutAt.IsZero() {
		if at.After(c.cutAt) {
			return time.Time{}, false
		}
		return at, true
	}
	if !c.lastHeal.IsZero() && at.After(c.lastCut) && arrived.Before(c.lastHeal) {
		if r := c.lastHeal.Add(c.delay); r.After(at) {
			at = r
		}
	}
	return at, true
}

// path is one direction of a wrapped connection.
type path interface {
	// condition returns the direction's current condition and a channel that
	// is closed when any condition may have changed (nil if it never does).
	condition() (condition, <-chan struct{})
	// lost draws whether one chunk is lost under loss probability p.
	lost(p float64) bool
}

// fixedPath is a direction with a constant delay and nothing else.
type fixedPath struct{ delay time.Duration }

func (f fixedPath) condition() (condition, <-chan struct{}) {
	return condition{delay: f.delay}, nil
}

func (fixedPath) lost(float64) bool { return false }

// chunk is a run of bytes (or, on the read side, a terminal error of the
// underlying conn) in one direction's queue.
type chunk struct {
	data    []byte
	err     error
	arrived time.Time
	extra   time.Duration
}

// queue is one direction's FIFO. Its fields are guarded by the owning
// conn's mutex.
type queue struct {
	path     path
	chunks   []chunk
	bytes    int
	deadline time.Time
	// wake is closed and replaced whenever the queue, its deadline or the
	// conn's closed state changes.
	wake chan struct{}
}

func newQueue(p path) queue {
	return queue{path: p, wake: make(chan struct{})}
}

func (q *queue) broadcast() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// push appends a chunk, drawing its loss hold from the path's current loss.
func (q *queue) push(ch chunk) {
	if ch.err == nil {
		if cond, _ := q.path.condition(); cond.loss > 0 && q.path.lost(cond.loss) {
			ch.extra = lossPenalty
		}
	}
	q.chunks = append(q.chunks, ch)
	q.bytes += len(ch.data)
	q.broadcast()
}

func (q *queue) pop() chunk {
	ch := q.chunks[0]
	q.chunks[0] = chunk{}
	q.chunks = q.chunks[1:]
	q.bytes -= len(ch.data)
	q.broadcast()
	return ch
}

// head reports when the first chunk may be delivered. ok is false while it is
// held by a black hole; changed fires when conditions change.
func (q *queue) head() (at time.Time, ok bool, changed <-chan struct{}) {
	cond, changed := q.path.condition()
	h := q.chunks[0]
	at, ok = cond.deliverAt(h.arrived, h.extra)
	return at, ok, changed
}

// conn is a net.Conn whose two directions pass through queues that deliver
// each chunk when its path's conditions allow.
type conn struct {
	under net.Conn

	mu sync.Mutex
	wq queue // bytes written by the application, on their way to the peer
	rq queue // bytes read from the peer, on their way to the application
	// werr is the first error of writing the underlying conn.
	werr error
	// writing is true while the writer goroutine is inside under.Write.
	writing bool
	// writerDone is true once the writer goroutine has exited.
	writerDone bool
	closed     bool
	// lingering is true if Close left closing the underlying conn to the
	// writer goroutine, which flushes queued bytes first until lingerEnd.
	lingering bool
	lingerEnd time.Time
	// running counts live goroutines; stopped is closed when it reaches 0.
	running int
	stopped chan struct{}
}

// Delay wraps c so that every byte written reaches the peer oneWay later and
// every byte read is delivered oneWay after it arrived: a request/response
// through the wrapped end sees an extra 2*oneWay, the round-trip time.
//
// Throughput is not throttled: Write copies the buffer and returns once it is
// queued, and each queued chunk leaves at its own due time, in order. About
// 4 MiB may be queued per direction before Write blocks. Close returns at once:
// bytes already written are still flushed at their due times (for at most two
// seconds, like a kernel flushing a closed socket) and then the underlying
// conn is closed. An error writing the underlying conn is returned by a later
// Write or Close. If oneWay <= 0, Delay returns c unchanged.
func Delay(c net.Conn, oneWay time.Duration) net.Conn {
	if oneWay <= 0 {
		return c
	}
	return newConn(c, fixedPath{delay: oneWay}, fixedPath{delay: oneWay})
}

// newConn wraps under; out is the direction of its writes, in of its reads.
// It starts one goroutine per direction; both exit once the conn is closed
// (the writer after its linger) or the underlying conn fails.
func newConn(under net.Conn, out, in path) *conn {
	c := &conn{
		under:   under,
		wq:      newQueue(out),
		rq:      newQueue(in),
		running: 2,
		stopped: make(chan struct{}),
	}
	go c.readLoop()
	go c.writeLoop()
	return c
}

var _ net.Conn = (*conn)(nil)

// exit records that one of the conn's goroutines has returned. c.mu is held.
func (c *conn) exit() {
	c.running--
	if c.running == 0 {
		close(c.stopped)
	}
}

// wait releases c.mu until q changes, changed fires or until passes.
func (c *conn) wait(q *queue, until time.Time, changed <-chan struct{}) {
	wake := q.wake
	c.mu.Unlock()
	defer c.mu.Lock()
	var timeout <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-wake:
	case <-changed:
	case <-timeout:
	}
}

// earliest returns the earlier of two times, where zero means never.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	default:
		return b
	}
}

func (c *conn) opError(op string, err error) error {
	return &net.OpError{
		Op:     op,
		Net:    c.under.LocalAddr().Network(),
		Source: c.under.LocalAddr(),
		Addr:   c.under.RemoteAddr(),
		Err:    err,
	}
}

// readLoop moves bytes from the underlying conn into the read queue, stamped
// with their arrival time. It exits on a read error (queued for the
// application after the data before it) or once the conn is closed.
func (c *conn) readLoop() {
	buf := make([]byte, readBufSize)
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.exit()
	for {
		for !c.closed && c.rq.bytes >= maxQueued {
			c.wait(&c.rq, time.Time{}, nil)
		}
		if c.closed {
			return
		}
		c.mu.Unlock()
		n, err := c.under.Read(buf)
		now := time.Now()
		c.mu.Lock()
		if c.closed {
			return
		}
		if n > 0 {
			c.rq.push(chunk{data: append([]byte(nil), buf[:n]...), arrived: now})
		}
		if err != nil {
			c.rq.push(chunk{err: err, arrived: now})
			return
		}
	}
}

// writeLoop writes each queued chunk to the underlying conn at its due time.
// It exits on a write error (kept in werr, the queue dropped) or once the conn
// is closed and the queue is flushed, abandoned because the path is
// black-holed, or past the linger limit.
func (c *conn) writeLoop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.exit()
	q := &c.wq
	for c.werr == nil {
		now := time.Now()
		if c.closed && (len(q.chunks) == 0 || !now.Before(c.lingerEnd)) {
			break
		}
		if len(q.chunks) == 0 {
			c.wait(q, time.Time{}, nil)
			continue
		}
		at, ok, changed := q.head()
		if !ok && c.closed {
			break
		}
		if !ok || now.Before(at) {
			until := at
			if c.closed {
				until = earliest(until, c.lingerEnd)
			}
			c.wait(q, until, changed)
			continue
		}
		ch := q.pop()
		c.writing = true
		c.mu.Unlock()
		_, err := c.under.Write(ch.data)
		c.mu.Lock()
		c.writing = false
		if err != nil {
			c.werr = err
		}
	}
	c.writerDone = true
	for len(q.chunks) > 0 {
		q.pop()
	}
	if c.lingering {
		// Close left the underlying conn to us; nobody reads its result.
		_ = c.under.Close()
	}
}

// Read returns bytes whose delivery time has come, waiting for them until the
// read deadline or Close. A read error of the underlying conn (io.EOF for a
// clean close by the peer) is returned after the bytes before it, and with the
// same delay.
func (c *conn) Read(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := &c.rq
	for {
		if c.closed {
			return 0, c.opError("read", net.ErrClosed)
		}
		if len(b) == 0 {
			return 0, nil
		}
		now := time.Now()
		if !q.deadline.IsZero() && !now.Before(q.deadline) {
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		}
		var until time.Time
		var changed <-chan struct{}
		if len(q.chunks) > 0 {
			var at time.Time
			var ok bool
			at, ok, changed = q.head()
			if ok && !now.Before(at) {
				return c.take(b, now)
			}
			if ok {
				until = at
			}
		}
		c.wait(q, earliest(until, q.deadline), changed)
	}
}

// take copies due bytes into b. The first chunk is due. c.mu is held.
func (c *conn) take(b []byte, now time.Time) (int, error) {
	q := &c.rq
	n := 0
	for n < len(b) && len(q.chunks) > 0 {
		if n > 0 {
			if at, ok, _ := q.head(); !ok || now.Before(at) {
				break
			}
		}
		h := &q.chunks[0]
		if h.err != nil {
			if n == 0 {
				return 0, h.err // left queued: later reads fail the same way
			}
			break
		}
		m := copy(b[n:], h.data)
		n += m
		if m < len(h.data) {
			h.data = h.data[m:]
			q.bytes -= m
			q.broadcast()
			break
		}
		q.pop()
	}
	return n, nil
}

// Write queues a copy of b and returns once all of it is queued, blocking
// while about 4 MiB is already queued, until the write deadline or Close.
// It returns an earlier error of writing the underlying conn.
func (c *conn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := &c.wq
	n := 0
	for {
		if c.closed {
			return n, c.opError("write", net.ErrClosed)
		}
		if c.werr != nil {
			return n, c.werr
		}
		if n == len(b) {
			return n, nil
		}
		now := time.Now()
		if !q.deadline.IsZero() && !now.Before(q.deadline) {
			return n, c.opError("write", os.ErrDeadlineExceeded)
		}
		if q.bytes < maxQueued {
			m := min(len(b)-n, maxChunk)
			q.push(chunk{data: append([]byte(nil), b[n:n+m]...), arrived: now})
			n += m
			continue
		}
		c.wait(q, q.deadline, nil)
	}
}

// Close unblocks pending reads and writes, which fail with net.ErrClosed, and
// returns at once. Bytes already queued for the peer are flushed at their due
// times, unless the path is black-holed, for at most lingerMax; then the
// underlying conn is closed. Close returns an earlier error of writing the
// underlying conn, or the error of closing it.
func (c *conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opError("close", net.ErrClosed)
	}
	c.closed = true
	c.lingerEnd = time.Now().Add(lingerMax)
	c.lingering = !c.writerDone && (len(c.wq.chunks) > 0 || c.writing)
	lingering, werr := c.lingering, c.werr
	c.rq.broadcast()
	c.wq.broadcast()
	c.mu.Unlock()

	var err error
	if lingering {
		// Stop the reader now and bound a write stuck on a peer that does not
		// read; the writer goroutine closes the conn after its flush. Errors
		// here mean the conn is already closed or has no deadlines; either
		// way the writer's close still ends everything.
		_ = c.under.SetReadDeadline(time.Unix(1, 0))
		_ = c.under.SetWriteDeadline(c.lingerEnd)
	} else {
		err = c.under.Close()
	}
	if werr != nil {
		return werr
	}
	return err
}

// LocalAddr returns the underlying conn's local address.
func (c *conn) LocalAddr() net.Addr { return c.under.LocalAddr() }

// RemoteAddr returns the underlying conn's remote address.
func (c *conn) RemoteAddr() net.Addr { return c.under.RemoteAddr() }

// SetDeadline sets both the read and the write deadline.
func (c *conn) SetDeadline(t time.Time) error {
	return c.setDeadline("set", t, &c.rq, &c.wq)
}

// SetReadDeadline sets the deadline for pending and future Reads.
func (c *conn) SetReadDeadline(t time.Time) error {
	return c.setDeadline("set read", t, &c.rq)
}

// SetWriteDeadline sets the deadline for pending and future Writes, which
// only wait while the write queue is full.
func (c *conn) SetWriteDeadline(t time.Time) error {
	return c.setDeadline("set write", t, &c.wq)
}

func (c *conn) setDeadline(op string, t time.Time, qs ...*queue) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.opError(op, net.ErrClosed)
	}
	for _, q := range qs {
		q.deadline = t
		q.broadcast()
	}
	return nil
}

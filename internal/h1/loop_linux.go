//go:build linux

package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The event loops of loop.go. Each has its own epoll instance, its own
// copy of the listening socket (registered EPOLLEXCLUSIVE, so that a new
// connection wakes one loop), its client connections and its idle upstream
// connections; nothing is shared between loops but the Server and the
// Proxy. Sockets are registered edge-triggered, for output only while a
// write waits, so that no epoll_ctl is made per request; a loop reads until
// a read comes back short (or EAGAIN) and remembers what it left unread.
// Deadlines are checked by a sweep every sweepEvery.

const (
	sweepEvery = 100 * time.Millisecond
	// maxOut is how much of an answer waits for a slow client before the
	// loop stops reading the upstream (backpressure).
	maxOut = 256 << 10
	// maxLoopHead is the longest request head a loop takes; longer ones
	// go to the goroutine server, which holds them to MaxHeaderBytes.
	// (Its own fast path sees no longer ones either: its buffer's size.)
	maxLoopHead = 4096
	// maxIn bounds what is read ahead of a client (pipelined requests).
	maxIn = 64 << 10
	// maxUpHead bounds an upstream's answer head.
	maxUpHead = 64 << 10
)

type evLoop struct {
	s     *Server
	proxy Proxy
	epfd  int
	// wake is an eventfd for Shutdown's nudge and posted aborts; wakeMu
	// orders nudges before its closing.
	wake   int
	wakeMu sync.Mutex
	postMu sync.Mutex
	posts  []abortPost
	lfd    int // this loop's copy of the listener; -1 once closed
	lpaus  time.Time
	state  *atomic.Int32
	done   chan struct{}

	files   []evSlot // by descriptor
	gen     int32    // the last registration's number
	clients map[*evConn]struct{}
	ups     map[*evUp]struct{}
	idle    map[*Pool][]*evUp
	addrs   map[*Pool]unix.Sockaddr
	base    *http.Request

	now       time.Time
	nextSweep time.Time
	draining  bool
	events    [128]unix.EpollEvent
}

// evFile is a socket of the loop.
type evFile interface {
	event(ev uint32)
}

// evSlot is a registered socket with its registration's number, which its
// events carry: an event still in a batch for a socket closed earlier in
// the batch is not given to a new socket that got the same descriptor.
type evSlot struct {
	f   evFile
	gen int32
}

// serveLoops serves ln on event loops when it can: ln is TCP and the
// Server has a Proxy. It reports false when it did not.
func (s *Server) serveLoops(ln net.Listener) (bool, error) {
	tl, ok := ln.(*net.TCPListener)
	if !ok || s.Proxy == nil {
		return false, nil
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return false, nil
	}
	n := s.Loops
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	state := new(atomic.Int32)
	var loops []*evLoop
	fail := func(err error) (bool, error) {
		for _, l := range loops {
			l.closeFDs()
		}
		return true, err
	}
	for range n {
		l := &evLoop{s: s, proxy: s.Proxy, lfd: -1, epfd: -1, wake: -1, state: state, done: make(chan struct{}),
			clients: map[*evConn]struct{}{}, ups: map[*evUp]struct{}{},
			idle: map[*Pool][]*evUp{}, addrs: map[*Pool]unix.Sockaddr{}, base: baseRequest(context.Background())}
		loops = append(loops, l)
		var derr error
		if cerr := rc.Control(func(fd uintptr) { l.lfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); cerr != nil {
			derr = cerr
		}
		if derr != nil {
			l.lfd = -1
			return fail(os.NewSyscallError("dup", derr))
		}
		if l.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
			l.epfd = -1
			return fail(os.NewSyscallError("epoll_create1", err))
		}
		if l.wake, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
			l.wake = -1
			return fail(os.NewSyscallError("eventfd", err))
		}
		if err := l.add(l.wake, unix.EPOLLIN, nil); err != nil {
			return fail(err)
		}
		if err := l.armListener(); err != nil {
			return fail(err)
		}
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return fail(nil)
	}
	s.loops = append(s.loops, loops...)
	s.loopState = state
	s.wg.Add(len(loops))
	s.mu.Unlock()
	for _, l := range loops {
		go l.run()
	}
	for _, l := range loops {
		<-l.done
	}
	return true, nil
}

// nudge tells the loop to look at its state.
func (l *evLoop) nudge() {
	l.wakeMu.Lock()
	defer l.wakeMu.Unlock()
	if l.wake >= 0 {
		var one = [8]byte{1}
		_, _ = unix.Write(l.wake, one[:])
	}
}

func (l *evLoop) add(fd int, events uint32, f evFile) error {
	var gen int32 // (0 for the listener and the eventfd, known by descriptor)
	if f != nil {
		if l.gen++; l.gen <= 0 {
			l.gen = 1
		}
		gen = l.gen
	}
	ev := unix.EpollEvent{Events: events, Fd: int32(fd), Pad: gen} //nolint:gosec // G115: a descriptor fits
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	if f != nil {
		for fd >= len(l.files) {
			l.files = append(l.files, make([]evSlot, len(l.files)+64)...)
		}
		l.files[fd] = evSlot{f, gen}
	}
	return nil
}

// Sockets are registered for input, and for output only while a write
// waits for room (or a connection is being made): a socket registered for
// output reports every ACK that frees room in its send buffer.
const (
	evRead      = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET
	evReadWrite = evRead | unix.EPOLLOUT
)

func (l *evLoop) mod(fd int, events uint32) {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd), Pad: l.files[fd].gen} //nolint:gosec // G115: a descriptor fits
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
}

// forget unregisters fd and closes it.
func (l *evLoop) forget(fd int) {
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	if fd < len(l.files) {
		l.files[fd] = evSlot{}
	}
	_ = unix.Close(fd)
}

func (l *evLoop) armListener() error {
	return l.add(l.lfd, unix.EPOLLIN|unix.EPOLLEXCLUSIVE, nil)
}

func (l *evLoop) closeFDs() {
	l.wakeMu.Lock()
	defer l.wakeMu.Unlock()
	for _, fd := range []int{l.lfd, l.wake, l.epfd} {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}
	l.lfd, l.wake, l.epfd = -1, -1, -1
}

func (l *evLoop) run() {
	runtime.LockOSThread()
	defer func() {
		for c := range l.clients {
			l.closeClient(c)
		}
		for up := range l.ups {
			l.closeUp(up)
		}
		l.closeFDs()
		l.s.wg.Done()
		close(l.done)
	}()
	for {
		l.now = time.Now()
		switch l.state.Load() {
		case loopStop:
			return
		case loopDrain:
			if !l.draining {
				l.drain()
			}
			if len(l.clients) == 0 {
				return
			}
		}
		timeout := -1
		if len(l.clients) > 0 || len(l.ups) > 0 || !l.lpaus.IsZero() {
			if l.nextSweep.IsZero() {
				l.nextSweep = l.now.Add(sweepEvery)
			}
			timeout = int(max(l.nextSweep.Sub(l.now), 0)/time.Millisecond) + 1
		}
		// A wait that returns at once (as under load) is made without
		// telling the runtime; one that may block is made as a blocking
		// system call, which lets the runtime run others meanwhile.
		n, err := pollNow(l.epfd, l.events[:])
		if n == 0 && err == nil && timeout != 0 {
			n, err = unix.EpollWait(l.epfd, l.events[:], timeout)
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			l.s.Logger.Error("event loop stopped", "err", os.NewSyscallError("epoll_wait", err))
			return
		}
		l.now = time.Now()
		for _, ev := range l.events[:max(n, 0)] {
			fd := int(ev.Fd)
			switch {
			case fd == l.lfd:
				l.accept()
			case fd == l.wake:
				var b [8]byte
				_, _ = unix.Read(l.wake, b[:])
				l.takePosts()
			case fd < len(l.files) && l.files[fd].f != nil && l.files[fd].gen == ev.Pad:
				l.files[fd].f.event(ev.Events)
			}
		}
		if !l.nextSweep.IsZero() && !l.now.Before(l.nextSweep) {
			l.sweep()
			l.nextSweep = time.Time{}
		}
	}
}

// accept takes the connections waiting on the listener.
func (l *evLoop) accept() {
	for range 64 {
		fd, sa, err := unix.Accept4(l.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch {
		case err == nil:
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.ECONNABORTED), errors.Is(err, unix.EINTR):
			return
		default:
			// Out of descriptors or memory: stop listening for a while
			// (the listener is level-triggered and would wake the loop
			// again at once).
			l.s.limit.Log("accept_error", "accepting a connection failed", "err", os.NewSyscallError("accept4", err), "retry_in", sweepEvery)
			_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, l.lfd, nil)
			l.lpaus = l.now.Add(sweepEvery)
			return
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15)
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 15)
		c := &evConn{l: l, fd: fd, remote: sockaddrString(sa), in: make([]byte, 0, 4096), writable: true}
		if err := l.add(fd, evRead, c); err != nil {
			_ = unix.Close(fd)
			l.s.limit.Log("accept_error", "registering a connection failed", "err", err)
			continue
		}
		l.clients[c] = struct{}{}
		c.setDeadline(dlFirst, l.s.ReadHeaderTimeout)
	}
}

func sockaddrString(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)).String() //nolint:gosec // G115: a port fits
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)).String() //nolint:gosec // G115: a port fits
	}
	return ""
}

// drain begins a graceful stop: no more connections; idle ones closed,
// busy ones closed after their answer.
func (l *evLoop) drain() {
	l.draining = true
	if l.lfd >= 0 {
		l.forget(l.lfd)
		l.lfd = -1
	}
	for c := range l.clients {
		if c.x == nil && len(c.out) == 0 {
			l.closeClient(c)
		} else {
			c.closeAfter = true
		}
	}
}

// sweep enforces the deadlines.
func (l *evLoop) sweep() {
	now := l.now
	if !l.lpaus.IsZero() && !now.Before(l.lpaus) && l.lfd >= 0 {
		l.lpaus = time.Time{}
		if err := l.armListener(); err != nil {
			l.lpaus = now.Add(sweepEvery)
		}
	}
	for c := range l.clients {
		if c.dl == dlNone || now.Before(c.deadline) {
			continue
		}
		switch c.dl {
		case dlFirst:
			if len(c.in) > 0 {
				c.l.s.reject("header_timeout")
				c.l.s.limit.Log("header_timeout", "closed a client connection that did not send its request headers in time", "client", c.remote)
			} else {
				l.s.reject("no_request")
			}
		case dlHeader:
			c.l.s.reject("header_timeout")
			c.l.s.limit.Log("header_timeout", "closed a client connection that did not send its request headers in time", "client", c.remote)
		}
		l.closeClient(c) // (dlIdle, dlWrite: closed without a word)
	}
	for up := range l.ups {
		switch {
		case up.x != nil:
			switch {
			case up.deadline.IsZero() || now.Before(up.deadline):
			case up.connecting:
				l.upFailed(up, &ConnectError{Err: os.NewSyscallError("connect", unix.ETIMEDOUT)})
			default:
				l.upFailed(up, os.ErrDeadlineExceeded)
			}
		case up.pool.IdleTimeout > 0 && now.Sub(up.since) > up.pool.IdleTimeout, up.pool.isClosed():
			l.closeUp(up)
		}
	}
	for pool := range l.addrs {
		if pool.isClosed() {
			delete(l.addrs, pool) // (a deregistered target's: pools come and go)
		}
	}
}

// The loops' sockets are non-blocking, so their reads and writes are
// made as raw system calls: a blocking one (entersyscall) costs its
// bookkeeping, and has the runtime's monitor poll the thread every 20 µs to
// take its P while it is "in a system call" (the first build of the loops
// made ~5,000 nanosleep and ~400 futex calls a second under strace, the
// monitor's and its handoffs'; raw, ~150).

func rawRead(fd int, p []byte) (int, error)  { return rawIO(unix.SYS_READ, fd, p) }
func rawWrite(fd int, p []byte) (int, error) { return rawIO(unix.SYS_WRITE, fd, p) }

func rawIO(trap uintptr, fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p))) //nolint:gosec // G103: the system call takes the buffer's address
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// pollNow is epoll_wait with no wait.
func pollNow(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0) //nolint:gosec // G103: as above
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// Client connections.

// Client deadlines: what a client connection is waiting for.
const (
	dlNone   = iota
	dlFirst  // its first request (ReadHeaderTimeout from the accept)
	dlIdle   // its next request (IdleTimeout)
	dlHeader // the rest of a request's head (ReadHeaderTimeout from its first byte)
	dlWrite  // to take an answer (WriteTimeout from the last progress)
)

type evConn struct {
	l          *evLoop
	fd         int
	remote     string
	in         []byte // read and not yet taken
	headFrom   int    // where scanHead goes on in in
	out        []byte // answer bytes not yet written
	x          *evExchange
	writable   bool // the last write did not hit EAGAIN
	unread     bool // input was left unread (in was full)
	closeAfter bool
	dl         uint8
	deadline   time.Time
}

func (c *evConn) setDeadline(kind uint8, d time.Duration) {
	if d <= 0 {
		kind = dlNone
	}
	c.dl = kind
	if kind != dlNone {
		c.deadline = c.l.now.Add(d)
	}
}

func (c *evConn) event(ev uint32) {
	if ev&unix.EPOLLOUT != 0 && !c.writable {
		c.writable = true
		if !c.flush() {
			return
		}
		if c.writable {
			c.l.mod(c.fd, evRead)
		}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.read(ev)
	}
}

// untilEAGAIN, as read's event, has it read until EAGAIN.
const untilEAGAIN = unix.EPOLLRDHUP

// drained reports whether a read of n bytes into room bytes, after an
// event ev, emptied the socket: a short read did (as nginx takes it, saving
// the read that would fail with EAGAIN; data coming later is another
// edge), unless the event said the peer closed, which only reading on
// shows.
func drained(n, room int, ev uint32) bool {
	return n < room && ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) == 0
}

// read reads what the client sent, then serves it.
func (c *evConn) read(ev uint32) {
	c.unread = false
	for {
		if len(c.in) >= maxIn {
			c.unread = true
			break
		}
		if cap(c.in)-len(c.in) < 512 {
			c.in = append(c.in, make([]byte, cap(c.in))...)[:len(c.in)]
		}
		room := cap(c.in) - len(c.in)
		n, err := rawRead(c.fd, c.in[len(c.in):cap(c.in)])
		if n > 0 {
			c.in = c.in[:len(c.in)+n]
			if drained(n, room, ev) {
				break
			}
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		// The client hung up (or broke the connection): with a request
		// in flight, nobody is left to answer.
		c.l.closeClient(c)
		return
	}
	c.serve()
}

// serve takes the next request in c.in when c is free for one.
func (c *evConn) serve() {
	l := c.l
	if c.x != nil || len(c.out) > 0 || c.closeAfter {
		return
	}
	if len(c.in) == 0 {
		return
	}
	n, next := scanHead(c.in, c.headFrom)
	if n == 0 {
		c.headFrom = next
		if len(c.in) >= maxLoopHead {
			l.handOff(c) // (the server refuses it if it is too large)
			return
		}
		if c.dl == dlIdle || c.dl == dlNone {
			c.setDeadline(dlHeader, l.s.ReadHeaderTimeout)
		}
		return
	}
	if n < 0 || n > maxLoopHead {
		l.handOff(c)
		return
	}
	req := parseRequest(c.in[:n], l.base)
	if req == nil {
		l.handOff(c)
		return
	}
	req.RemoteAddr = c.remote
	x := l.proxy.Exchange(req)
	if x == nil {
		l.handOff(c)
		return
	}
	c.in = c.in[:copy(c.in, c.in[n:])]
	c.headFrom = 0
	c.closeAfter = req.Close || l.draining
	c.dl = dlNone
	ex := &evExchange{c: c, x: x, req: req, idempotent: Idempotent(req.Method)}
	ex.resetAnswer()
	ex.reqBytes = appendBodiless(make([]byte, 0, n+256), req)
	c.x = ex
	l.attempt(ex, nil)
}

// flush writes what waits in c.out; it reports false when c was closed.
// Once c.out is empty it resumes what waited for it.
func (c *evConn) flush() bool {
	for len(c.out) > 0 && c.writable {
		n, err := rawWrite(c.fd, c.out)
		if n > 0 {
			c.out = c.out[:copy(c.out, c.out[n:])]
			if c.dl == dlWrite {
				c.setDeadline(dlWrite, c.l.s.WriteTimeout)
			}
			continue
		}
		switch {
		case errors.Is(err, unix.EAGAIN):
			c.writable = false
			c.l.mod(c.fd, evReadWrite)
			if c.dl != dlWrite {
				c.setDeadline(dlWrite, c.l.s.WriteTimeout)
			}
		case errors.Is(err, unix.EINTR):
		default:
			c.l.closeClient(c)
			return false
		}
	}
	if len(c.out) > 0 {
		return true
	}
	if c.dl == dlWrite {
		c.dl = dlNone
	}
	if cap(c.out) > maxOut {
		c.out = nil
	}
	if ex := c.x; ex != nil {
		if ex.paused {
			ex.paused = false
			if ex.up != nil && ex.up.unread {
				ex.up.read(untilEAGAIN) // (which may end the exchange, even c)
			}
		}
		_, open := c.l.clients[c]
		return open
	}
	if c.closeAfter {
		c.l.closeClient(c)
		return false
	}
	c.setDeadline(dlIdle, c.l.s.IdleTimeout)
	if c.unread {
		c.read(untilEAGAIN)
	} else {
		c.serve()
	}
	return true
}

// closeClient closes c, ending its exchange if it has one.
func (l *evLoop) closeClient(c *evConn) {
	if _, ok := l.clients[c]; !ok {
		return
	}
	delete(l.clients, c)
	l.forget(c.fd)
	if ex := c.x; ex != nil {
		c.x = nil
		if ex.up != nil {
			l.closeUp(ex.up)
			ex.up = nil
		}
		code := 499
		if ex.headSent {
			code = ex.code
		}
		ex.done(code, nil)
	}
}

// handOff gives c, with what was read of it, to the goroutine server.
func (l *evLoop) handOff(c *evConn) {
	delete(l.clients, c)
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	l.files[c.fd] = evSlot{}
	f := os.NewFile(uintptr(c.fd), c.remote)
	conn, err := net.FileConn(f) // (a duplicate of the descriptor)
	_ = f.Close()
	if err != nil {
		l.s.limit.Log("handoff_error", "handing a connection to the server failed", "client", c.remote, "err", err)
		return
	}
	l.s.serveConn(conn, bytes.Clone(c.in))
}

// Exchanges.

type evExchange struct {
	c          *evConn
	x          Exchange
	req        *http.Request
	reqBytes   []byte
	idempotent bool
	att        Attempt
	up         *evUp
	reused     bool

	resp     *http.Response // the answer's head, until taken
	headSeen bool           // resp was read
	holding  bool           // its body is being read before Answer (Attempt.Hold)
	headSent bool           // the answer's head is in c.out
	code     int

	// fallback is the last answer the exchange refused, to send if
	// Failed asks for it; fallbackBody its body (when it was held).
	fallback     *http.Response
	fallbackBody []byte

	noBody     bool // a HEAD request's
	remain     int64
	chunked    bool
	ch         chunkScan
	untilClose bool
	keepUp     bool // the upstream connection may serve again
	paused     bool // waiting for c.out to drain
	ended      bool
}

func (ex *evExchange) done(code int, err error) {
	ex.unwatch()
	if !ex.ended {
		ex.ended = true
		ex.x.Done(code, err)
	}
}

// unwatch ends the attempt's exposure to its Abort.
func (ex *evExchange) unwatch() {
	if ab := ex.att.Abort; ab != nil {
		_ = ab.detach()
	}
}

// resetAnswer forgets what an attempt read of its answer.
func (ex *evExchange) resetAnswer() {
	ex.resp, ex.headSeen, ex.holding = nil, false, false
	ex.noBody = ex.req.Method == http.MethodHead
	ex.chunked, ex.untilClose, ex.remain, ex.ch = false, false, 0, chunkScan{}
}

// An aborted attempt, posted to its loop by the Abort's goroutine.
type abortPost struct {
	ex *evExchange
	ab *Abort
}

// post hands an abort to the loop.
func (l *evLoop) post(ex *evExchange, ab *Abort) {
	l.postMu.Lock()
	l.posts = append(l.posts, abortPost{ex, ab})
	l.postMu.Unlock()
	l.nudge()
}

// takePosts fails the attempts aborted since the last look (those still
// under way).
func (l *evLoop) takePosts() {
	l.postMu.Lock()
	posts := l.posts
	l.posts = nil
	l.postMu.Unlock()
	for _, p := range posts {
		ex := p.ex
		if ex.att.Abort == p.ab && ex.up != nil && !ex.headSent && !ex.ended {
			if cause := p.ab.detach(); cause != nil {
				l.upFailed(ex.up, cause)
			}
		}
	}
}

// attempt sends ex to the upstream Next names after err.
func (l *evLoop) attempt(ex *evExchange, err error) {
	for {
		ex.unwatch()
		ex.att = ex.x.Next(err)
		if ex.att.Pool == nil {
			h := http.Header{}
			plainHeader(h)
			code, msg := ex.x.Failed(h)
			switch {
			case code == 0 && ex.fallback != nil:
				l.relayFallback(ex)
			case code == 0:
				l.answer(ex, h, http.StatusBadGateway, http.StatusText(http.StatusBadGateway))
			default:
				l.answer(ex, h, code, msg)
			}
			return
		}
		if ab := ex.att.Abort; ab != nil && !ab.watch(func() { l.post(ex, ab) }) {
			err = ab.detach()
			continue
		}
		if err = l.send(ex); err == nil {
			return
		}
	}
}

// send writes ex's request on a pooled connection to ex.att.Pool, or a
// new one.
func (l *evLoop) send(ex *evExchange) error {
	pool := ex.att.Pool
	up := l.pooled(pool, !ex.idempotent)
	ex.reused = up != nil
	if up == nil {
		var err error
		if up, err = l.dial(pool); err != nil {
			return err
		}
	}
	up.x, ex.up = ex, up
	up.in = up.in[:0]
	up.headFrom = 0
	up.out = append(up.out[:0], ex.reqBytes...)
	if up.connecting {
		up.deadline = time.Time{}
		t := ex.att.ConnectTimeout
		if t == 0 {
			t = pool.ConnectTimeout
		}
		if t > 0 {
			up.deadline = l.now.Add(t)
		}
		return nil
	}
	up.armHeader()
	up.flush()
	return nil
}

// pooled returns an idle connection to pool, or nil. One for a request
// that cannot be sent again (alive) is checked for having been closed by
// the upstream without the loop hearing of it yet.
func (l *evLoop) pooled(pool *Pool, alive bool) *evUp {
	idle := l.idle[pool]
	for len(idle) > 0 {
		up := idle[len(idle)-1]
		idle[len(idle)-1] = nil
		idle = idle[:len(idle)-1]
		l.idle[pool] = idle
		if pool.IdleTimeout > 0 && l.now.Sub(up.since) > pool.IdleTimeout || alive && !up.alive() {
			l.closeUp(up)
			continue
		}
		return up
	}
	return nil
}

// dial opens a connection to pool's address.
func (l *evLoop) dial(pool *Pool) (*evUp, error) {
	sa, ok := l.addrs[pool]
	if !ok {
		ap, err := netip.ParseAddrPort(pool.Addr)
		if err != nil {
			return nil, &ConnectError{Err: errors.New("event loop: upstream " + strconv.Quote(pool.Addr) + " is not an IP address and port")}
		}
		if ap.Addr().Unmap().Is4() {
			sa = &unix.SockaddrInet4{Addr: ap.Addr().Unmap().As4(), Port: int(ap.Port())}
		} else {
			sa = &unix.SockaddrInet6{Addr: ap.Addr().As16(), Port: int(ap.Port())}
		}
		l.addrs[pool] = sa
	}
	family := unix.AF_INET
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, &ConnectError{Err: os.NewSyscallError("socket", err)}
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 30)
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 30)
	err = unix.Connect(fd, sa)
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		_ = unix.Close(fd)
		return nil, &ConnectError{Err: os.NewSyscallError("connect", err)}
	}
	up := &evUp{l: l, fd: fd, pool: pool, connecting: err != nil, in: make([]byte, 0, 16<<10)}
	if err := l.add(fd, evReadWrite, up); err != nil {
		_ = unix.Close(fd)
		return nil, &ConnectError{Err: err}
	}
	l.ups[up] = struct{}{}
	return up, nil
}

// upFailed ends ex's attempt on up with err: again on a fresh connection
// when a pooled one turned out dead, else on the upstream Next names; or,
// once the answer was taken, the exchange.
func (l *evLoop) upFailed(up *evUp, err error) {
	ex := up.x
	up.x = nil
	l.closeUp(up)
	if ex == nil {
		return
	}
	ex.up = nil
	if ex.headSent {
		c := ex.c
		c.x = nil
		ex.done(ex.code, err)
		l.closeClient(c)
		return
	}
	if ex.headSeen {
		err = &BodyError{Err: err}
	} else if ex.reused && ex.idempotent && isReset(err) {
		if err = l.send(ex); err == nil {
			return
		}
	}
	ex.resetAnswer()
	l.attempt(ex, err)
}

// answer sends the loop's own answer to ex: msg with h.
func (l *evLoop) answer(ex *evExchange, h http.Header, code int, msg string) {
	c := ex.c
	h["Content-Length"] = []string{strconv.Itoa(len(msg) + 1)}
	c.out = appendHead(c.out, code, h, true, false, c.closeAfter, l.s.dateLine())
	if !ex.noBody {
		c.out = append(append(c.out, msg...), '\n')
	}
	ex.code, ex.headSent = code, true
	l.end(ex)
}

// end ends ex, whose answer is in the client's output.
func (l *evLoop) end(ex *evExchange) {
	c := ex.c
	c.x = nil
	ex.done(ex.code, nil)
	c.flush()
}

// Upstream connections.

type evUp struct {
	l          *evLoop
	fd         int
	pool       *Pool
	in         []byte
	headFrom   int
	out        []byte
	x          *evExchange // nil while idle
	connecting bool
	unread     bool // input was left unread (the client was slow)
	drained    bool // the last read left nothing in the socket
	deadline   time.Time
	since      time.Time // idle since
}

// alive reports whether an idle connection has nothing to read: no
// end, no bytes nobody asked for.
func (up *evUp) alive() bool {
	var b [1]byte
	_, _, err := unix.Recvfrom(up.fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return errors.Is(err, unix.EAGAIN)
}

func (up *evUp) armHeader() {
	up.deadline = time.Time{}
	if t := up.pool.HeaderTimeout; t > 0 {
		up.deadline = up.l.now.Add(t)
	}
}

func (up *evUp) event(ev uint32) {
	l := up.l
	if up.connecting {
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		soerr, err := unix.GetsockoptInt(up.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && soerr != 0 {
			err = unix.Errno(soerr)
		}
		if err != nil {
			l.upFailed(up, &ConnectError{Err: os.NewSyscallError("connect", err)})
			return
		}
		up.connecting = false
		up.armHeader()
	}
	if ev&unix.EPOLLOUT != 0 {
		if !up.flush() {
			return
		}
		if len(up.out) == 0 {
			l.mod(up.fd, evRead)
		}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		up.read(ev)
	}
}

// flush writes the request; it reports false when the connection failed.
func (up *evUp) flush() bool {
	for len(up.out) > 0 {
		n, err := rawWrite(up.fd, up.out)
		if n > 0 {
			up.out = up.out[:copy(up.out, up.out[n:])]
			continue
		}
		switch {
		case errors.Is(err, unix.EAGAIN):
			up.l.mod(up.fd, evReadWrite)
			return true
		case errors.Is(err, unix.EINTR):
		default:
			up.l.upFailed(up, os.NewSyscallError("write", err))
			return false
		}
	}
	return true
}

// read reads the upstream's answer and relays it.
func (up *evUp) read(ev uint32) {
	l := up.l
	if up.x == nil {
		// Idle: closed by the upstream, or it sent what nobody asked.
		var b [1]byte
		if _, err := rawRead(up.fd, b[:]); !errors.Is(err, unix.EAGAIN) {
			l.closeUp(up)
		}
		return
	}
	up.unread = false
	for up.x != nil {
		ex := up.x
		if ex.paused {
			up.unread = true
			return
		}
		if cap(up.in)-len(up.in) < 4096 {
			if !ex.headSeen && len(up.in) >= maxUpHead {
				l.upFailed(up, errors.New("upstream answer head too large"))
				return
			}
			up.in = append(up.in, make([]byte, cap(up.in))...)[:len(up.in)]
		}
		room := cap(up.in) - len(up.in)
		n, err := rawRead(up.fd, up.in[len(up.in):cap(up.in)])
		up.drained = n < room
		switch {
		case n > 0:
			up.in = up.in[:len(up.in)+n]
			up.relay()
			if drained(n, room, ev) {
				return
			}
			continue
		case errors.Is(err, unix.EAGAIN):
			return
		case errors.Is(err, unix.EINTR):
			continue
		case err == nil: // EOF
			if ex.headSent && ex.untilClose {
				ex.keepUp = false
				l.finish(ex)
				return
			}
			if len(up.in) == 0 && !ex.headSent {
				err = io.EOF
			} else {
				err = io.ErrUnexpectedEOF
			}
		default:
			err = os.NewSyscallError("read", err)
		}
		l.upFailed(up, err)
		return
	}
}

// relay moves what up.in holds of the answer to the client.
func (up *evUp) relay() {
	l := up.l
	ex := up.x
	c := ex.c
	for !ex.headSeen {
		if !up.readHead() {
			return // more is needed, or the attempt is over
		}
	}
	if ex.holding {
		if !ex.noBody && int64(len(up.in)) < ex.remain {
			return
		}
		ex.holding = false
		if !l.commit(ex) {
			return
		}
	}
	switch {
	case ex.noBody:
		if len(up.in) > 0 {
			ex.keepUp = false
		}
		l.finish(ex)
		return
	case ex.chunked:
		n, end, err := ex.ch.scan(up.in)
		c.out = append(c.out, up.in[:n-ex.ch.held]...)
		if end && err == nil {
			c.out = append(c.out, ex.ch.section()...)
		}
		up.in = up.in[:copy(up.in, up.in[n:])]
		if err != nil {
			l.upFailed(up, err)
			return
		}
		if end {
			ex.keepUp = ex.keepUp && len(up.in) == 0
			l.finish(ex)
			return
		}
	case ex.untilClose:
		c.out = append(c.out, up.in...)
		up.in = up.in[:0]
	default:
		k := int(min(int64(len(up.in)), ex.remain))
		c.out = append(c.out, up.in[:k]...)
		up.in = up.in[:copy(up.in, up.in[k:])]
		ex.remain -= int64(k)
		if ex.remain == 0 {
			ex.keepUp = ex.keepUp && len(up.in) == 0
			l.finish(ex)
			return
		}
	}
	if !c.flush() {
		return
	}
	if len(c.out) >= maxOut {
		ex.paused = true
	}
}

// readHead parses the answer's head when up.in holds it all and, unless
// its body is to be held first, has the exchange take it (commit); it
// reports false when more is needed or the attempt is over.
func (up *evUp) readHead() bool {
	l := up.l
	ex := up.x
	n, next := scanHead(up.in, up.headFrom)
	if n == 0 {
		up.headFrom = next
		return false
	}
	var resp *http.Response
	hop := hopAny
	if n > 0 {
		if rs := parseResponse(up.in[:n], ex.req); rs != nil {
			resp, hop = &rs.r, rs.up.hop
		}
	}
	if resp == nil {
		rd := bytes.NewReader(up.in)
		br := bufio.NewReaderSize(rd, max(len(up.in), 16))
		var err error
		resp, err = http.ReadResponse(br, ex.req) //nolint:bodyclose // the body is relayed from up.in, never read through resp
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				up.headFrom = 0
				return false // the rest of the head is to come
			}
			l.upFailed(up, err)
			return false
		}
		n = len(up.in) - rd.Len() - br.Buffered()
	}
	up.in = up.in[:copy(up.in, up.in[n:])]
	up.headFrom = 0
	code := resp.StatusCode
	if code < 200 {
		if code == http.StatusSwitchingProtocols {
			l.upFailed(up, errors.New("upstream switched protocols unasked"))
			return false
		}
		return true // informational: dropped, the answer follows
	}
	up.deadline = time.Time{}
	h := resp.Header
	switch hop {
	case hopNone:
	case hopConnection:
		delete(h, "Connection")
	default:
		RemoveHopHeaders(h)
	}
	ex.noBody = ex.noBody || code == http.StatusNoContent || code == http.StatusNotModified
	ex.keepUp = !resp.Close
	ex.chunked = len(resp.TransferEncoding) > 0 && !ex.noBody
	ex.remain = resp.ContentLength
	ex.untilClose = !ex.noBody && !ex.chunked && resp.ContentLength < 0
	if ex.untilClose {
		ex.keepUp = false
	}
	if ex.chunked && len(resp.Trailer) > 0 {
		keys := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h["Trailer"] = []string{joinComma(keys)}
	}
	resp.Body = nil
	ex.resp, ex.headSeen = resp, true
	if hold := ex.att.Hold; hold > 0 && (ex.noBody || ex.remain >= 0 && ex.remain <= int64(hold)) {
		ex.holding = true
		return true
	}
	return l.commit(ex)
}

// commit gives ex's answer to the exchange and, when it takes it, puts
// its head in the client's output; it reports false when the exchange
// refused the answer (and went on to its next attempt).
func (l *evLoop) commit(ex *evExchange) bool {
	resp, c := ex.resp, ex.c
	if !ex.x.Answer(resp) {
		l.refuse(ex)
		return false
	}
	ex.unwatch() // (taken: an Abort breaks off no more)
	code, h := resp.StatusCode, resp.Header
	if ex.untilClose {
		c.closeAfter = true // the end of the body is the end of the connection
	}
	withLength := !ex.chunked && !ex.untilClose && code != http.StatusNoContent
	if !withLength {
		delete(h, "Content-Length")
	}
	c.out = appendHead(c.out, code, h, withLength, ex.chunked, c.closeAfter, l.s.dateLine())
	ex.code, ex.headSent, ex.resp = code, true, nil
	return true
}

// refuse keeps the answer the exchange refused, with its body when it was
// held, and goes on to the next attempt.
func (l *evLoop) refuse(ex *evExchange) {
	up := ex.up
	var body []byte
	whole := ex.noBody
	if !ex.noBody && !ex.chunked && !ex.untilClose && int64(len(up.in)) >= ex.remain {
		body = bytes.Clone(up.in[:ex.remain])
		up.in = up.in[:copy(up.in, up.in[ex.remain:])]
		whole = true
	}
	ex.fallback, ex.fallbackBody = ex.resp, body
	ex.keepUp = ex.keepUp && whole
	l.release(ex)
	ex.resetAnswer()
	l.attempt(ex, ErrRefused)
}

// relayFallback sends the last answer the exchange refused, when Failed
// asks for it.
func (l *evLoop) relayFallback(ex *evExchange) {
	resp, c := ex.fallback, ex.c
	ex.fallback = nil
	ex.x.Answer(resp)
	code, h := resp.StatusCode, resp.Header
	delete(h, "Trailer")
	withLength := code != http.StatusNoContent
	if withLength {
		h["Content-Length"] = []string{strconv.Itoa(len(ex.fallbackBody))}
	}
	c.out = appendHead(c.out, code, h, withLength, false, c.closeAfter, l.s.dateLine())
	if !ex.noBody {
		c.out = append(c.out, ex.fallbackBody...)
	}
	ex.code, ex.headSent = code, true
	l.end(ex)
}

func joinComma(s []string) string {
	var b []byte
	for i, k := range s {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, k...)
	}
	return string(b)
}

// finish ends ex once its answer was read whole: its upstream connection
// back to the pool or closed, the client's connection on to its next
// request once the answer is written.
func (l *evLoop) finish(ex *evExchange) {
	l.release(ex)
	l.end(ex)
}

// release ends ex's use of its upstream connection: back to the pool when
// its answer was read whole (keepUp), else closed.
func (l *evLoop) release(ex *evExchange) {
	up := ex.up
	ex.up, up.x = nil, nil
	ex.unwatch()
	idle := l.idle[up.pool]
	if ex.keepUp && up.drained && len(up.out) == 0 && len(up.in) == 0 && len(idle) < up.pool.MaxIdle && !up.pool.isClosed() && !l.draining {
		up.since = l.now
		up.deadline = time.Time{}
		l.idle[up.pool] = append(idle, up)
		if up.unread {
			up.read(untilEAGAIN) // something came after the answer
		}
	} else {
		l.closeUp(up)
	}
}

func (l *evLoop) closeUp(up *evUp) {
	if _, ok := l.ups[up]; !ok {
		return
	}
	delete(l.ups, up)
	l.forget(up.fd)
	if up.x == nil {
		idle := l.idle[up.pool]
		for i, u := range idle {
			if u == up {
				l.idle[up.pool] = append(idle[:i], idle[i+1:]...)
				break
			}
		}
		if len(l.idle[up.pool]) == 0 {
			delete(l.idle, up.pool)
		}
	}
}

// Compile-time checks.
var (
	_ evFile = (*evConn)(nil)
	_ evFile = (*evUp)(nil)
)

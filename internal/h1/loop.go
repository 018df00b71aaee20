package h1

import (
	"errors"
	"net/http"
	"time"
)

// A proxy's plain requests can be served on event loops instead of a
// goroutine per connection: with Server.Proxy set, Serve runs one loop per
// core (loop_linux.go; elsewhere the goroutine server serves everything).
// Each loop waits on epoll for its connections, reads and parses requests,
// sends them upstream on connections of its own and relays the answers,
// all on one locked thread: no goroutine parks and wakes per request, no
// deadline timers, which is what a goroutine per connection costs a proxy
// beyond the proxying (a loop serves a third more requests per core).
//
// Only the plainest requests take this path: those fastRequest parses
// (HTTP/1.1, bodiless, one valid Host) that the Proxy takes on. A
// connection whose request is anything else (a body, h2c, a malformed or
// unusual head) is handed, with what was read of it, to the goroutine
// server, which serves the rest of it. Upstream answers of every framing
// are relayed (Content-Length, chunked, until close; 1xx dropped as nginx
// does).

// Proxy decides where the requests an event loop reads go. Its methods and
// its Exchanges' run on the loop: they must not block.
type Proxy interface {
	// Exchange takes on r, a plain request the loop read (RemoteAddr set,
	// its Header the proxy's to change and send on), or returns nil to
	// leave the request and the rest of its connection to Server.Handler.
	Exchange(r *http.Request) Exchange
}

// Exchange is one request's way through an event loop, told by the
// loop as it goes.
type Exchange interface {
	// Next returns the next attempt, with err the failure of the previous
	// one (nil before the first). An Attempt without a Pool ends the
	// exchange with Failed's answer. The loop tries a pooled connection
	// found dead before any answer again on a fresh one without asking
	// (for idempotent methods, as Pool.RoundTrip).
	//
	// Errors are those of RoundTrip: *ConnectError (nothing was sent), a
	// net.Error whose Timeout is true (no answer within the Pool's
	// HeaderTimeout), io.EOF, io.ErrUnexpectedEOF or syscall.ECONNRESET
	// (the connection ended before the answer), other errors for a
	// malformed answer; and the Abort's cause, a *BodyError (see
	// Attempt.Hold), or ErrRefused after Answer refused an answer.
	Next(err error) Attempt
	// Failed is the answer when Next gave no upstream: a status and a
	// short message, sent as Plain does with h (to which it may add); a
	// status of 0 sends the last answer Answer refused instead (502 if
	// none was).
	Failed(h http.Header) (code int, msg string)
	// Answer is called with the upstream's answer before it is relayed
	// (hop-by-hop fields removed, no Body); it may change resp.Header. It
	// returns false to refuse the answer: the loop keeps it (its body
	// too when it was held) for Failed, and asks Next for another
	// attempt. The answer Failed asks for is given to Answer again, which
	// must take it then.
	Answer(resp *http.Response) bool
	// Done ends the exchange (once): code is the status the client was
	// sent, 499 when the client went away before it; err is set when the
	// upstream broke off its answer's body (the client's connection is
	// then closed, so that it cannot take a short body for a whole one).
	Done(code int, err error)
}

// Attempt is where an exchange sends its request next.
type Attempt struct {
	Pool *Pool
	// ConnectTimeout, when set, bounds connecting for this attempt instead
	// of the Pool's.
	ConnectTimeout time.Duration
	// Abort, when set, lets another goroutine break the attempt off before
	// its answer is taken (RoundTripAbortable's); Next is then given the
	// cause.
	Abort *Abort
	// Hold is how long an answer's body may be (Content-Length) for the
	// loop to read it whole before giving the answer to Answer: a body
	// broken off before then fails the attempt (a *BodyError), not the
	// answer already under way to the client.
	Hold int
}

// BodyError is the failure of an attempt whose answer broke off while its
// body was held (Attempt.Hold).
type BodyError struct{ Err error }

func (e *BodyError) Error() string { return "answer broken off: " + e.Err.Error() }
func (e *BodyError) Unwrap() error { return e.Err }

// ErrRefused is what Next is told after Answer refused an answer.
var ErrRefused = errors.New("answer refused")

// What Shutdown asks of the event loops.
const (
	loopRun   int32 = iota
	loopDrain       // stop accepting, close idle connections, finish the rest
	loopStop        // close everything now
)

// tellLoops sets the loops' state and wakes them to see it.
func (s *Server) tellLoops(state int32) {
	s.mu.Lock()
	loops := s.loops
	if s.loopState != nil {
		s.loopState.Store(state)
	}
	s.mu.Unlock()
	for _, l := range loops {
		l.nudge()
	}
}

// Package upstreamsim holds what every supplier-API simulator shares: the knobs (latency,
// error, decline, hang and reset rates), magic numbers that force one behaviour, a count of
// requests per transaction, and the misbehaviours a driver must survive.
package upstreamsim

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Knobs tune a simulator. Rates are from 0 to 1 and are drawn per request.
type Knobs struct {
	Latency     time.Duration
	ErrorRate   float64 // answer 500 before doing anything
	DeclineRate float64
	HangRate    float64 // do it, then never answer (an unknown outcome for the caller)
	ResetRate   float64 // do it, then cut the connection
}

// Behaviour is what the simulator does with one request.
type Behaviour int

// The behaviours; the magic suffixes of a phone or card number force them in tests.
const (
	Approve     Behaviour = iota
	Decline               // suffix 0000
	Hang                  // suffix 0001: processed upstream, answer never sent
	Reset                 // suffix 0002: processed upstream, connection cut
	Error                 // suffix 0003: 500 before processing
	EmptyBody             // suffix 0004: 200 with no body
	HTMLError             // suffix 0005: 502 with an HTML page, as a proxy sends
	WrongTypes            // suffix 0006: 200 with fields of the wrong JSON types
	ErrorInside           // suffix 0007: 200 whose body says it failed
)

var suffixes = map[string]Behaviour{"0000": Decline, "0001": Hang, "0002": Reset, "0003": Error,
	"0004": EmptyBody, "0005": HTMLError, "0006": WrongTypes, "0007": ErrorInside}

// SuffixFor returns the number suffix that forces b.
func SuffixFor(b Behaviour) string {
	for s, x := range suffixes {
		if x == b {
			return s
		}
	}
	return "5678"
}

// Sim is the state a simulator shares across requests.
type Sim struct {
	Knobs Knobs
	// Hangs are released when Close is called, so that a test server can shut down.
	hangs chan struct{}

	mu    sync.Mutex
	sent  map[string]int // client reference → requests received
	close sync.Once
}

// New makes the shared state.
func New(k Knobs) *Sim {
	return &Sim{Knobs: k, hangs: make(chan struct{}), sent: map[string]int{}}
}

// Close releases hanging requests.
func (s *Sim) Close() { s.close.Do(func() { close(s.hangs) }) }

// Count records one request for ref and returns how many there have been.
func (s *Sim) Count(ref string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent[ref]++
	return s.sent[ref]
}

// Sent returns how many requests for ref arrived.
func (s *Sim) Sent(ref string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent[ref]
}

// Choose decides what to do with a request for number (phone or card).
func (s *Sim) Choose(number string) Behaviour {
	if len(number) >= 4 {
		if b, ok := suffixes[number[len(number)-4:]]; ok {
			return b
		}
	}
	r := rand.Float64()
	k := s.Knobs
	switch {
	case r < k.ErrorRate:
		return Error
	case r < k.ErrorRate+k.DeclineRate:
		return Decline
	case r < k.ErrorRate+k.DeclineRate+k.HangRate:
		return Hang
	case r < k.ErrorRate+k.DeclineRate+k.HangRate+k.ResetRate:
		return Reset
	}
	return Approve
}

// Wait applies the latency knob.
func (s *Sim) Wait(r *http.Request) {
	if s.Knobs.Latency > 0 {
		select {
		case <-time.After(s.Knobs.Latency):
		case <-r.Context().Done():
		}
	}
}

// Misbehave carries out the behaviours that are the same in every API; it reports whether
// it answered. The request has already been processed when Hang and Reset apply.
func (s *Sim) Misbehave(w http.ResponseWriter, r *http.Request, b Behaviour) bool {
	switch b {
	case Hang:
		select {
		case <-r.Context().Done():
		case <-s.hangs:
		}
		return true
	case Reset:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler)
	case EmptyBody:
		w.WriteHeader(http.StatusOK)
		return true
	case HTMLError:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html><body><h1>502 Bad Gateway</h1></body></html>"))
		return true
	}
	return false
}

// Bearer returns the bearer token of r.
func Bearer(r *http.Request) string {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return tok
}

// Down is not a simulator behaviour but a harness's: the supplier cannot be reached at all.
const Down Behaviour = 100

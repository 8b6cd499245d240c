package drivertest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/drivers/upstreamsim"
)

// Upstream is a simulated supplier API that counts requests per client reference.
type Upstream interface {
	http.Handler
	Sent(ref string) int
	Close()
}

// HTTPHarness is a ready Harness for an HTTP driver and an Upstream simulator that obeys
// upstreamsim's magic number suffixes. Build it, call Start, and pass it to RunConformance.
type HTTPHarness struct {
	Upstream Upstream
	// Open builds the driver talking to baseURL.
	Open func(baseURL string) (drivers.Driver, error)
	// NewRequest builds a request for transaction id whose phone or card number ends in suffix.
	NewRequest func(id, suffix string) drivers.Request

	srv      *httptest.Server
	deadURL  string
	mu       sync.Mutex
	live     drivers.Driver
	nextDown bool
	seq      atomic.Int64
}

// Start serves the upstream on loopback until the test ends.
func (h *HTTPHarness) Start(t *testing.T) *HTTPHarness {
	t.Helper()
	h.srv = httptest.NewServer(h.Upstream)
	t.Cleanup(func() {
		h.Upstream.Close()
		h.srv.Close()
	})
	// A port that was just closed refuses connections: the supplier is down.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.deadURL = "http://" + ln.Addr().String()
	ln.Close()
	return h
}

// URL is where the upstream listens.
func (h *HTTPHarness) URL() string { return h.srv.URL }

// Driver implements Harness; right after Request(Down) it returns a driver whose upstream
// cannot be reached.
func (h *HTTPHarness) Driver(t T) drivers.Driver {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.nextDown {
		h.nextDown = false
		d, err := h.Open(h.deadURL)
		if err != nil {
			t.Fatalf("open driver: %v", err)
		}
		return d
	}
	if h.live == nil {
		d, err := h.Open(h.srv.URL)
		if err != nil {
			t.Fatalf("open driver: %v", err)
		}
		h.live = d
	}
	return h.live
}

// Request implements Harness.
func (h *HTTPHarness) Request(t T, b Behaviour) (drivers.Request, bool) {
	id := fmt.Sprintf("txn_conformance_%d", h.seq.Add(1))
	if b == Down {
		h.mu.Lock()
		h.nextDown = true
		h.mu.Unlock()
		return h.NewRequest(id, "5678"), true
	}
	return h.NewRequest(id, upstreamsim.SuffixFor(b)), true
}

// Sent implements Harness.
func (h *HTTPHarness) Sent(req drivers.Request) int { return h.Upstream.Sent(req.TransactionID) }

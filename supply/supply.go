// Package supply routes a transaction to the drivers of its product's suppliers, in order,
// each behind its own circuit breaker and timeout, and turns what the driver says into an
// outcome the conduit records.
package supply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/drivers"
)

// SupplierConfig is one supplier as configured.
type SupplierConfig struct {
	Name     string           `json:"name"`
	Driver   string           `json:"driver"`
	Settings json.RawMessage  `json:"settings,omitempty"`
	Timeout  drivers.Duration `json:"timeout,omitempty"` // per call; default 10s
	Breaker  BreakerConfig    `json:"breaker"`
}

// BreakerConfig tunes a supplier's circuit breaker.
type BreakerConfig struct {
	Failures uint32           `json:"failures,omitempty"` // consecutive failures that open it; default 5
	OpenFor  drivers.Duration `json:"open_for,omitempty"` // how long it stays open before a probe; default 30s
	Probes   uint32           `json:"probes,omitempty"`   // requests let through half-open; default 1
}

// Status is how a dispatched transaction ended.
type Status string

// Outcomes, named as the contract's transaction statuses.
const (
	Approved Status = "approved"
	Pending  Status = "pending"
	Declined Status = "declined"
	Failed   Status = "failed"
)

// Outcome codes for declines and failures, stable for the API.
const (
	CodeOutOfStock          = "out_of_stock"
	CodeSupplierDeclined    = "supplier_declined"
	CodeSupplierUnavailable = "supplier_unavailable"
)

// Outcome is the router's answer.
type Outcome struct {
	Status   Status
	Supplier string // the supplier that answered, or was last tried
	Result   drivers.Result
	Code     string // for declined and failed
	Message  string
}

// Router holds the configured suppliers.
type Router struct {
	log *slog.Logger
	env drivers.Env

	mu        sync.RWMutex // guards the two below, replaced whole by Replace
	suppliers map[string]*supplier
	names     []string
}

func (r *Router) get(name string) (*supplier, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.suppliers[name]
	return s, ok
}

type supplier struct {
	cfg     SupplierConfig
	driver  drivers.Driver
	timeout time.Duration
	breaker *gobreaker.CircuitBreaker[drivers.Result]

	mu        sync.Mutex
	requests  uint64
	failures  uint64
	declines  uint64
	latencies latencyWindow
}

// New builds every supplier's driver; any bad configuration is an error that names the supplier.
func New(cfgs []SupplierConfig, env drivers.Env) (*Router, error) {
	r := &Router{log: env.Logger, env: env, suppliers: map[string]*supplier{}}
	if r.log == nil {
		r.log = slog.Default()
	}
	return r, r.Replace(cfgs)
}

// Replace sets the suppliers to cfgs (a server's, when its hub changes them). A supplier whose
// configuration did not change keeps its driver and its breaker.
func (r *Router) Replace(cfgs []SupplierConfig) error {
	next := map[string]*supplier{}
	var names []string
	for i, c := range cfgs {
		if !catalog.ValidID(c.Name) {
			return fmt.Errorf("suppliers[%d].name: %q is not a valid name", i, c.Name)
		}
		if _, dup := next[c.Name]; dup {
			return fmt.Errorf("suppliers[%d].name: %q is configured twice", i, c.Name)
		}
		if old, ok := r.get(c.Name); ok && sameConfig(old.cfg, c) {
			next[c.Name] = old
			names = append(names, c.Name)
			continue
		}
		s, err := r.newSupplier(c)
		if err != nil {
			return err
		}
		next[c.Name] = s
		names = append(names, c.Name)
	}
	r.mu.Lock()
	r.suppliers, r.names = next, names
	r.mu.Unlock()
	return nil
}

func sameConfig(a, b SupplierConfig) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func (r *Router) newSupplier(c SupplierConfig) (*supplier, error) {
	d, err := drivers.Open(c.Driver, drivers.Config{Name: c.Name, Settings: c.Settings, Env: r.env})
	if err != nil {
		return nil, fmt.Errorf("supplier %q: %w", c.Name, err)
	}
	s := &supplier{cfg: c, driver: d, timeout: time.Duration(c.Timeout)}
	if s.timeout <= 0 {
		s.timeout = 10 * time.Second
	}
	failures := c.Breaker.Failures
	if failures == 0 {
		failures = 5
	}
	openFor := time.Duration(c.Breaker.OpenFor)
	if openFor <= 0 {
		openFor = 30 * time.Second
	}
	probes := c.Breaker.Probes
	if probes == 0 {
		probes = 1
	}
	name := c.Name
	s.breaker = gobreaker.NewCircuitBreaker[drivers.Result](gobreaker.Settings{
		Name:        c.Name,
		MaxRequests: probes,
		Timeout:     openFor,
		ReadyToTrip: func(cnt gobreaker.Counts) bool { return cnt.ConsecutiveFailures >= failures },
		// A decline is the supplier working as it should.
		IsSuccessful: func(err error) bool {
			var de *drivers.DeclineError
			return err == nil || errors.As(err, &de)
		},
		OnStateChange: func(_ string, from, to gobreaker.State) {
			r.log.Warn("supplier breaker changed state", "supplier", name, "from", from.String(), "to", to.String())
		},
	})
	return s, nil
}

// Types implements catalog.SupplierTypes.
func (r *Router) Types(name string) ([]catalog.Type, bool) {
	s, ok := r.get(name)
	if !ok {
		return nil, false
	}
	return s.driver.Types(), true
}

// Driver returns the driver of a named supplier, for tests and tools.
func (r *Router) Driver(name string) (drivers.Driver, bool) {
	s, ok := r.get(name)
	if !ok {
		return nil, false
	}
	return s.driver, true
}

// Dispatch sends req to the first of suppliers that takes it. It fails over to the next only
// when the request surely did not reach the supplier (breaker open, not sent) or the supplier
// is out of stock; an unknown outcome stops at once as pending, so nothing is sold twice.
func (r *Router) Dispatch(ctx context.Context, suppliers []string, req drivers.Request) Outcome {
	out := r.dispatch(ctx, suppliers, req)
	out.Message = scrub(out.Message, req)
	return out
}

// scrub hides a full card number that a supplier's own words may echo: it is never stored,
// shown or logged in clear.
func scrub(s string, req drivers.Request) string {
	if req.CardNumber == "" || !strings.Contains(s, req.CardNumber) {
		return s
	}
	return strings.ReplaceAll(s, req.CardNumber, "****"+req.CardNumber[max(0, len(req.CardNumber)-4):])
}

func (r *Router) dispatch(ctx context.Context, suppliers []string, req drivers.Request) Outcome {
	last := Outcome{Status: Failed, Code: CodeSupplierUnavailable, Message: "no supplier could take the request"}
	for _, name := range suppliers {
		s, ok := r.get(name)
		if !ok {
			continue
		}
		res, err := s.call(ctx, req)
		var de *drivers.DeclineError
		switch {
		case err == nil:
			return Outcome{Status: Approved, Supplier: name, Result: res}
		case errors.As(err, &de) && de.Code == drivers.DeclineCodeOutOfStock:
			last = Outcome{Status: Declined, Supplier: name, Code: CodeOutOfStock, Message: de.Reason}
		case errors.As(err, &de):
			return Outcome{Status: Declined, Supplier: name, Code: CodeSupplierDeclined, Message: de.Reason}
		case errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) || drivers.IsNotSent(err):
			if last.Code != CodeOutOfStock {
				last = Outcome{Status: Failed, Supplier: name, Code: CodeSupplierUnavailable, Message: "supplier " + name + " is unavailable"}
			}
		default:
			r.log.Warn("supplier outcome unknown; transaction pending", "supplier", name, "txn", req.TransactionID, "err", scrub(err.Error(), req))
			return Outcome{Status: Pending, Supplier: name, Message: "the supplier has not confirmed the outcome yet"}
		}
	}
	return last
}

func (s *supplier) call(ctx context.Context, req drivers.Request) (drivers.Result, error) {
	start := time.Now()
	res, err := s.breaker.Execute(func() (drivers.Result, error) {
		cctx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		return s.driver.Execute(cctx, req)
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return res, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	var de *drivers.DeclineError
	switch {
	case errors.As(err, &de):
		s.declines++
	case err != nil:
		s.failures++
	}
	s.latencies.add(time.Since(start))
	return res, err
}

// Inquire asks the named supplier how req ended; a driver without status inquiry answers unknown.
func (r *Router) Inquire(ctx context.Context, name string, req drivers.Request) (drivers.Status, drivers.Result, error) {
	s, ok := r.get(name)
	if !ok {
		return drivers.StatusUnknown, drivers.Result{}, fmt.Errorf("supply: unknown supplier %q", name)
	}
	inq, ok := s.driver.(drivers.Inquirer)
	if !ok {
		return drivers.StatusUnknown, drivers.Result{}, errors.New("supply: supplier " + name + " cannot answer status inquiries")
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return inq.Inquire(cctx, req)
}

// ErrCannotVoid means the supplier's driver cannot undo a sale.
var ErrCannotVoid = errors.New("supply: the supplier cannot void this transaction")

// Void asks the named supplier to undo an approved transaction.
func (r *Router) Void(ctx context.Context, name string, req drivers.Request, res drivers.Result) error {
	s, ok := r.get(name)
	if !ok {
		return ErrCannotVoid
	}
	v, ok := s.driver.(drivers.Voider)
	if !ok {
		return ErrCannotVoid
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := v.Void(cctx, req, res); err != nil {
		return errors.New(scrub(err.Error(), req))
	}
	return nil
}

// CanVoid reports whether the named supplier can undo sales.
func (r *Router) CanVoid(name string) bool {
	s, ok := r.get(name)
	if !ok {
		return false
	}
	_, ok = s.driver.(drivers.Voider)
	return ok
}

// SupplierStats is what support sees of a supplier.
type SupplierStats struct {
	Name         string         `json:"name"`
	Driver       string         `json:"driver"`
	Types        []catalog.Type `json:"types"`
	Breaker      string         `json:"breaker"`
	Requests     uint64         `json:"requests"`
	Failures     uint64         `json:"failures"`
	Declines     uint64         `json:"declines"`
	LatencyP50Ms float64        `json:"latency_p50_ms"`
	LatencyP99Ms float64        `json:"latency_p99_ms"`
}

// Stats lists every supplier in configuration order.
func (r *Router) Stats() []SupplierStats {
	r.mu.RLock()
	names, suppliers := r.names, r.suppliers
	r.mu.RUnlock()
	out := make([]SupplierStats, 0, len(names))
	for _, n := range names {
		s := suppliers[n]
		s.mu.Lock()
		st := SupplierStats{
			Name: n, Driver: s.cfg.Driver, Types: s.driver.Types(), Breaker: s.breaker.State().String(),
			Requests: s.requests, Failures: s.failures, Declines: s.declines,
			LatencyP50Ms: s.latencies.quantile(0.50), LatencyP99Ms: s.latencies.quantile(0.99),
		}
		s.mu.Unlock()
		out = append(out, st)
	}
	return out
}

// Package drivertest is the conformance kit for supplier drivers. A driver's author runs it
// from their own test through a small Harness that builds the driver and makes its upstream
// behave in a given way:
//
//	func TestConformance(t *testing.T) { drivertest.RunConformance(t, &myHarness{…}) }
//
// It checks what the gateway relies on: approve, decline with a reason, a timeout or a cut
// connection reported as an unknown outcome (never as "not sent", never as a decline), an
// unreachable supplier reported as not sent, cancellation honoured promptly, no panic and no
// approval on odd answers (empty body, HTML error page, wrong JSON types, 200 with an error
// inside), status inquiry and void where the driver offers them, and never a second request
// upstream for one transaction.
package drivertest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/drivers/upstreamsim"
)

// Behaviour is how the upstream treats one request.
type Behaviour = upstreamsim.Behaviour

// The behaviours a harness may be asked for.
const (
	Approve     = upstreamsim.Approve
	Decline     = upstreamsim.Decline
	Hang        = upstreamsim.Hang        // processed upstream, never answered
	Reset       = upstreamsim.Reset       // processed upstream, connection cut
	Down        = upstreamsim.Down        // upstream unreachable
	EmptyBody   = upstreamsim.EmptyBody   // 200, no body
	HTMLError   = upstreamsim.HTMLError   // 502 with an HTML page
	WrongTypes  = upstreamsim.WrongTypes  // 200, fields of the wrong JSON types
	ErrorInside = upstreamsim.ErrorInside // 200 whose body reports a failure
)

// T is the part of *testing.T the kit uses.
type T interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Harness connects the kit to one driver.
type Harness interface {
	// Driver returns the driver under test.
	Driver(t T) drivers.Driver
	// Request returns a new request (with a new TransactionID) that the upstream will treat
	// as b; ok is false when the upstream cannot be made to (an in-process driver has no
	// HTML error pages), and that check is skipped.
	Request(t T, b Behaviour) (req drivers.Request, ok bool)
	// Sent reports how many times the upstream received req, or -1 when it cannot tell.
	Sent(req drivers.Request) int
}

// Check is one conformance check.
type Check struct {
	Name string
	Run  func(t T, h Harness)
}

// Checks lists the conformance checks in order.
var Checks = []Check{
	{"types", checkTypes},
	{"approve", checkApprove},
	{"decline", checkDecline},
	{"timeout_is_unknown", checkTimeout},
	{"cancellation_honoured", checkCancel},
	{"cut_connection_is_unknown", checkReset},
	{"unreachable_is_not_sent", checkDown},
	{"odd_answers", checkOdd},
	{"status_inquiry", checkInquiry},
	{"void", checkVoid},
}

// RunConformance runs every check as a subtest of t.
func RunConformance(t *testing.T, h Harness) {
	t.Helper()
	for _, c := range Checks {
		t.Run(c.Name, func(t *testing.T) { c.Run(t, h) })
	}
}

// Failures runs every check and returns what failed, for testing a driver that is meant to
// fail (and so the kit itself).
func Failures(h Harness) []string {
	var out []string
	for _, c := range Checks {
		r := &recorder{name: c.Name}
		func() {
			defer func() {
				if v := recover(); v != nil && v != errStop {
					r.Errorf("panic: %v", v)
				}
			}()
			c.Run(r, h)
		}()
		out = append(out, r.failures...)
	}
	return out
}

var errStop = errors.New("check stopped")

type recorder struct {
	name     string
	failures []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, r.name+": "+fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	panic(errStop)
}

// execute runs Execute and turns a panic into a test failure.
func execute(t T, d drivers.Driver, ctx context.Context, req drivers.Request) (res drivers.Result, took time.Duration, err error) {
	t.Helper()
	start := time.Now()
	defer func() {
		took = time.Since(start)
		if v := recover(); v != nil {
			t.Errorf("Execute panicked: %v", v)
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	res, err = d.Execute(ctx, req)
	return res, 0, err
}

func sentOnce(t T, h Harness, req drivers.Request) {
	t.Helper()
	if n := h.Sent(req); n > 1 {
		t.Errorf("the upstream received transaction %s %d times; a driver sends each transaction once", req.TransactionID, n)
	}
}

func isDecline(err error) bool {
	var de *drivers.DeclineError
	return errors.As(err, &de)
}

func checkTypes(t T, h Harness) {
	types := h.Driver(t).Types()
	if len(types) == 0 {
		t.Errorf("Types() is empty; name the product types the driver serves")
	}
	for _, ty := range types {
		if !ty.Valid() {
			t.Errorf("Types() names %q, not a product type", ty)
		}
	}
}

func checkApprove(t T, h Harness) {
	d := h.Driver(t)
	req, ok := h.Request(t, Approve)
	if !ok {
		t.Fatalf("the harness must be able to arrange an approval")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, _, err := execute(t, d, ctx, req)
	if err != nil {
		t.Fatalf("approve: Execute returned %v", err)
	}
	if res.SupplierRef == "" {
		t.Errorf("approve: no SupplierRef; support needs the supplier's reference")
	}
	if req.Type == catalog.TypePIN && (res.PIN == nil || res.PIN.Code == "" || res.PIN.Serial == "") {
		t.Errorf("approve: a PIN sale must return the PIN with its serial and code")
	}
	sentOnce(t, h, req)
}

func checkDecline(t T, h Harness) {
	d := h.Driver(t)
	req, ok := h.Request(t, Decline)
	if !ok {
		t.Fatalf("the harness must be able to arrange a decline")
	}
	_, _, err := execute(t, d, context.Background(), req)
	var de *drivers.DeclineError
	if !errors.As(err, &de) {
		t.Fatalf("decline: Execute returned %v, want an error from drivers.Declined", err)
	}
	if de.Code == "" || de.Reason == "" {
		t.Errorf("decline: code %q and reason %q must both be set", de.Code, de.Reason)
	}
	sentOnce(t, h, req)
}

// unknown checks that err reports an unknown outcome: not nil, not a decline, not "not sent".
func unknown(t T, what string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: Execute approved; the outcome was not known", what)
	case isDecline(err):
		t.Errorf("%s: Execute declined (%v); the supplier did not say no, the outcome is unknown", what, err)
	case drivers.IsNotSent(err):
		t.Errorf("%s: Execute said not sent (%v); the request had reached the supplier, so failing over could sell twice", what, err)
	}
}

func checkTimeout(t T, h Harness) {
	req, ok := h.Request(t, Hang)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, took, err := execute(t, h.Driver(t), ctx, req)
	if took > 2*time.Second {
		t.Errorf("timeout: Execute returned %s after the deadline; honour ctx", took-300*time.Millisecond)
	}
	unknown(t, "timeout", err)
	sentOnce(t, h, req)
}

func checkCancel(t T, h Harness) {
	req, ok := h.Request(t, Hang)
	if !ok {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, took, err := execute(t, h.Driver(t), ctx, req)
	if took > 2*time.Second {
		t.Errorf("cancellation: Execute returned %s after ctx was cancelled", took-100*time.Millisecond)
	}
	unknown(t, "cancellation", err)
}

func checkReset(t T, h Harness) {
	req, ok := h.Request(t, Reset)
	if !ok {
		return
	}
	_, _, err := execute(t, h.Driver(t), context.Background(), req)
	unknown(t, "cut connection", err)
	sentOnce(t, h, req)
}

func checkDown(t T, h Harness) {
	req, ok := h.Request(t, Down)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := execute(t, h.Driver(t), ctx, req)
	if !drivers.IsNotSent(err) {
		t.Errorf("unreachable: Execute returned %v; wrap a failure before sending with drivers.NotSent so the gateway can fail over", err)
	}
}

func checkOdd(t T, h Harness) {
	for _, b := range []struct {
		b    Behaviour
		name string
	}{{EmptyBody, "empty body"}, {HTMLError, "HTML error page"}, {WrongTypes, "wrong JSON types"}, {ErrorInside, "200 with an error inside"}} {
		req, ok := h.Request(t, b.b)
		if !ok {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, _, err := execute(t, h.Driver(t), ctx, req)
		cancel()
		if err == nil {
			t.Errorf("%s: Execute approved (ref %q); an answer the driver cannot read is never an approval", b.name, res.SupplierRef)
		}
		if drivers.IsNotSent(err) {
			t.Errorf("%s: Execute said not sent; the supplier did receive the request", b.name)
		}
		sentOnce(t, h, req)
	}
}

func checkInquiry(t T, h Harness) {
	d := h.Driver(t)
	inq, ok := d.(drivers.Inquirer)
	if !ok {
		return
	}
	req, _ := h.Request(t, Approve)
	res, _, err := execute(t, d, context.Background(), req)
	if err != nil {
		t.Fatalf("inquiry: approve first: %v", err)
	}
	st, got, err := inq.Inquire(context.Background(), req)
	if err != nil || st != drivers.StatusApproved || got.SupplierRef != res.SupplierRef {
		t.Errorf("inquiry of an approved transaction: %v %+v %v, want approved with ref %q", st, got, err, res.SupplierRef)
	}
	never, _ := h.Request(t, Approve)
	if st, _, err := inq.Inquire(context.Background(), never); err != nil || st != drivers.StatusFailed {
		t.Errorf("inquiry of a transaction never sent: %v %v, want failed", st, err)
	}
	if hang, ok := h.Request(t, Hang); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, _, _ = execute(t, d, ctx, hang)
		cancel()
		deadline := time.Now().Add(5 * time.Second)
		for {
			st, _, err := inq.Inquire(context.Background(), hang)
			if err == nil && st == drivers.StatusApproved {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("inquiry after a timeout: %v %v; the supplier processed it, so inquiry must find it approved", st, err)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		sentOnce(t, h, hang)
	}
}

func checkVoid(t T, h Harness) {
	d := h.Driver(t)
	v, ok := d.(drivers.Voider)
	if !ok {
		return
	}
	req, _ := h.Request(t, Approve)
	res, _, err := execute(t, d, context.Background(), req)
	if err != nil {
		t.Fatalf("void: approve first: %v", err)
	}
	if err := v.Void(context.Background(), req, res); err != nil {
		t.Errorf("void of an approved transaction: %v", err)
	}
}

package supply_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/supply"
)

// scripted is a driver whose next answer the test sets.
type scripted struct {
	answer func(ctx context.Context) (drivers.Result, error)
	calls  atomic.Int64
}

func (d *scripted) Types() []catalog.Type { return []catalog.Type{catalog.TypeTopUp} }
func (d *scripted) Execute(ctx context.Context, _ drivers.Request) (drivers.Result, error) {
	d.calls.Add(1)
	return d.answer(ctx)
}

var scripts = map[string]*scripted{}

func init() {
	drivers.Register("test-scripted", func(cfg drivers.Config) (drivers.Driver, error) {
		var s struct {
			Key string `json:"key"`
		}
		if err := drivers.DecodeSettings(cfg.Settings, &s); err != nil {
			return nil, err
		}
		return scripts[s.Key], nil
	})
}

func newRouter(t *testing.T, names ...string) (*supply.Router, map[string]*scripted) {
	t.Helper()
	got := map[string]*scripted{}
	var cfgs []supply.SupplierConfig
	for _, n := range names {
		key := t.Name() + "/" + n
		d := &scripted{answer: func(context.Context) (drivers.Result, error) { return drivers.Result{SupplierRef: n}, nil }}
		scripts[key] = d
		got[n] = d
		settings, _ := json.Marshal(map[string]string{"key": key})
		cfgs = append(cfgs, supply.SupplierConfig{Name: n, Driver: "test-scripted", Settings: settings,
			Timeout: drivers.Duration(50 * time.Millisecond),
			Breaker: supply.BreakerConfig{Failures: 3, OpenFor: drivers.Duration(100 * time.Millisecond)},
		})
	}
	r, err := supply.New(cfgs, drivers.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return r, got
}

func TestDispatchOutcomes(t *testing.T) {
	refused := func(context.Context) (drivers.Result, error) {
		return drivers.Result{}, drivers.NotSent(errors.New("refused"))
	}
	unknown := func(ctx context.Context) (drivers.Result, error) { <-ctx.Done(); return drivers.Result{}, ctx.Err() }
	declined := func(context.Context) (drivers.Result, error) {
		return drivers.Result{}, drivers.Declined("bad_number", "no")
	}
	noStock := func(context.Context) (drivers.Result, error) {
		return drivers.Result{}, drivers.Declined(drivers.DeclineCodeOutOfStock, "none")
	}
	for _, c := range []struct {
		name           string
		first          func(context.Context) (drivers.Result, error)
		status         supply.Status
		code, supplier string
		secondCalled   bool
	}{
		{"approved by the first", nil, supply.Approved, "", "a", false},
		{"not sent fails over", refused, supply.Approved, "", "b", true},
		{"out of stock fails over", noStock, supply.Approved, "", "b", true},
		{"decline stops", declined, supply.Declined, supply.CodeSupplierDeclined, "a", false},
		{"unknown outcome never fails over", unknown, supply.Pending, "", "a", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, ds := newRouter(t, "a", "b")
			if c.first != nil {
				ds["a"].answer = c.first
			}
			out := r.Dispatch(context.Background(), []string{"a", "b"}, drivers.Request{TransactionID: "t1"})
			if out.Status != c.status || out.Code != c.code || out.Supplier != c.supplier {
				t.Fatalf("outcome %+v", out)
			}
			if called := ds["b"].calls.Load() > 0; called != c.secondCalled {
				t.Fatalf("second supplier called: %v", called)
			}
		})
	}
	t.Run("all down", func(t *testing.T) {
		r, ds := newRouter(t, "a", "b")
		ds["a"].answer, ds["b"].answer = refused, refused
		out := r.Dispatch(context.Background(), []string{"a", "b"}, drivers.Request{})
		if out.Status != supply.Failed || out.Code != supply.CodeSupplierUnavailable {
			t.Fatalf("outcome %+v", out)
		}
	})
	t.Run("all out of stock", func(t *testing.T) {
		r, ds := newRouter(t, "a", "b")
		ds["a"].answer, ds["b"].answer = noStock, refused
		out := r.Dispatch(context.Background(), []string{"a", "b"}, drivers.Request{})
		if out.Status != supply.Declined || out.Code != supply.CodeOutOfStock {
			t.Fatalf("outcome %+v", out)
		}
	})
}

func TestBreakerOpensFailsFastAndCloses(t *testing.T) {
	r, ds := newRouter(t, "a")
	ds["a"].answer = func(context.Context) (drivers.Result, error) {
		return drivers.Result{}, drivers.NotSent(errors.New("refused"))
	}
	for range 3 {
		r.Dispatch(context.Background(), []string{"a"}, drivers.Request{})
	}
	if st := r.Stats()[0].Breaker; st != "open" {
		t.Fatalf("breaker %s after 3 failures", st)
	}
	before := ds["a"].calls.Load()
	out := r.Dispatch(context.Background(), []string{"a"}, drivers.Request{})
	if out.Code != supply.CodeSupplierUnavailable || ds["a"].calls.Load() != before {
		t.Fatalf("open breaker let a call through: %+v", out)
	}
	// After open_for, one probe goes through; its success closes the breaker.
	ds["a"].answer = func(context.Context) (drivers.Result, error) { return drivers.Result{SupplierRef: "ok"}, nil }
	time.Sleep(120 * time.Millisecond)
	if st := r.Stats()[0].Breaker; st != "half-open" {
		t.Fatalf("breaker %s after open_for", st)
	}
	if out := r.Dispatch(context.Background(), []string{"a"}, drivers.Request{}); out.Status != supply.Approved {
		t.Fatalf("probe: %+v", out)
	}
	if st := r.Stats()[0].Breaker; st != "closed" {
		t.Fatalf("breaker %s after a good probe", st)
	}
}

func TestDeclinesDoNotOpenTheBreaker(t *testing.T) {
	r, ds := newRouter(t, "a")
	ds["a"].answer = func(context.Context) (drivers.Result, error) { return drivers.Result{}, drivers.Declined("x", "no") }
	for range 10 {
		r.Dispatch(context.Background(), []string{"a"}, drivers.Request{})
	}
	if st := r.Stats()[0]; st.Breaker != "closed" || st.Declines != 10 || st.Failures != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBadConfigurationIsRefused(t *testing.T) {
	for _, cfgs := range [][]supply.SupplierConfig{
		{{Name: "a", Driver: "no-such-driver"}},
		{{Name: "a", Driver: "test-scripted"}, {Name: "a", Driver: "test-scripted"}},
		{{Name: "bad name", Driver: "test-scripted"}},
		{{Name: "a", Driver: "test-scripted", Settings: json.RawMessage(`{"kee":"typo"}`)}},
	} {
		if _, err := supply.New(cfgs, drivers.Env{}); err == nil {
			t.Errorf("accepted %+v", cfgs)
		}
	}
}

package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prepaidgw/gateway"
	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/drivers/reloadly/reloadlysim"
	"github.com/prepaidgw/gateway/drivers/upstreamsim"
)

// upstream serves a simulator on a fixed loopback port that can be taken down (connections
// refused) and brought back.
type upstream struct {
	t    *testing.T
	sim  *reloadlysim.Server
	addr string
	mu   sync.Mutex
	srv  *http.Server
}

func startUpstream(t *testing.T) *upstream {
	u := &upstream{t: t, sim: reloadlysim.New(upstreamsim.Knobs{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = ln.Addr().String()
	u.serve(ln)
	t.Cleanup(func() { u.down(); u.sim.Close() })
	return u
}

func (u *upstream) serve(ln net.Listener) {
	u.mu.Lock()
	defer u.mu.Unlock()
	srv := &http.Server{Handler: u.sim}
	u.srv = srv
	go func() { _ = srv.Serve(ln) }()
}

func (u *upstream) down() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.srv != nil {
		_ = u.srv.Close()
		u.srv = nil
	}
}

func (u *upstream) up() {
	ln, err := net.Listen("tcp", u.addr)
	if err != nil {
		u.t.Fatalf("relisten on %s: %v", u.addr, err)
	}
	u.serve(ln)
}

func reloadlySupplier(t *testing.T, name, addr, timeout string, failures int, openFor string) gatewaySupplier {
	settings, _ := json.Marshal(map[string]any{"base_url": "http://" + addr, "client_id": reloadlysim.ClientID,
		"client_secret": reloadlysim.ClientSecret, "operators": map[string]int{"http-topup": 341}})
	return supplierConfig(t, fmt.Sprintf(`{"name":%q,"driver":"reloadly","timeout":%q,"settings":%s,
		"breaker":{"failures":%d,"open_for":%q}}`, name, timeout, settings, failures, openFor))
}

func (tg *testGateway) supplierStats(name string) map[string]any {
	tg.t.Helper()
	m := wantStatus(tg.t, tg.call("GET", "/v1/suppliers", testSupportKey, nil), 200, "")
	for _, it := range m["items"].([]any) {
		if s := it.(map[string]any); s["name"] == name {
			return s
		}
	}
	tg.t.Fatalf("no supplier %s", name)
	return nil
}

func httpTopUp(number string) map[string]any {
	return map[string]any{"product_id": "http-topup", "amount": 1500, "currency": "USD", "recipient": map[string]string{"msisdn": number}}
}

func TestBreakerOpensFailsFastAndRecovers(t *testing.T) {
	up := startUpstream(t)
	tg := newTestGateway(t, func(o *gateway.Options) {
		o.Config.Suppliers = append(o.Config.Suppliers, reloadlySupplier(t, "rl", up.addr, "1s", 3, "300ms"))
	})
	wantStatus(t, tg.call("PUT", "/v1/products/http-topup", testAdminKey, map[string]any{"type": "topup", "name": "HTTP top-up",
		"currency": "USD", "min_amount": 100, "max_amount": 10000, "suppliers": []string{"rl"}}), 201, "")
	lane := tg.terminal("lane-1", "m-42")
	wantStatus(t, tg.sell(lane, "ok-1", httpTopUp("+15551235678")), 201, "")

	up.down()
	for i := range 3 {
		wantStatus(t, tg.sell(lane, fmt.Sprintf("down-%d", i), httpTopUp("+15551235678")), 503, "supplier_unavailable")
	}
	st := tg.supplierStats("rl")
	if st["breaker"] != "open" {
		t.Fatalf("breaker %v after 3 refused connections", st["breaker"])
	}
	// While open, a sale fails at once without calling the supplier.
	before := st["requests"]
	start := time.Now()
	wantStatus(t, tg.sell(lane, "fast", httpTopUp("+15551235678")), 503, "supplier_unavailable")
	t.Logf("answer with the breaker open: %s", time.Since(start))
	if st := tg.supplierStats("rl"); st["requests"] != before {
		t.Fatalf("the open breaker let a call through: %v → %v", before, st["requests"])
	}
	up.up()
	time.Sleep(350 * time.Millisecond)
	if st := tg.supplierStats("rl"); st["breaker"] != "half-open" {
		t.Fatalf("breaker %v after open_for", st["breaker"])
	}
	wantStatus(t, tg.sell(lane, "probe", httpTopUp("+15551235678")), 201, "")
	if st := tg.supplierStats("rl"); st["breaker"] != "closed" {
		t.Fatalf("breaker %v after a good probe", st["breaker"])
	}
	r := tg.call("GET", "/metrics", "", nil)
	if !strings.Contains(string(r.Body), `gateway_supplier_breaker_state{state="closed",supplier="rl"} 1`) {
		t.Fatal("metrics do not show the breaker")
	}
}

func TestFailoverOnlyWhenNotSent(t *testing.T) {
	dead, second := startUpstream(t), startUpstream(t)
	dead.down()
	tg := newTestGateway(t, func(o *gateway.Options) {
		o.ResolveEvery = 20 * time.Millisecond
		o.Config.InquiryBackoff = gatewayDuration(20 * time.Millisecond)
		o.Config.Suppliers = append(o.Config.Suppliers,
			reloadlySupplier(t, "first", dead.addr, "300ms", 5, "30s"),
			reloadlySupplier(t, "second", second.addr, "300ms", 5, "30s"))
	})
	wantStatus(t, tg.call("PUT", "/v1/products/http-topup", testAdminKey, map[string]any{"type": "topup", "name": "HTTP top-up",
		"currency": "USD", "min_amount": 100, "max_amount": 10000, "suppliers": []string{"first", "second"}}), 201, "")
	lane := tg.terminal("lane-1", "m-42")
	m := wantStatus(t, tg.sell(lane, "k1", httpTopUp("+15551235678")), 201, "")
	if m["supplier"] != "second" {
		t.Fatalf("no failover from a supplier that refused the connection: %v", m)
	}
	// The first supplier is back, and hangs: the outcome is unknown, so no failover.
	dead.up()
	r := tg.sell(lane, "k2", httpTopUp("+15551230001"))
	m = wantStatus(t, r, 202, "")
	if m["supplier"] != "first" || second.sim.Sent(m["id"].(string)) != 0 {
		t.Fatalf("an unknown outcome was failed over: %v", m)
	}
	got := waitStatus(t, tg, lane, m["id"].(string))
	if got["status"] != "approved" || got["supplier_ref"] == "" {
		t.Fatalf("pending not resolved by inquiry: %v", got)
	}
	if n := dead.sim.Sent(m["id"].(string)); n != 1 {
		t.Fatalf("the supplier received the transaction %d times", n)
	}
}

func TestPendingSurvivesARestart(t *testing.T) {
	up := startUpstream(t)
	dir := t.TempDir()
	opts := func(o *gateway.Options) {
		o.ResolveEvery = time.Hour // nothing resolves before the restart
		o.Config.Suppliers = append(o.Config.Suppliers, reloadlySupplier(t, "rl", up.addr, "200ms", 5, "30s"))
	}
	tg := openTestGateway(t, dir, opts)
	wantStatus(t, tg.call("PUT", "/v1/products/http-topup", testAdminKey, map[string]any{"type": "topup", "name": "HTTP top-up",
		"currency": "USD", "min_amount": 100, "max_amount": 10000, "suppliers": []string{"rl"}}), 201, "")
	lane := tg.terminal("lane-1", "m-42")
	var ids []string
	for i := range 3 {
		m := wantStatus(t, tg.sell(lane, fmt.Sprintf("hang-%d", i), httpTopUp("+15551230001")), 202, "")
		ids = append(ids, m["id"].(string))
	}
	tg.close()
	tg = openTestGateway(t, dir, opts, func(o *gateway.Options) { o.ResolveEvery = 20 * time.Millisecond })
	for _, id := range ids {
		if got := waitStatus(t, tg, lane, id); got["status"] != "approved" {
			t.Fatalf("after restart %s is %v", id, got["status"])
		}
		if n := up.sim.Sent(id); n != 1 {
			t.Fatalf("%s reached the supplier %d times", id, n)
		}
	}
}

// silent never learns how a transaction ended; it records voids.
type silent struct{ voids atomic.Int64 }

var silentDriver = &silent{}

func init() {
	drivers.Register("test-silent", func(drivers.Config) (drivers.Driver, error) { return silentDriver, nil })
}

func (s *silent) Types() []catalog.Type { return []catalog.Type{catalog.TypeTopUp} }
func (s *silent) Execute(ctx context.Context, _ drivers.Request) (drivers.Result, error) {
	<-ctx.Done()
	return drivers.Result{}, ctx.Err()
}
func (s *silent) Inquire(context.Context, drivers.Request) (drivers.Status, drivers.Result, error) {
	return drivers.StatusUnknown, drivers.Result{}, nil
}
func (s *silent) Void(context.Context, drivers.Request, drivers.Result) error {
	s.voids.Add(1)
	return nil
}

func TestPendingEndsAtTheCeiling(t *testing.T) {
	tg := newTestGateway(t, func(o *gateway.Options) {
		o.ResolveEvery = 20 * time.Millisecond
		o.Config.InquiryBackoff = gatewayDuration(10 * time.Millisecond)
		o.Config.PendingCeiling = gatewayDuration(400 * time.Millisecond)
		o.Config.Suppliers = append(o.Config.Suppliers, supplierConfig(t, `{"name":"quiet","driver":"test-silent","timeout":"100ms"}`))
	})
	wantStatus(t, tg.call("PUT", "/v1/products/quiet-topup", testAdminKey, map[string]any{"type": "topup", "name": "Quiet",
		"currency": "USD", "min_amount": 100, "max_amount": 10000, "suppliers": []string{"quiet"}}), 201, "")
	lane := tg.terminal("lane-1", "m-42")
	m := wantStatus(t, tg.sell(lane, "k", map[string]any{"product_id": "quiet-topup", "amount": 500, "currency": "USD",
		"recipient": map[string]string{"msisdn": "+15551235678"}}), 202, "")
	got := waitStatus(t, tg, lane, m["id"].(string))
	if got["status"] != "failed" || silentDriver.voids.Load() != 1 {
		t.Fatalf("at the ceiling: %v, %d voids", got, silentDriver.voids.Load())
	}
	var inquiries int
	if err := tg.g.DB.R.Get(&inquiries, `SELECT inquiries FROM transactions WHERE id=?`, m["id"]); err != nil || inquiries < 2 || inquiries > 8 {
		t.Fatalf("%d inquiries in 400 ms with backoff from 10 ms (%v)", inquiries, err)
	}
}

func TestDemoSellsOverHTTPDrivers(t *testing.T) {
	tg := newTestGateway(t)
	lane := tg.terminal("lane-1", "m-42")
	m := wantStatus(t, tg.sell(lane, "t", map[string]any{"product_id": gateway.DemoHTTPTopUpProduct, "amount": 1500,
		"currency": "USD", "recipient": map[string]string{"msisdn": "+15551235678"}}), 201, "")
	if m["supplier"] != "reloadly-demo" {
		t.Fatalf("top-up: %v", m)
	}
	m = wantStatus(t, tg.sell(lane, "g", map[string]any{"product_id": gateway.DemoHTTPGiftCardProduct, "amount": 2500,
		"currency": "USD", "card": map[string]string{"number": "6006491234565678"}}), 201, "")
	if m["supplier"] != "dtone-demo" {
		t.Fatalf("gift card: %v", m)
	}
	wantStatus(t, tg.sell(lane, "d", map[string]any{"product_id": gateway.DemoHTTPGiftCardProduct, "amount": 2500,
		"currency": "USD", "card": map[string]string{"number": "6006491234560000"}}), 422, "supplier_declined")
}

func TestSimulateCommand(t *testing.T) {
	addr := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out strings.Builder
	go func() {
		done <- gateway.Main(ctx, []string{"simulate", "--api", "dtone", "--listen", addr, "--decline-rate", "1"},
			func(string) string { return "" }, &syncWriter{w: &out}, io.Discard)
	}()
	var resp *http.Response
	for i := 0; ; i++ {
		req, _ := http.NewRequest("POST", "http://"+addr+"/v1/sync/transactions", strings.NewReader(
			`{"external_id":"x1","product_id":1,"auto_confirm":true,"credit_party_identifier":{"mobile_number":"+15551235678"}}`))
		req.SetBasicAuth("sim-key", "sim-secret")
		var err error
		if resp, err = http.DefaultClient.Do(req); err == nil {
			break
		}
		if i > 100 {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var body struct {
		Status struct {
			Class struct {
				ID int `json:"id"`
			} `json:"class"`
		} `json:"status"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if body.Status.Class.ID != 9 {
		t.Fatalf("--decline-rate 1 answered class %d, want 9 (declined)", body.Status.Class.ID)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("simulate: %v", err)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestNodeSettingsKeepTheKeyUnlessRekeyed(t *testing.T) {
	hub := newTestGateway(t, func(o *gateway.Options) { o.Mode = gateway.ModeHub })
	first := wantStatus(t, hub.call("PUT", "/v1/nodes/store-1", testAdminKey, map[string]any{}), 201, "")
	key := first["api_key"].(string)
	sync := map[string]any{"instance": "ins_a", "config_hash": ""}
	wantStatus(t, hub.call("POST", "/v1/sync", key, sync), 200, "")

	m := wantStatus(t, hub.call("PUT", "/v1/nodes/store-1", testAdminKey, map[string]any{"hours_of_cover": 24}), 200, "")
	if _, ok := m["api_key"]; ok || m["hours_of_cover"] != 24.0 {
		t.Fatalf("a settings change re-keyed the node: %v", m)
	}
	wantStatus(t, hub.call("POST", "/v1/sync", key, sync), 200, "")
	// Another database with the same key is refused while the node is bound.
	wantStatus(t, hub.call("POST", "/v1/sync", key, map[string]any{"instance": "ins_b"}), 409, "node_conflict")

	m = wantStatus(t, hub.call("PUT", "/v1/nodes/store-1", testAdminKey, map[string]any{"rekey": true}), 200, "")
	wantStatus(t, hub.call("POST", "/v1/sync", key, sync), 401, "unauthorized")
	// The re-keyed node can move to the new database.
	wantStatus(t, hub.call("POST", "/v1/sync", m["api_key"].(string), map[string]any{"instance": "ins_b"}), 200, "")
	nodes := wantStatus(t, hub.call("GET", "/v1/nodes", testSupportKey, nil), 200, "")
	if n := nodes["items"].([]any); len(n) != 1 || n[0].(map[string]any)["last_sync_at"] == nil {
		t.Fatalf("nodes: %v", nodes)
	}
	wantStatus(t, hub.call("POST", "/v1/transactions", key, pinSale, "Idempotency-Key", "x"), 401, "unauthorized")
}

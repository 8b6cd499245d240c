package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prepaidgw/gateway"
	"github.com/prepaidgw/gateway/inventory"
)

// BenchmarkPINSale measures whole PIN sales through HTTP, many lanes at once: the figure that
// decides how many lanes one machine serves. Each sale is three synced commits today.
func BenchmarkPINSale(b *testing.B) {
	t := &testing.T{}
	tg := newTestGateway(t)
	defer tg.close()
	tg.t = t
	lane := tg.terminal("bench", "m")
	i := 0
	if _, err := tg.g.Inventory.Import(context.Background(), gateway.DemoPINProduct, tg.g.NodeID, func() (inventory.Row, error) {
		if i >= b.N+100 {
			return inventory.Row{}, io.EOF
		}
		i++
		return inventory.Row{Serial: fmt.Sprintf("B-%d", i), PIN: fmt.Sprintf("PIN-%012d", i)}, nil
	}); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", tg.srv.URL+"/v1/transactions", strings.NewReader(`{"product_id":"demo-pin-10","currency":"USD"}`))
			req.Header.Set("Authorization", "Bearer "+lane)
			req.Header.Set("Idempotency-Key", fmt.Sprintf("b-%d", n.Add(1)))
			resp, err := tg.srv.Client().Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 201 {
				b.Errorf("sale: %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sales/s")
}

// BenchmarkSaleBreakerOpen measures the answer to a lane when the product's only supplier's
// breaker is open: a recorded 503, no supplier call.
func BenchmarkSaleBreakerOpen(b *testing.B) {
	t := &testing.T{}
	dead := startUpstream(t)
	dead.down()
	tg := newTestGateway(t, func(o *gateway.Options) {
		o.Config.Suppliers = append(o.Config.Suppliers, reloadlySupplier(t, "rl", dead.addr, "1s", 1, "1h"))
	})
	defer tg.close()
	tg.call("PUT", "/v1/products/http-topup", testAdminKey, map[string]any{"type": "topup", "name": "HTTP top-up",
		"currency": "USD", "min_amount": 100, "max_amount": 10000, "suppliers": []string{"rl"}})
	lane := tg.terminal("bench", "m")
	tg.sell(lane, "trip", httpTopUp("+15551235678"))
	body := `{"product_id":"http-topup","amount":1500,"currency":"USD","recipient":{"msisdn":"+15551235678"}}`
	b.ResetTimer()
	for i := range b.N {
		req, _ := http.NewRequest("POST", tg.srv.URL+"/v1/transactions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+lane)
		req.Header.Set("Idempotency-Key", fmt.Sprintf("b-%d", i))
		resp, err := tg.srv.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/answer")
}

// BenchmarkHubToTenServers measures, for a hub and ten server nodes on loopback with the
// default 2 s sync interval, the time a change at the hub (a new terminal, a revocation, new
// stock) takes to reach all ten, and the sync traffic per server per idle minute:
//
//	go test -run X -bench HubToTenServers -benchtime 1x .
func BenchmarkHubToTenServers(b *testing.B) {
	t := &testing.T{}
	hub := newTestGateway(t, func(o *gateway.Options) { o.Mode = gateway.ModeHub })
	defer hub.close()
	const n = 10
	var servers []*testGateway
	for i := range n {
		id := fmt.Sprintf("store-%02d", i)
		m := hub.call("PUT", "/v1/nodes/"+id, testAdminKey, map[string]any{})
		key := m.JSON(t)["api_key"].(string)
		hub.call("PUT", "/v1/inventory/levels", testAdminKey, map[string]any{"node_id": id, "product_id": gateway.DemoPINProduct, "target_level": 20, "reorder_level": 0})
		srv := newTestGateway(t, func(o *gateway.Options) {
			o.Mode, o.Demo, o.HubURL, o.NodeKey = gateway.ModeServer, false, hub.srv.URL, key
			o.Config.NodeID = id
		})
		defer srv.close()
		servers = append(servers, srv)
	}
	waitAll := func(ok func(*testGateway) bool) time.Duration {
		start := time.Now()
		for {
			all := true
			for _, s := range servers {
				all = all && ok(s)
			}
			if all {
				return time.Since(start)
			}
			if time.Since(start) > time.Minute {
				b.Fatal("a change did not reach all servers within a minute")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	stockAt := func(s *testGateway) int {
		n, _ := s.g.Inventory.Available(context.Background(), gateway.DemoPINProduct, s.g.NodeID)
		return n
	}
	waitAll(func(s *testGateway) bool { return stockAt(s) == 20 })

	// A new terminal of each store, then its revocation.
	var lanes []string
	for i := range n {
		m := hub.call("PUT", fmt.Sprintf("/v1/terminals/lane-%02d", i), testAdminKey, map[string]any{"merchant_id": "m", "node_id": fmt.Sprintf("store-%02d", i)})
		lanes = append(lanes, m.JSON(t)["api_key"].(string))
	}
	authOK := func(i int) bool {
		_, err := servers[i].g.Auth.Authenticate(context.Background(), lanes[i])
		return err == nil
	}
	start := time.Now()
	for {
		all := true
		for i := range n {
			all = all && authOK(i)
		}
		if all {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	newTerminal := time.Since(start)
	start = time.Now()
	for i := range n {
		hub.call("DELETE", fmt.Sprintf("/v1/terminals/lane-%02d", i), testAdminKey, nil)
	}
	var revoked time.Duration
	for {
		all := true
		for i := range n {
			all = all && !authOK(i)
		}
		if all {
			revoked = time.Since(start)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// More stock: raise every target.
	for i := range n {
		hub.call("PUT", "/v1/inventory/levels", testAdminKey, map[string]any{"node_id": fmt.Sprintf("store-%02d", i), "product_id": gateway.DemoPINProduct, "target_level": 30, "reorder_level": 0})
	}
	stock := waitAll(func(s *testGateway) bool { return stockAt(s) == 30 })

	// Idle traffic.
	before := make([]int64, n)
	for i, s := range servers {
		st := s.g.Sync.Status()
		before[i] = st.BytesSent + st.BytesRecvd
	}
	const window = 10 * time.Second
	time.Sleep(window)
	var bytes int64
	for i, s := range servers {
		st := s.g.Sync.Status()
		bytes += st.BytesSent + st.BytesRecvd - before[i]
	}
	b.ReportMetric(float64(newTerminal.Milliseconds()), "ms-new-terminal-to-10")
	b.ReportMetric(float64(revoked.Milliseconds()), "ms-revocation-to-10")
	b.ReportMetric(float64(stock.Milliseconds()), "ms-new-stock-to-10")
	b.ReportMetric(float64(bytes)/n/window.Minutes()/1024, "KiB/server/idle-min")
}

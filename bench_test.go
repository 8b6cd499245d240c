package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

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

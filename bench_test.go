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

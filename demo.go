package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/drivers/dtone/dtonesim"
	"github.com/prepaidgw/gateway/drivers/reloadly/reloadlysim"
	"github.com/prepaidgw/gateway/drivers/upstreamsim"
	"github.com/prepaidgw/gateway/inventory"
	"github.com/prepaidgw/gateway/supply"
)

// The demo catalog's product ids, as the README's walk-through uses them.
const (
	DemoPINProduct      = "demo-pin-10"
	DemoTopUpProduct    = "demo-topup-us"
	DemoGiftCardProduct = "demo-gift-us"
	// Sold through the Reloadly- and DT One-style drivers, over HTTP to their simulators.
	DemoHTTPTopUpProduct    = "demo-topup-http"
	DemoHTTPGiftCardProduct = "demo-gift-http"
	demoPINStock            = 500
)

// demoUpstreams are the loopback addresses of the demo's simulated supplier APIs.
type demoUpstreams struct{ reloadly, dtone string }

// startDemoUpstreams serves the Reloadly- and DT One-style simulators on loopback.
func startDemoUpstreams() (demoUpstreams, func(), error) {
	var u demoUpstreams
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	knobs := upstreamsim.Knobs{Latency: 20 * time.Millisecond}
	for _, up := range []struct {
		addr *string
		h    interface {
			http.Handler
			Close()
		}
	}{{&u.reloadly, reloadlysim.New(knobs)}, {&u.dtone, dtonesim.New(knobs)}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			closeAll()
			return u, nil, err
		}
		srv := &http.Server{Handler: up.h, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		h := up.h
		closers = append(closers, func() { h.Close(); _ = srv.Close() })
		*up.addr = "http://" + ln.Addr().String()
	}
	return u, closeAll, nil
}

func demoSuppliers(u demoUpstreams) []supply.SupplierConfig {
	fast := supply.BreakerConfig{Failures: 5, OpenFor: dur(10 * time.Second)}
	reloadly, _ := json.Marshal(map[string]any{"base_url": u.reloadly, "client_id": reloadlysim.ClientID,
		"client_secret": reloadlysim.ClientSecret, "operators": map[string]int{DemoHTTPTopUpProduct: 341}})
	dtone, _ := json.Marshal(map[string]any{"base_url": u.dtone, "api_key": dtonesim.APIKey, "api_secret": dtonesim.APISecret,
		"products": map[string]int{DemoHTTPTopUpProduct: 1001, DemoHTTPGiftCardProduct: 2001}})
	return []supply.SupplierConfig{
		{Name: "reloadly-demo", Driver: "reloadly", Settings: reloadly, Timeout: dur(3 * time.Second), Breaker: fast},
		{Name: "dtone-demo", Driver: "dtone", Settings: dtone, Timeout: dur(3 * time.Second), Breaker: fast},
		{Name: "sim-pin", Driver: "simpin", Settings: json.RawMessage(`{"delivery":"2s"}`), Breaker: fast},
		{Name: "sim-topup", Driver: "sim", Settings: json.RawMessage(`{"types":["topup"],"latency":"30ms"}`), Timeout: dur(3 * time.Second), Breaker: fast},
		{Name: "sim-topup-backup", Driver: "sim", Settings: json.RawMessage(`{"types":["topup"],"latency":"60ms"}`), Timeout: dur(3 * time.Second), Breaker: fast},
		{Name: "sim-gift", Driver: "sim", Settings: json.RawMessage(`{"types":["giftcard"],"latency":"40ms"}`), Timeout: dur(3 * time.Second), Breaker: fast},
	}
}

func dur(d time.Duration) drivers.Duration { return drivers.Duration(d) }

func i64(v int64) *int64 { return &v }

// seedDemo adds the demo products once, and PIN stock when the demo PIN product has none.
func seedDemo(ctx context.Context, g *Gateway) error {
	products := []catalog.Product{
		{ID: DemoPINProduct, Type: catalog.TypePIN, Name: "Demo phone card 10 USD", Currency: "USD", Amount: i64(1000), Suppliers: []string{"sim-pin"}, Active: true},
		{ID: DemoTopUpProduct, Type: catalog.TypeTopUp, Name: "Demo US mobile top-up 5-100 USD", Currency: "USD", MinAmount: i64(500), MaxAmount: i64(10000), Suppliers: []string{"sim-topup", "sim-topup-backup"}, Active: true},
		{ID: DemoGiftCardProduct, Type: catalog.TypeGiftCard, Name: "Demo gift card 10-500 USD", Currency: "USD", MinAmount: i64(1000), MaxAmount: i64(50000), Suppliers: []string{"sim-gift"}, Active: true},
		{ID: DemoHTTPTopUpProduct, Type: catalog.TypeTopUp, Name: "Demo top-up over HTTP (Reloadly-style, DT One-style fallback)", Currency: "USD", MinAmount: i64(500), MaxAmount: i64(10000), Suppliers: []string{"reloadly-demo", "dtone-demo"}, Active: true},
		{ID: DemoHTTPGiftCardProduct, Type: catalog.TypeGiftCard, Name: "Demo gift card over HTTP (DT One-style)", Currency: "USD", MinAmount: i64(1000), MaxAmount: i64(50000), Suppliers: []string{"dtone-demo"}, Active: true},
	}
	for _, p := range products {
		if _, err := g.Catalog.Get(ctx, p.ID); err == nil {
			continue
		}
		if err := p.Validate(g.Router.Types); err != nil {
			return err
		}
		if _, err := g.Catalog.Put(ctx, p); err != nil {
			return err
		}
	}
	levels, err := g.Inventory.Levels(ctx)
	if err != nil {
		return err
	}
	if len(levels) == 0 {
		// The demo never runs dry: under 100 PINs, the simulated supplier is asked for more.
		if err := g.Inventory.SetLevel(ctx, inventory.Level{NodeID: g.NodeID, ProductID: DemoPINProduct,
			TargetLevel: demoPINStock, ReorderLevel: 100}); err != nil {
			return err
		}
	}
	n, err := g.Inventory.Available(ctx, DemoPINProduct, g.NodeID)
	if err != nil || n > 0 {
		return err
	}
	expires := time.Now().UTC().AddDate(1, 0, 0).Truncate(24 * time.Hour)
	stamp := time.Now().UTC().Format("20060102150405")
	i := 0
	_, err = g.Inventory.Import(ctx, DemoPINProduct, g.NodeID, func() (inventory.Row, error) {
		if i == demoPINStock {
			return inventory.Row{}, io.EOF
		}
		i++
		return inventory.Row{Line: i, Serial: fmt.Sprintf("DEMO-%s-%05d", stamp, i),
			PIN: demoPIN(stamp, i), ExpiresAt: &expires}, nil
	})
	return err
}

// demoPIN makes a PIN-like code that differs for every serial.
func demoPIN(stamp string, i int) string {
	var x uint64 = 1469598103934665603
	for _, c := range stamp + fmt.Sprint(i) {
		x = (x ^ uint64(c)) * 1099511628211
	}
	d := fmt.Sprintf("%012d", x%1_000_000_000_000)
	return d[0:4] + "-" + d[4:8] + "-" + d[8:12]
}

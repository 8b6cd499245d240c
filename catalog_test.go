package gateway_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/prepaidgw/gateway"
)

func TestProductCatalog(t *testing.T) {
	tg := newTestGateway(t)
	lane := tg.terminal("lane-1", "m-42")

	list := wantStatus(t, tg.call("GET", "/v1/products", lane, nil), 200, "")
	if n := len(list["items"].([]any)); n != 5 {
		t.Fatalf("demo catalog has %d products", n)
	}
	pins := wantStatus(t, tg.call("GET", "/v1/products?type=pin", lane, nil), 200, "")
	items := pins["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["stock"].(map[string]any)["available"].(float64) <= 0 {
		t.Fatalf("pin products: %v", pins)
	}
	wantStatus(t, tg.call("GET", "/v1/products?type=voucher", lane, nil), 422, "validation_failed")
	wantStatus(t, tg.call("GET", "/v1/products/nope", lane, nil), 404, "not_found")

	good := map[string]any{"type": "topup", "name": "MX top-up", "currency": "MXN", "min_amount": 1000, "max_amount": 50000,
		"suppliers": []string{"sim-topup-backup", "sim-topup"}}
	m := wantStatus(t, tg.call("PUT", "/v1/products/mx-topup", testAdminKey, good), 201, "")
	if m["active"] != true || m["suppliers"].([]any)[0] != "sim-topup-backup" {
		t.Fatalf("created %v", m)
	}
	good["name"] = "MX top-up (new name)"
	m = wantStatus(t, tg.call("PUT", "/v1/products/mx-topup", testAdminKey, good), 200, "")
	if m["name"] != "MX top-up (new name)" {
		t.Fatalf("replaced %v", m)
	}

	bad := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"unknown supplier", map[string]any{"type": "topup", "name": "x", "currency": "USD", "min_amount": 1, "max_amount": 2, "suppliers": []string{"ghost"}}, "suppliers[0]"},
		{"supplier of another type", map[string]any{"type": "giftcard", "name": "x", "currency": "USD", "min_amount": 1, "max_amount": 2, "suppliers": []string{"sim-topup"}}, "suppliers[0]"},
		{"bad range", map[string]any{"type": "topup", "name": "x", "currency": "USD", "min_amount": 500, "max_amount": 100, "suppliers": []string{"sim-topup"}}, "max_amount"},
		{"fixed and range", map[string]any{"type": "topup", "name": "x", "currency": "USD", "amount": 5, "min_amount": 1, "max_amount": 9, "suppliers": []string{"sim-topup"}}, "amount"},
		{"no amount", map[string]any{"type": "pin", "name": "x", "currency": "USD", "suppliers": []string{"sim-pin"}}, "amount"},
		{"unknown type", map[string]any{"type": "voucher", "name": "x", "currency": "USD", "amount": 5, "suppliers": []string{"sim-pin"}}, "type"},
		{"bad currency", map[string]any{"type": "pin", "name": "x", "currency": "usd", "amount": 5, "suppliers": []string{"sim-pin"}}, "currency"},
		{"no suppliers", map[string]any{"type": "pin", "name": "x", "currency": "USD", "amount": 5}, "suppliers"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			m := wantStatus(t, tg.call("PUT", "/v1/products/bad-product", testAdminKey, c.body), 422, "validation_failed")
			found := false
			for _, e := range m["errors"].([]any) {
				found = found || e.(map[string]any)["field"] == c.field
			}
			if !found {
				t.Fatalf("errors do not name %s: %v", c.field, m["errors"])
			}
		})
	}
	wantStatus(t, tg.call("GET", "/v1/products/bad-product", lane, nil), 404, "not_found")

	// An inactive product cannot be sold.
	off := map[string]any{"type": "pin", "name": "Demo phone card 10 USD", "currency": "USD", "amount": 1000,
		"suppliers": []string{"sim-pin"}, "active": false}
	wantStatus(t, tg.call("PUT", "/v1/products/"+gateway.DemoPINProduct, testAdminKey, off), 200, "")
	wantStatus(t, tg.sell(lane, "k-off", pinSale), 404, "unknown_product")
}

func TestTerminalValidation(t *testing.T) {
	tg := newTestGateway(t)
	wantStatus(t, tg.call("PUT", "/v1/terminals/lane-1", testAdminKey, map[string]any{}), 422, "validation_failed")
	wantStatus(t, tg.call("PUT", "/v1/terminals/lane-1", testAdminKey, map[string]any{"merchant_id": "m", "node_id": "elsewhere"}), 422, "validation_failed")
	wantStatus(t, tg.call("PUT", "/v1/terminals/lane%201", testAdminKey, map[string]any{"merchant_id": "m"}), 422, "validation_failed")
	m := wantStatus(t, tg.call("PUT", "/v1/terminals/lane-1", testAdminKey, map[string]any{"merchant_id": "m"}), 201, "")
	if m["node_id"] != gateway.DefaultNodeID || !strings.HasPrefix(m["api_key"].(string), "gwt_") {
		t.Fatalf("terminal %v", m)
	}
}

func TestOperationsEndpoints(t *testing.T) {
	tg := newTestGateway(t)
	wantStatus(t, tg.call("GET", "/healthz", "", nil), 200, "")
	if m := wantStatus(t, tg.call("GET", "/readyz", "", nil), 200, ""); m["status"] != "ready" {
		t.Fatalf("readyz %v", m)
	}
	lane := tg.terminal("lane-1", "m-42")
	wantStatus(t, tg.sell(lane, "k", pinSale), 201, "")
	r := tg.call("GET", "/metrics", "", nil)
	for _, want := range []string{`gateway_transactions_total{status="approved",type="pin"} 1`, `gateway_supplier_breaker_state{state="closed",supplier="sim-pin"} 1`, "gateway_http_request_duration_seconds"} {
		if r.Status != 200 || !strings.Contains(string(r.Body), want) {
			t.Fatalf("metrics lack %s", want)
		}
	}
	sup := wantStatus(t, tg.call("GET", "/v1/suppliers", testAdminKey, nil), 200, "")
	if len(sup["items"].([]any)) != 6 {
		t.Fatalf("suppliers %v", sup)
	}
	wantStatus(t, tg.call("GET", "/v1/nowhere", lane, nil), 404, "not_found")
	wantStatus(t, tg.call("PATCH", "/v1/products", lane, nil), 405, "method_not_allowed")
}

func TestRateLimit(t *testing.T) {
	tg := newTestGateway(t, func(o *gateway.Options) { o.Config.RateLimit = 5 })
	lane := tg.terminal("lane-1", "m-42")
	var mu sync.Mutex
	limited := 0
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := tg.call("GET", fmt.Sprintf("/v1/products?i=%d", i), lane, nil)
			if r.Status == 429 {
				wantStatus(t, r, 429, "rate_limited")
				if r.Header.Get("Retry-After") == "" {
					t.Error("429 without Retry-After")
				}
				mu.Lock()
				limited++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if limited == 0 {
		t.Fatal("20 requests at once at 5/s were all let through")
	}
	// Another key has its own budget.
	wantStatus(t, tg.call("GET", "/v1/products", testSupportKey, nil), 200, "")
}

func TestMethodNotAllowedSaysWhatIs(t *testing.T) {
	tg := newTestGateway(t)
	r := tg.call("PATCH", "/v1/products/x", testAdminKey, nil)
	wantStatus(t, r, 405, "method_not_allowed")
	if allow := r.Header.Get("Allow"); allow != "GET, HEAD, PUT" {
		t.Fatalf("Allow %q", allow)
	}
}

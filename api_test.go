package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prepaidgw/gateway"
	"github.com/prepaidgw/gateway/drivers/sim"
)

var (
	pinSale   = map[string]any{"product_id": gateway.DemoPINProduct, "currency": "USD"}
	topUpSale = map[string]any{"product_id": gateway.DemoTopUpProduct, "amount": 1500, "currency": "USD",
		"recipient": map[string]string{"msisdn": "+1 (555) 123-4567"}}
	giftSale = map[string]any{"product_id": gateway.DemoGiftCardProduct, "amount": 2500, "currency": "USD",
		"card": map[string]string{"number": "6006 4912 3456 7890"}}
)

func wantStatus(t *testing.T, r response, status int, code string) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if len(r.Body) == 0 && code == "" {
		return nil
	}
	m := r.JSON(t)
	if code != "" {
		if m["code"] != code {
			t.Fatalf("code %v, want %s: %s", m["code"], code, r.Body)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("problem Content-Type %q", ct)
		}
	}
	return m
}

// transactionCount is how many transactions the gateway has recorded, as admin sees it.
func (tg *testGateway) transactionCount() int {
	tg.t.Helper()
	n, cursor := 0, ""
	for {
		r := tg.call("GET", "/v1/transactions?limit=200&cursor="+cursor, testAdminKey, nil)
		m := wantStatus(tg.t, r, 200, "")
		n += len(m["items"].([]any))
		next, _ := m["next_cursor"].(string)
		if next == "" {
			return n
		}
		cursor = next
	}
}

func (tg *testGateway) pinStock() int {
	tg.t.Helper()
	r := tg.call("GET", "/v1/products/"+gateway.DemoPINProduct, testAdminKey, nil)
	m := wantStatus(tg.t, r, 200, "")
	return int(m["stock"].(map[string]any)["available"].(float64))
}

func TestSalesOfEachType(t *testing.T) {
	tg := newTestGateway(t)
	lane := tg.terminal("lane-1", "m-42")

	r := tg.sell(lane, "k-pin", pinSale)
	m := wantStatus(t, r, http.StatusCreated, "")
	pin := m["pin"].(map[string]any)
	if m["status"] != "approved" || m["type"] != "pin" || m["amount"] != 1000.0 || pin["code"] == "" || strings.HasPrefix(pin["code"].(string), "*") {
		t.Fatalf("PIN sale: %s", r.Body)
	}
	if loc := r.Header.Get("Location"); loc != "/v1/transactions/"+m["id"].(string) {
		t.Fatalf("Location %q", loc)
	}

	r = tg.sell(lane, "k-topup", topUpSale)
	m = wantStatus(t, r, http.StatusCreated, "")
	if m["type"] != "topup" || m["recipient"].(map[string]any)["msisdn"] != "+15551234567" || m["supplier"] != "sim-topup" {
		t.Fatalf("top-up not normalised or routed: %s", r.Body)
	}

	r = tg.sell(lane, "k-gift", giftSale)
	m = wantStatus(t, r, http.StatusCreated, "")
	if m["type"] != "giftcard" || m["card"].(map[string]any)["last4"] != "7890" || bytes.Contains(r.Body, []byte("6006491234567890")) {
		t.Fatalf("gift card answer: %s", r.Body)
	}
}

func TestAuthStatusCodes(t *testing.T) {
	tg := newTestGateway(t)
	lane := tg.terminal("lane-1", "m-42")

	wantStatus(t, tg.call("GET", "/v1/products", "", nil), 401, "unauthorized")
	wantStatus(t, tg.call("GET", "/v1/products", "gwt_not_a_key", nil), 401, "unauthorized")
	wantStatus(t, tg.call("GET", "/v1/products", lane, nil), 200, "")
	wantStatus(t, tg.call("GET", "/v1/products", testSupportKey, nil), 200, "")
	// Roles: support is read-only, a lane cannot administer, admin cannot sell.
	wantStatus(t, tg.sell(testSupportKey, "k1", pinSale), 403, "forbidden")
	wantStatus(t, tg.sell(testAdminKey, "k1", pinSale), 403, "forbidden")
	wantStatus(t, tg.call("PUT", "/v1/products/x", lane, map[string]any{}), 403, "forbidden")
	wantStatus(t, tg.call("PUT", "/v1/terminals/lane-9", testSupportKey, map[string]any{"merchant_id": "m"}), 403, "forbidden")
	wantStatus(t, tg.call("GET", "/v1/suppliers", lane, nil), 403, "forbidden")
	wantStatus(t, tg.call("GET", "/v1/suppliers", testSupportKey, nil), 200, "")

	// Revocation takes effect at once.
	wantStatus(t, tg.call("DELETE", "/v1/terminals/lane-1", testAdminKey, nil), 204, "")
	wantStatus(t, tg.sell(lane, "k2", pinSale), 401, "unauthorized")
	wantStatus(t, tg.call("DELETE", "/v1/terminals/lane-1", testAdminKey, nil), 404, "not_found")

	// Re-keying replaces the old key.
	k1 := tg.terminal("lane-2", "m-42")
	k2 := tg.terminal("lane-2", "m-42")
	wantStatus(t, tg.call("GET", "/v1/products", k1, nil), 401, "unauthorized")
	wantStatus(t, tg.call("GET", "/v1/products", k2, nil), 200, "")
}

func TestTerminalNeverSeesAnothersTransaction(t *testing.T) {
	tg := newTestGateway(t)
	a := tg.terminal("lane-a", "m-1")
	b := tg.terminal("lane-b", "m-2")
	m := wantStatus(t, tg.sell(a, "k", pinSale), 201, "")
	id := m["id"].(string)
	code := m["pin"].(map[string]any)["code"].(string)

	wantStatus(t, tg.call("GET", "/v1/transactions/"+id, b, nil), 404, "not_found")
	wantStatus(t, tg.call("GET", "/v1/transactions/txn_nope", b, nil), 404, "not_found")
	wantStatus(t, tg.call("POST", "/v1/transactions/"+id+"/void", b, nil), 404, "not_found")
	list := wantStatus(t, tg.call("GET", "/v1/transactions", b, nil), 200, "")
	if len(list["items"].([]any)) != 0 {
		t.Fatalf("lane b lists lane a's sale: %v", list)
	}
	list = wantStatus(t, tg.call("GET", "/v1/transactions?terminal_id=lane-a", b, nil), 200, "")
	if len(list["items"].([]any)) != 0 {
		t.Fatalf("lane b lists lane a's sale by filter: %v", list)
	}

	// The buying lane may reprint the PIN; support sees it masked.
	own := wantStatus(t, tg.call("GET", "/v1/transactions/"+id, a, nil), 200, "")
	if own["pin"].(map[string]any)["code"] != code {
		t.Fatalf("reprint: %v", own)
	}
	sup := wantStatus(t, tg.call("GET", "/v1/transactions/"+id, testSupportKey, nil), 200, "")
	masked := sup["pin"].(map[string]any)["code"].(string)
	if masked != "****"+strings.ReplaceAll(code, "-", "")[8:] {
		t.Fatalf("support sees PIN code %q (full %q)", masked, code)
	}
}

func TestBadInputIsAProblemAndRecordsNothing(t *testing.T) {
	tg := newTestGateway(t)
	lane := tg.terminal("lane-1", "m-42")
	stock := tg.pinStock()
	big := `{"product_id":"` + strings.Repeat("x", 10<<20) + `"}`
	cases := []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"malformed JSON", `{"product_id": "demo-pin-10",`, 400, "malformed_json", ""},
		{"not an object", `[1,2]`, 400, "malformed_json", ""},
		{"empty body", ``, 400, "malformed_json", ""},
		{"two objects", `{"product_id":"demo-pin-10","currency":"USD"}{}`, 400, "malformed_json", ""},
		{"unknown field", `{"product_id":"demo-pin-10","currency":"USD","tip":5}`, 422, "validation_failed", "tip"},
		{"10 MiB body", big, 413, "payload_too_large", ""},
		{"negative amount", map[string]any{"product_id": gateway.DemoTopUpProduct, "amount": -1500, "currency": "USD", "recipient": map[string]string{"msisdn": "+15551234567"}}, 422, "validation_failed", "amount"},
		{"fractional amount", `{"product_id":"demo-topup-us","amount":15.5,"currency":"USD","recipient":{"msisdn":"+15551234567"}}`, 422, "validation_failed", "amount"},
		{"topup carrying a card", map[string]any{"product_id": gateway.DemoTopUpProduct, "amount": 1500, "currency": "USD", "recipient": map[string]string{"msisdn": "+15551234567"}, "card": map[string]string{"number": "6006491234567890"}}, 422, "validation_failed", "card"},
		{"pin carrying a recipient", map[string]any{"product_id": gateway.DemoPINProduct, "currency": "USD", "recipient": map[string]string{"msisdn": "+15551234567"}}, 422, "validation_failed", "recipient"},
		{"topup without number", map[string]any{"product_id": gateway.DemoTopUpProduct, "amount": 1500, "currency": "USD"}, 422, "validation_failed", "recipient.msisdn"},
		{"bad number", map[string]any{"product_id": gateway.DemoTopUpProduct, "amount": 1500, "currency": "USD", "recipient": map[string]string{"msisdn": "5551234567"}}, 422, "validation_failed", "recipient.msisdn"},
		{"amount out of range", map[string]any{"product_id": gateway.DemoTopUpProduct, "amount": 100, "currency": "USD", "recipient": map[string]string{"msisdn": "+15551234567"}}, 422, "validation_failed", "amount"},
		{"wrong fixed amount", map[string]any{"product_id": gateway.DemoPINProduct, "amount": 999, "currency": "USD"}, 422, "validation_failed", "amount"},
		{"bad currency", map[string]any{"product_id": gateway.DemoPINProduct, "currency": "USX"}, 422, "validation_failed", "currency"},
		{"other currency", map[string]any{"product_id": gateway.DemoPINProduct, "currency": "EUR"}, 422, "validation_failed", "currency"},
		{"bad card", map[string]any{"product_id": gateway.DemoGiftCardProduct, "amount": 2500, "currency": "USD", "card": map[string]string{"number": "12ab"}}, 422, "validation_failed", "card.number"},
		{"no product", map[string]any{"currency": "USD"}, 422, "validation_failed", "product_id"},
		{"unknown product", map[string]any{"product_id": "nope", "currency": "USD"}, 404, "unknown_product", ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := wantStatus(t, tg.sell(lane, fmt.Sprintf("bad-%d", i), c.body), c.status, c.code)
			if _, ok := m["transaction_id"]; ok {
				t.Fatalf("bad input recorded a transaction: %v", m)
			}
			if m["detail"] == "" || m["title"] == "" {
				t.Fatalf("problem without detail: %v", m)
			}
			if c.field != "" {
				var fields []string
				for _, e := range m["errors"].([]any) {
					fields = append(fields, e.(map[string]any)["field"].(string))
				}
				if !contains(fields, c.field) {
					t.Fatalf("errors name %v, want %s", fields, c.field)
				}
			}
		})
	}
	wantStatus(t, tg.call("POST", "/v1/transactions", lane, pinSale), 400, "idempotency_key_required")
	wantStatus(t, tg.call("POST", "/v1/transactions", lane, pinSale, "Idempotency-Key", strings.Repeat("k", 256)), 400, "idempotency_key_required")
	if n := tg.transactionCount(); n != 0 {
		t.Fatalf("%d transactions recorded by bad input", n)
	}
	if got := tg.pinStock(); got != stock {
		t.Fatalf("stock moved from %d to %d", stock, got)
	}
	// A key used by bad input stays free for the good request.
	wantStatus(t, tg.sell(lane, "bad-0", pinSale), 201, "")
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestIdempotentReplayAndReuse(t *testing.T) {
	tg := newTestGateway(t)
	lane := tg.terminal("lane-1", "m-42")
	other := tg.terminal("lane-2", "m-42")
	first := tg.sell(lane, "receipt-1", pinSale)
	wantStatus(t, first, 201, "")
	stock := tg.pinStock()

	// Same key, same content (another key order and spacing): the first answer, byte for byte.
	again := tg.sell(lane, "receipt-1", `{ "currency": "USD",  "product_id": "demo-pin-10" }`)
	if again.Status != first.Status || !bytes.Equal(again.Body, first.Body) {
		t.Fatalf("replay differs:\n%d %s\n%d %s", first.Status, first.Body, again.Status, again.Body)
	}
	if again.Header.Get("Idempotent-Replayed") != "true" || first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("Idempotent-Replayed header: first %q, replay %q", first.Header.Get("Idempotent-Replayed"), again.Header.Get("Idempotent-Replayed"))
	}
	if tg.pinStock() != stock || tg.transactionCount() != 1 {
		t.Fatal("a replay sold again")
	}
	// Same key, another body.
	wantStatus(t, tg.sell(lane, "receipt-1", topUpSale), 409, "idempotency_key_reuse")
	// Keys are scoped to the lane.
	wantStatus(t, tg.sell(other, "receipt-1", pinSale), 201, "")

	// A declined sale replays as the same problem.
	declined := map[string]any{"product_id": gateway.DemoTopUpProduct, "amount": 1500, "currency": "USD",
		"recipient": map[string]string{"msisdn": "+15551230000"}}
	d1 := tg.sell(lane, "receipt-2", declined)
	wantStatus(t, d1, 422, "supplier_declined")
	d2 := tg.sell(lane, "receipt-2", declined)
	if d2.Status != 422 || !bytes.Equal(d1.Body, d2.Body) || d2.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("declined replay differs: %s / %s", d1.Body, d2.Body)
	}
}

func TestIdempotencySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	tg := openTestGateway(t, dir)
	lane := tg.terminal("lane-1", "m-42")
	first := tg.sell(lane, "receipt-1", pinSale)
	wantStatus(t, first, 201, "")
	tg.close()

	tg = openTestGateway(t, dir)
	again := tg.sell(lane, "receipt-1", pinSale)
	if again.Status != 201 || !bytes.Equal(again.Body, first.Body) {
		t.Fatalf("after restart: %d %s", again.Status, again.Body)
	}
	if tg.transactionCount() != 1 {
		t.Fatal("restart let a retry sell again")
	}
}

func TestConcurrentDuplicatesCreateOneTransaction(t *testing.T) {
	tg := newTestGateway(t)
	lane := tg.terminal("lane-1", "m-42")
	stock := tg.pinStock()
	const n = 20
	answers := make([]response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			answers[i] = tg.sell(lane, "same-key", pinSale)
		}()
	}
	close(start)
	wg.Wait()
	for i, a := range answers {
		if a.Status != 201 || !bytes.Equal(a.Body, answers[0].Body) {
			t.Fatalf("answer %d: %d %s (first %s)", i, a.Status, a.Body, answers[0].Body)
		}
	}
	if got := tg.transactionCount(); got != 1 {
		t.Fatalf("%d transactions for one key", got)
	}
	if got := tg.pinStock(); got != stock-1 {
		t.Fatalf("stock %d → %d for one sale", stock, got)
	}
}

func TestConcurrentSalesOfTheLastPINs(t *testing.T) {
	tg := newTestGateway(t)
	tg.noReplenish()
	lane := tg.terminal("lane-1", "m-42")
	// Sell down to the last 50 through the API.
	for tg.pinStock() > 50 {
		n := tg.pinStock() - 50
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tg.sell(lane, fmt.Sprintf("warm-%d-%d", n, i), pinSale)
			}()
			if i%20 == 19 {
				wg.Wait()
			}
		}
		wg.Wait()
	}
	const buyers = 200
	answers := make([]response, buyers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			answers[i] = tg.sell(lane, fmt.Sprintf("last-%d", i), pinSale)
		}()
	}
	close(start)
	wg.Wait()
	codes := map[string]bool{}
	serials := map[string]bool{}
	sold, out := 0, 0
	for _, a := range answers {
		switch a.Status {
		case 201:
			pin := a.JSON(t)["pin"].(map[string]any)
			serials[pin["serial"].(string)] = true
			codes[pin["code"].(string)] = true
			sold++
		case 409:
			m := wantStatus(t, a, 409, "out_of_stock")
			if m["transaction_id"] == nil {
				t.Fatal("out_of_stock without transaction_id")
			}
			out++
		default:
			t.Fatalf("unexpected answer %d %s", a.Status, a.Body)
		}
	}
	if sold != 50 || len(serials) != 50 || len(codes) != 50 || out != 150 {
		t.Fatalf("sold %d (%d distinct serials, %d distinct codes), out of stock %d; want 50, 50, 50, 150", sold, len(serials), len(codes), out)
	}
	if tg.pinStock() != 0 {
		t.Fatalf("stock left: %d", tg.pinStock())
	}
}

func TestSupplierUnavailableAndFailover(t *testing.T) {
	tg := newTestGateway(t)
	lane := tg.terminal("lane-1", "m-42")
	primary := tg.simDriver("sim-topup")
	backup := tg.simDriver("sim-topup-backup")

	primary.SetDown(true)
	m := wantStatus(t, tg.sell(lane, "k1", topUpSale), 201, "")
	if m["supplier"] != "sim-topup-backup" {
		t.Fatalf("no failover: %v", m)
	}
	backup.SetDown(true)
	r := tg.sell(lane, "k2", topUpSale)
	m = wantStatus(t, r, 503, "supplier_unavailable")
	if r.Header.Get("Retry-After") == "" || m["transaction_id"] == nil {
		t.Fatalf("503 without Retry-After or transaction_id: %v %v", r.Header, m)
	}
	txn := wantStatus(t, tg.call("GET", "/v1/transactions/"+m["transaction_id"].(string), lane, nil), 200, "")
	if txn["status"] != "failed" || txn["error"].(map[string]any)["code"] != "supplier_unavailable" {
		t.Fatalf("recorded as %v", txn)
	}
}

func (tg *testGateway) simDriver(name string) *sim.Driver {
	tg.t.Helper()
	d, ok := tg.g.Router.Driver(name)
	if !ok {
		tg.t.Fatalf("no supplier %s", name)
	}
	return d.(*sim.Driver)
}

func TestPendingIsResolvedByInquiry(t *testing.T) {
	tg := newTestGateway(t, func(o *gateway.Options) {
		o.ResolveEvery = 20 * time.Millisecond
		o.Config.Suppliers = append(o.Config.Suppliers, supplierConfig(t, `{"name":"sim-slow","driver":"sim","timeout":"150ms","settings":{"types":["topup"]}}`))
	})
	lane := tg.terminal("lane-1", "m-42")
	wantStatus(t, tg.call("PUT", "/v1/products/slow-topup", testAdminKey, map[string]any{
		"type": "topup", "name": "Slow top-up", "currency": "USD", "min_amount": 100, "max_amount": 10000, "suppliers": []string{"sim-slow"},
	}), 201, "")
	hang := map[string]any{"product_id": "slow-topup", "amount": 1500, "currency": "USD", "recipient": map[string]string{"msisdn": "+15551230001"}}
	r := tg.sell(lane, "k1", hang)
	m := wantStatus(t, r, 202, "")
	if m["status"] != "pending" {
		t.Fatalf("hang answered %v", m)
	}
	id := m["id"].(string)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := wantStatus(t, tg.call("GET", "/v1/transactions/"+id, lane, nil), 200, "")
		if got["status"] == "approved" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %v", got["status"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if calls := tg.simDriver("sim-slow").Calls.Load(); calls != 1 {
		t.Fatalf("the supplier was sent the request %d times", calls)
	}
	// The retry still gets the first answer.
	again := tg.sell(lane, "k1", hang)
	if again.Status != 202 || !bytes.Equal(again.Body, r.Body) {
		t.Fatalf("replay after resolution: %d %s", again.Status, again.Body)
	}
}

func supplierConfig(t *testing.T, js string) (c gatewaySupplier) {
	t.Helper()
	if err := json.Unmarshal([]byte(js), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestVoid(t *testing.T) {
	tg := newTestGateway(t)
	tg.noReplenish()
	lane := tg.terminal("lane-1", "m-42")
	sale := wantStatus(t, tg.sell(lane, "k1", pinSale), 201, "")
	id := sale["id"].(string)
	serial := sale["pin"].(map[string]any)["serial"].(string)

	wantStatus(t, tg.call("POST", "/v1/transactions/"+id+"/void", testSupportKey, nil), 403, "forbidden")
	v := wantStatus(t, tg.call("POST", "/v1/transactions/"+id+"/void", lane, nil), 200, "")
	if v["status"] != "voided" {
		t.Fatalf("void: %v", v)
	}
	again := wantStatus(t, tg.call("POST", "/v1/transactions/"+id+"/void", testAdminKey, nil), 200, "")
	if again["status"] != "voided" || again["id"] != id {
		t.Fatalf("second void: %v", again)
	}
	declined := wantStatus(t, tg.sell(lane, "k2", map[string]any{"product_id": gateway.DemoTopUpProduct, "amount": 1500,
		"currency": "USD", "recipient": map[string]string{"msisdn": "+15551230000"}}), 422, "supplier_declined")
	wantStatus(t, tg.call("POST", "/v1/transactions/"+declined["transaction_id"].(string)+"/void", lane, nil), 409, "void_not_allowed")

	// The voided PIN is never sold again: sell the product out and look for it.
	for i := 0; ; i++ {
		r := tg.sell(lane, fmt.Sprintf("drain-%d", i), pinSale)
		if r.Status == 409 {
			break
		}
		m := wantStatus(t, r, 201, "")
		if m["pin"].(map[string]any)["serial"] == serial {
			t.Fatalf("voided PIN %s sold again", serial)
		}
	}
}

func TestVoidWindow(t *testing.T) {
	tg := newTestGateway(t, func(o *gateway.Options) { o.Config.VoidWindow = gatewayDuration(time.Millisecond) })
	lane := tg.terminal("lane-1", "m-42")
	sale := wantStatus(t, tg.sell(lane, "k1", pinSale), 201, "")
	time.Sleep(5 * time.Millisecond)
	m := wantStatus(t, tg.call("POST", "/v1/transactions/"+sale["id"].(string)+"/void", lane, nil), 409, "void_not_allowed")
	if !strings.Contains(m["detail"].(string), "window") {
		t.Fatalf("detail: %v", m["detail"])
	}
}

func TestDuplicateWhileTheFirstIsRunning(t *testing.T) {
	tg := newTestGateway(t, func(o *gateway.Options) {
		o.Config.DuplicateWait = gatewayDuration(100 * time.Millisecond)
		o.Config.Suppliers = append(o.Config.Suppliers, supplierConfig(t, `{"name":"sim-slow","driver":"sim","timeout":"1s","settings":{"types":["topup"]}}`))
	})
	lane := tg.terminal("lane-1", "m-42")
	wantStatus(t, tg.call("PUT", "/v1/products/slow-topup", testAdminKey, map[string]any{
		"type": "topup", "name": "Slow top-up", "currency": "USD", "min_amount": 100, "max_amount": 10000, "suppliers": []string{"sim-slow"},
	}), 201, "")
	hang := map[string]any{"product_id": "slow-topup", "amount": 1500, "currency": "USD", "recipient": map[string]string{"msisdn": "+15551230001"}}
	first := make(chan response, 1)
	go func() { first <- tg.sell(lane, "k1", hang) }()
	time.Sleep(200 * time.Millisecond)
	wantStatus(t, tg.sell(lane, "k1", hang), 409, "idempotency_in_progress")
	r := <-first
	wantStatus(t, r, 202, "")
	// Once the first has its answer, the duplicate gets it too.
	again := tg.sell(lane, "k1", hang)
	if again.Status != 202 || !bytes.Equal(again.Body, r.Body) {
		t.Fatalf("after the first finished: %d %s", again.Status, again.Body)
	}
}

// A large body sent without Content-Length (chunked) is cut off at the limit too.
func TestChunkedOversizedBody(t *testing.T) {
	tg := newTestGateway(t)
	lane := tg.terminal("lane-1", "m-42")
	body := io.MultiReader(strings.NewReader(`{"product_id":"`), strings.NewReader(strings.Repeat("x", 10<<20)), strings.NewReader(`"}`))
	req, _ := http.NewRequest("POST", tg.srv.URL+"/v1/transactions", io.NopCloser(body))
	req.Header.Set("Authorization", "Bearer "+lane)
	req.Header.Set("Idempotency-Key", "big")
	resp, err := tg.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if req.ContentLength > 0 {
		t.Fatal("the request was not chunked")
	}
	wantStatus(t, response{Status: resp.StatusCode, Header: resp.Header, Body: b}, 413, "payload_too_large")
	if n := tg.transactionCount(); n != 0 {
		t.Fatalf("%d transactions recorded", n)
	}
}

package gateway_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prepaidgw/gateway"
	"github.com/prepaidgw/gateway/secret"
)

// addPINProduct creates a PIN product sold by the demo's PIN supplier, with no stock.
func (tg *testGateway) addPINProduct(id string, suppliers ...string) {
	tg.t.Helper()
	if len(suppliers) == 0 {
		suppliers = []string{"sim-pin"}
	}
	wantStatus(tg.t, tg.call("PUT", "/v1/products/"+id, testAdminKey, map[string]any{
		"type": "pin", "name": "PIN " + id, "currency": "USD", "amount": 500, "suppliers": suppliers}), 201, "")
}

func (tg *testGateway) importCSV(product, csv string) response {
	tg.t.Helper()
	return tg.call("POST", "/v1/inventory/batches?product_id="+product, testAdminKey, csv, "Content-Type", "text/csv")
}

// count returns the inventory row of product at the local node.
func (tg *testGateway) count(product string) map[string]float64 {
	tg.t.Helper()
	m := wantStatus(tg.t, tg.call("GET", "/v1/inventory", testSupportKey, nil), 200, "")
	out := map[string]float64{}
	for _, it := range m["items"].([]any) {
		row := it.(map[string]any)
		if row["product_id"] == product && row["node_id"] == gateway.DefaultNodeID {
			for k, v := range row {
				if f, ok := v.(float64); ok {
					out[k] = f
				}
			}
		}
	}
	return out
}

func csvOf(rows ...string) string { return "serial,pin,expires_at\n" + strings.Join(rows, "\n") + "\n" }

func future(days int) string { return time.Now().UTC().AddDate(0, 0, days).Format("2006-01-02") }

func TestImportBatch(t *testing.T) {
	tg := newTestGateway(t)
	tg.addPINProduct("card-5")
	r := tg.importCSV("card-5", csvOf("S-1,1111-2222-3333,"+future(30), "S-2,4444-5555-6666,", "S-3,7777-8888-9999,"+time.Now().AddDate(1, 0, 0).UTC().Format(time.RFC3339)))
	m := wantStatus(t, r, 201, "")
	if m["count"] != 3.0 || m["product_id"] != "card-5" || !strings.HasPrefix(m["batch_id"].(string), "bat_") {
		t.Fatalf("batch %v", m)
	}
	if c := tg.count("card-5"); c["available"] != 3 {
		t.Fatalf("counts %v", c)
	}
	wantStatus(t, tg.call("POST", "/v1/inventory/batches?product_id=card-5", testSupportKey, "x", "Content-Type", "text/csv"), 403, "forbidden")
	wantStatus(t, tg.importCSV("nope", csvOf("S-9,1111-2222-9999,")), 422, "validation_failed")
	wantStatus(t, tg.importCSV(gateway.DemoTopUpProduct, csvOf("S-9,1111-2222-9999,")), 422, "validation_failed")
}

func TestImportIsAllOrNothing(t *testing.T) {
	tg := newTestGateway(t)
	tg.addPINProduct("card-5")
	wantStatus(t, tg.importCSV("card-5", csvOf("S-1,1111-2222-3333,", "S-2,4444-5555-6666,")), 201, "")
	before := tg.count("card-5")
	cases := []struct {
		name   string
		csv    string
		status int
		code   string
		line   string
	}{
		{"bad PIN", csvOf("N-1,1234-5678-0001,", "N-2,!!,", "N-3,1234-5678-0003,"), 422, "validation_failed", "line 3"},
		{"bad serial", csvOf("N-1,1234-5678-0001,", "N 2,1234-5678-0002,"), 422, "validation_failed", "line 3"},
		{"duplicate in the file", csvOf("N-1,1234-5678-0001,", "N-2,1234-5678-0002,", "N-1,1234-5678-0009,"), 409, "duplicate_pin", "line 4"},
		{"duplicate PIN in the file", csvOf("N-1,1234-5678-0001,", "N-2,1234-5678-0001,"), 409, "duplicate_pin", "line 3"},
		{"duplicate against stock", csvOf("N-1,1234-5678-0001,", "S-2,1234-5678-0002,"), 409, "duplicate_pin", "line 3"},
		{"PIN already in stock", csvOf("N-1,4444-5555-6666,"), 409, "duplicate_pin", "line 2"},
		{"missing column", csvOf("N-1,1234-5678-0001,", "N-2,1234-5678-0002"), 422, "validation_failed", "line 3"},
		{"wrong header", "serial,code,expires\nN-1,1234-5678-0001,\n", 422, "validation_failed", "line 1"},
		{"no rows", "serial,pin,expires_at\n", 422, "validation_failed", "line 1"},
		{"empty file", "", 422, "validation_failed", "line 1"},
		{"expired", csvOf("N-1,1234-5678-0001,", "N-2,1234-5678-0002,2020-01-31"), 422, "validation_failed", "line 3"},
		{"bad date", csvOf("N-1,1234-5678-0001,31/12/2030"), 422, "validation_failed", "line 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := wantStatus(t, tg.importCSV("card-5", c.csv), c.status, c.code)
			errs, _ := m["errors"].([]any)
			if len(errs) == 0 || errs[0].(map[string]any)["field"] != c.line {
				t.Fatalf("errors %v, want the first to name %s", errs, c.line)
			}
			if after := tg.count("card-5"); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("stock changed: %v → %v", before, after)
			}
		})
	}
	// At most the first 100 problems are listed.
	var bad []string
	for i := range 150 {
		bad = append(bad, fmt.Sprintf("B-%d,x,", i))
	}
	m := wantStatus(t, tg.importCSV("card-5", csvOf(bad...)), 422, "validation_failed")
	if n := len(m["errors"].([]any)); n != 100 {
		t.Fatalf("%d errors listed", n)
	}
}

func TestImportFromTheShell(t *testing.T) {
	dir := t.TempDir()
	tg := openTestGateway(t, dir)
	tg.addPINProduct("card-5")
	tg.close()
	file := filepath.Join(t.TempDir(), "pins.csv")
	if err := os.WriteFile(file, []byte(csvOf("C-1,1234-5678-0001,", "C-2,1234-5678-0002,")), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	env := func(k string) string { return "" }
	if err := gateway.Main(context.Background(), []string{"import", "--product", "card-5", "--data", dir, file}, env, &out, &errOut); err != nil {
		t.Fatalf("import: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "imported 2 PINs") {
		t.Fatalf("output %q", out.String())
	}
	// The same file again is refused whole, naming the lines.
	out.Reset()
	errOut.Reset()
	if err := gateway.Main(context.Background(), []string{"import", "--product", "card-5", "--data", dir, file}, env, &out, &errOut); err == nil ||
		!strings.Contains(errOut.String(), "line 2") {
		t.Fatalf("duplicate import: %v %q", err, errOut.String())
	}
	tg = openTestGateway(t, dir)
	if c := tg.count("card-5"); c["available"] != 2 {
		t.Fatalf("counts %v", c)
	}
}

func TestImportedPINsAreNotStoredInClear(t *testing.T) {
	tg := newTestGateway(t)
	tg.addPINProduct("card-5")
	var rows, pins []string
	for i := range 200 {
		pin := fmt.Sprintf("9%03d-%04d-%04d", i, i*7, i*13)
		pins = append(pins, pin, strings.ReplaceAll(pin, "-", ""))
		rows = append(rows, fmt.Sprintf("X-%d,%s,", i, pin))
	}
	wantStatus(t, tg.importCSV("card-5", csvOf(rows...)), 201, "")
	tg.close()
	disk := readDataFiles(t, tg.dir)
	for _, p := range pins {
		if bytes.Contains(disk, []byte(p)) {
			t.Fatalf("PIN %s is on disk in clear", p)
		}
	}
}

func readDataFiles(t *testing.T, dir string) []byte {
	t.Helper()
	var disk []byte
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".key" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		disk = append(disk, b...)
	}
	return disk
}

func TestWrongOrMissingKeyStopsTheStart(t *testing.T) {
	dir := t.TempDir()
	tg := openTestGateway(t, dir)
	tg.close()
	keyFile := filepath.Join(dir, "pin.key")
	good, _ := os.ReadFile(keyFile)

	if err := secret.WriteKeyFile(keyFile, secret.NewKey()); err != nil {
		t.Fatal(err)
	}
	_, err := gateway.Open(context.Background(), gateway.Options{DataDir: dir, Demo: true})
	if err == nil || !strings.Contains(err.Error(), "PIN key does not open") {
		t.Fatalf("wrong key: %v", err)
	}
	os.Remove(keyFile)
	_, err = gateway.Open(context.Background(), gateway.Options{DataDir: dir, Demo: true})
	if err == nil || !strings.Contains(err.Error(), "no PIN key") {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := os.Stat(keyFile); err == nil {
		t.Fatal("a missing key was replaced by a new one")
	}
	_, err = gateway.Open(context.Background(), gateway.Options{DataDir: dir, Demo: true,
		Env: func(k string) string {
			if k == "GATEWAY_PIN_KEY" {
				return hex.EncodeToString(bytes.Repeat([]byte{7}, 32))
			}
			return ""
		}})
	if err == nil || !strings.Contains(err.Error(), "PIN key does not open") {
		t.Fatalf("wrong key from the environment: %v", err)
	}
	if err := os.WriteFile(keyFile, good, 0o600); err != nil {
		t.Fatal(err)
	}
	openTestGateway(t, dir)
}

func TestKeyRotationWhileSelling(t *testing.T) {
	dir := t.TempDir()
	tg := openTestGateway(t, dir)
	tg.noReplenish()
	lane := tg.terminal("lane-1", "m-42")
	codes := map[string]string{} // transaction id → PIN code
	var mu sync.Mutex
	sell := func(key string) {
		r := tg.sell(lane, key, pinSale)
		if r.Status != 201 {
			t.Errorf("sale during rotation: %d %s", r.Status, r.Body)
			return
		}
		m := r.JSON(t)
		mu.Lock()
		codes[m["id"].(string)] = m["pin"].(map[string]any)["code"].(string)
		mu.Unlock()
	}
	for i := range 20 {
		sell(fmt.Sprintf("before-%d", i))
	}
	oldID := secret.KeyID(mustKeys(t, dir)[0])

	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		done <- gateway.Main(context.Background(), []string{"keys", "rotate-pin-key", "--data", dir, "--grace", "1500ms"},
			func(string) string { return "" }, &out, &out)
	}()
	// Sales go on while the rotation runs.
	for i := 0; ; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("rotate: %v\n%s", err, out.String())
			}
			goto rotated
		default:
		}
		sell(fmt.Sprintf("during-%d", i))
		time.Sleep(10 * time.Millisecond)
	}
rotated:
	keys := mustKeys(t, dir)
	if len(keys) != 1 || secret.KeyID(keys[0]) == oldID {
		t.Fatalf("key file after rotation holds %d keys, old key still current: %v", len(keys), secret.KeyID(keys[0]) == oldID)
	}
	for i := range 5 {
		sell(fmt.Sprintf("after-%d", i))
	}
	tg.close()
	// A fresh start with only the new key reads every sold PIN and sells the rest.
	tg = openTestGateway(t, dir)
	for id, code := range codes {
		m := wantStatus(t, tg.call("GET", "/v1/transactions/"+id, lane, nil), 200, "")
		if m["pin"].(map[string]any)["code"] != code {
			t.Fatalf("after rotation %s reprints %v, sold as %s", id, m["pin"], code)
		}
	}
	for i := 0; ; i++ {
		r := tg.sell(lane, fmt.Sprintf("drain-%d", i), pinSale)
		if r.Status == 409 {
			break
		}
		wantStatus(t, r, 201, "")
	}
}

func mustKeys(t *testing.T, dir string) [][]byte {
	t.Helper()
	keys, err := secret.ReadKeyFile(filepath.Join(dir, "pin.key"))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestFirstExpiryFirstOutAndExpiredNeverSold(t *testing.T) {
	tg := newTestGateway(t)
	tg.addPINProduct("card-5")
	lane := tg.terminal("lane-1", "m-42")
	wantStatus(t, tg.importCSV("card-5", csvOf("LATE,1000-0000-0001,"+future(300), "NONE,1000-0000-0002,", "SOON,1000-0000-0003,"+future(10),
		"MID,1000-0000-0004,"+future(100), "GONE,1000-0000-0005,"+future(5))), 201, "")
	// GONE expires: a test-only jump of its date into the past.
	if _, err := tg.g.DB.W.Exec(`UPDATE pins SET expires_at='2020-01-01T00:00:00.000000000Z' WHERE serial='GONE'`); err != nil {
		t.Fatal(err)
	}
	if c := tg.count("card-5"); c["expired"] != 1 || c["available"] != 4 {
		t.Fatalf("counts %v", c)
	}
	var order []string
	for i := 0; ; i++ {
		r := tg.sell(lane, fmt.Sprintf("k-%d", i), map[string]any{"product_id": "card-5", "currency": "USD"})
		if r.Status == 409 {
			break
		}
		order = append(order, wantStatus(t, r, 201, "")["pin"].(map[string]any)["serial"].(string))
	}
	if got := strings.Join(order, ","); got != "SOON,MID,LATE,NONE" {
		t.Fatalf("sold in the order %s", got)
	}
	if c := tg.count("card-5"); c["expired"] != 1 || c["sold"] != 4 || c["available"] != 0 {
		t.Fatalf("counts %v", c)
	}
}

func TestLevels(t *testing.T) {
	tg := newTestGateway(t)
	tg.addPINProduct("card-5")
	put := func(body map[string]any) response { return tg.call("PUT", "/v1/inventory/levels", testAdminKey, body) }
	m := wantStatus(t, put(map[string]any{"product_id": "card-5", "target_level": 100, "reorder_level": 20}), 200, "")
	if m["node_id"] != gateway.DefaultNodeID {
		t.Fatalf("level %v", m)
	}
	if c := tg.count("card-5"); c["target_level"] != 100 || c["reorder_level"] != 20 {
		t.Fatalf("counts %v", c)
	}
	for _, bad := range []map[string]any{
		{"product_id": "card-5", "target_level": 10, "reorder_level": 20},
		{"product_id": "card-5", "target_level": -1, "reorder_level": 0},
		{"product_id": "nope", "target_level": 10, "reorder_level": 2},
		{"product_id": gateway.DemoTopUpProduct, "target_level": 10, "reorder_level": 2},
		{"product_id": "card-5", "node_id": "elsewhere", "target_level": 10, "reorder_level": 2},
	} {
		wantStatus(t, put(bad), 422, "validation_failed")
	}
	wantStatus(t, tg.call("PUT", "/v1/inventory/levels", testSupportKey, map[string]any{}), 403, "forbidden")
	if c := tg.count("card-5"); c["target_level"] != 100 || c["reorder_level"] != 20 {
		t.Fatalf("a rejected level changed the counts: %v", c)
	}
}

func TestReplenishment(t *testing.T) {
	tg := newTestGateway(t, func(o *gateway.Options) {
		o.ReplenishEvery = 20 * time.Millisecond
		o.Config.Suppliers = append(o.Config.Suppliers, supplierConfig(t, `{"name":"pin-wholesale","driver":"simpin","settings":{"delivery":"300ms"}}`))
	})
	tg.addPINProduct("card-5", "pin-wholesale")
	lane := tg.terminal("lane-1", "m-42")
	var rows []string
	for i := range 60 {
		rows = append(rows, fmt.Sprintf("R-%d,5000-0000-%04d,", i, i))
	}
	wantStatus(t, tg.importCSV("card-5", csvOf(rows...)), 201, "")
	wantStatus(t, tg.call("PUT", "/v1/inventory/levels", testAdminKey, map[string]any{"product_id": "card-5", "target_level": 60, "reorder_level": 50}), 200, "")
	sale := map[string]any{"product_id": "card-5", "currency": "USD"}
	for i := range 10 {
		wantStatus(t, tg.sell(lane, fmt.Sprintf("a-%d", i), sale), 201, "")
	}
	time.Sleep(100 * time.Millisecond)
	if orders := tg.orders(); len(orders) != 0 {
		t.Fatalf("ordered at the reorder level: %v", orders)
	}
	// Under the reorder level: one order, however many sales follow while it is open.
	for i := range 5 {
		wantStatus(t, tg.sell(lane, fmt.Sprintf("b-%d", i), sale), 201, "")
	}
	deadline := time.Now().Add(5 * time.Second)
	var orders []any
	for {
		orders = tg.orders()
		if len(orders) == 1 && orders[0].(map[string]any)["status"] == "received" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(orders) != 1 {
		t.Fatalf("%d orders placed: %v", len(orders), orders)
	}
	o := orders[0].(map[string]any)
	if o["status"] != "received" || o["quantity"] != 11.0 || o["received"] != 11.0 || o["supplier"] != "pin-wholesale" {
		t.Fatalf("order %v", o)
	}
	c := tg.count("card-5")
	sold := 15.0
	if c["available"] != 60-sold+11 || c["sold"] != sold {
		t.Fatalf("counts %v", c)
	}
	if sum := c["available"] + c["reserved"] + c["sold"] + c["voided"] + c["expired"]; sum != 60+o["received"].(float64) {
		t.Fatalf("counts add up to %v, imported 60 + received %v", sum, o["received"])
	}
	r := tg.call("GET", "/metrics", "", nil)
	if !strings.Contains(string(r.Body), `gateway_pin_stock_low{node="local",product="card-5"} 0`) {
		t.Fatal("metrics lack the stock level")
	}
}

func (tg *testGateway) orders() []any {
	tg.t.Helper()
	m := wantStatus(tg.t, tg.call("GET", "/v1/inventory/orders", testSupportKey, nil), 200, "")
	return m["items"].([]any)
}

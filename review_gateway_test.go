package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prepaidgw/gateway"
)

// PUT /v1/terminals/{id} for a revoked (or live) id "re-creates" it under another merchant, but
// every old transaction, and every idempotency key, stays attached to the id: the new owner
// reads the old merchant's PIN codes in full and replays their sales.
func TestReviewReRegisteredTerminalSeesOldMerchantsPINs(t *testing.T) {
	tg := newTestGateway(t)
	old := tg.terminal("lane-3", "m-42")
	sale := wantStatus(t, tg.sell(old, "receipt-1", pinSale), 201, "")
	code := sale["pin"].(map[string]any)["code"].(string)
	wantStatus(t, tg.call("DELETE", "/v1/terminals/lane-3", testAdminKey, nil), 204, "")

	// Another merchant cannot take over the id, and so never sees m-42's sales.
	wantStatus(t, tg.call("PUT", "/v1/terminals/lane-3", testAdminKey, map[string]string{"merchant_id": "m-99"}), 422, "validation_failed")
	// The same merchant may re-register its lane and reprint its own sale.
	again := tg.terminal("lane-3", "m-42")
	got := wantStatus(t, tg.call("GET", "/v1/transactions/"+sale["id"].(string), again, nil), 200, "")
	if got["pin"].(map[string]any)["code"] != code {
		t.Fatalf("the re-registered lane cannot reprint: %v", got)
	}
}

// The void of a PIN sale is two commits: the PIN is quarantined first, then the transaction
// is marked voided. A crash (or a failing second commit) between them leaves the PIN voided
// and the transaction approved, and every retry of the void is 409 void_not_allowed.
func TestReviewVoidHalfDoneCannotBeRetried(t *testing.T) {
	tg := newTestGateway(t)
	lane := tg.terminal("lane-1", "m-42")
	sale := wantStatus(t, tg.sell(lane, "k1", pinSale), 201, "")
	id := sale["id"].(string)
	// What the first commit of Void leaves behind if the process dies right after it.
	if err := tg.g.Inventory.Void(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	r := tg.call("POST", "/v1/transactions/"+id+"/void", lane, nil)
	txn := wantStatus(t, tg.call("GET", "/v1/transactions/"+id, lane, nil), 200, "")
	if r.Status != 200 {
		t.Fatalf("void retry: %d %s; the transaction stays %v while its PIN is voided", r.Status, r.Body, txn["status"])
	}
}

// A CSV without its header line: the first data row, PIN included, is echoed in the problem
// detail and errors (and by `gateway import` on stderr).
func TestReviewMissingHeaderEchoesAPIN(t *testing.T) {
	tg := newTestGateway(t)
	tg.addPINProduct("card-5")
	r := tg.importCSV("card-5", "S-1,9876-5432-1098,\nS-2,1111-2222-3333,\n")
	if bytes.Contains(r.Body, []byte("9876-5432-1098")) {
		t.Fatalf("the import problem shows a PIN: %d %s", r.Status, r.Body)
	}
}

// `gateway keys rotate-pin-key` while the gateway is serving and importing: the rotation's
// NewStore discards the live import's staged rows (see inventory review test for the count).
func TestReviewRotationDuringHTTPImport(t *testing.T) {
	dir := t.TempDir()
	tg := openTestGateway(t, dir)
	tg.addPINProduct("card-5")
	// A slow upload: 25,000 rows, with a pause after 21,000 rows.
	pr, pw := ioPipe()
	go func() {
		fmt.Fprintln(pw, "serial,pin,expires_at")
		for i := 0; i < 25_000; i++ {
			if i == 21_000 {
				time.Sleep(1500 * time.Millisecond)
			}
			fmt.Fprintf(pw, "R%07d,%04d-%04d-0001,\n", i, i%10000, i/10000)
		}
		pw.Close()
	}()
	type res struct {
		status int
		body   string
	}
	done := make(chan res, 1)
	go func() {
		req, _ := http.NewRequest("POST", tg.srv.URL+"/v1/inventory/batches?product_id=card-5", pr)
		req.Header.Set("Authorization", "Bearer "+testAdminKey)
		req.Header.Set("Content-Type", "text/csv")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- res{0, err.Error()}
			return
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		done <- res{resp.StatusCode, b.String()}
	}()
	time.Sleep(700 * time.Millisecond)
	var out bytes.Buffer
	if err := gateway.Main(context.Background(), []string{"keys", "rotate-pin-key", "--data", dir, "--grace", "10ms"},
		func(string) string { return "" }, &out, &out); err != nil {
		t.Fatalf("rotate: %v %s", err, out.String())
	}
	r := <-done
	c := tg.count("card-5")
	t.Logf("import answered %d %s; available now %v", r.status, strings.TrimSpace(r.body), c["available"])
	if r.status == 201 && c["available"] != 25_000 {
		t.Fatalf("import answered 201 for 25000 PINs but %v are in stock", c["available"])
	}
	_ = os.Remove(filepath.Join(dir, "nothing"))
}

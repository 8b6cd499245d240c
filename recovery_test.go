package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prepaidgw/gateway"
	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/drivers/pinstock"
)

// stallingPIN sells from stock like pinstock, but can be told to stall for ever right before
// or right after the claim: the moment a power cut would hit.
type stallingPIN struct {
	*pinstock.Driver // its status inquiry is pinstock's own
	stock            drivers.Stock
}

var stall struct {
	sync.Mutex
	beforeClaim, afterClaim bool
	reached                 chan struct{}
	release                 chan struct{}
}

func init() {
	drivers.Register("test-stalling-pin", func(cfg drivers.Config) (drivers.Driver, error) {
		d, err := pinstock.New(drivers.Config{Name: cfg.Name, Env: cfg.Env})
		if err != nil {
			return nil, err
		}
		return &stallingPIN{Driver: d.(*pinstock.Driver), stock: cfg.Env.Stock}, nil
	})
}

func (d *stallingPIN) Execute(ctx context.Context, req drivers.Request) (drivers.Result, error) {
	stall.Lock()
	before, after, reached, release := stall.beforeClaim, stall.afterClaim, stall.reached, stall.release
	stall.Unlock()
	if before {
		close(reached)
		<-release
		return drivers.Result{}, errors.New("the power went")
	}
	pin, err := d.stock.Claim(ctx, req.ProductID, req.NodeID, req.TransactionID)
	if err != nil {
		return drivers.Result{}, err
	}
	if after {
		close(reached)
		<-release
		return drivers.Result{}, errors.New("the power went")
	}
	return drivers.Result{SupplierRef: pin.Serial, PIN: &pin}, nil
}

func withStallingSupplier(o *gateway.Options) {
	o.ResolveEvery = 20 * time.Millisecond
	o.Config.Suppliers = append(o.Config.Suppliers, gatewaySupplier{Name: "stalling", Driver: "test-stalling-pin"})
}

// copyDir copies a live database directory: what a machine that lost power finds on disk,
// since every commit was synced before it was acknowledged.
func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

func TestCrashInTheMiddleOfAPINSale(t *testing.T) {
	for _, tc := range []struct {
		name       string
		afterClaim bool
		want       string
	}{
		{"before the claim", false, "failed"},
		{"after the claim", true, "approved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTestGateway(t, withStallingSupplier)
			lane := tg.terminal("lane-1", "m-42")
			wantStatus(t, tg.call("PUT", "/v1/products/stall-pin", testAdminKey, map[string]any{
				"type": "pin", "name": "Stalling PIN", "currency": "USD", "amount": 1000, "suppliers": []string{"stalling"},
			}), 201, "")
			moved := moveDemoStock(t, tg, "stall-pin", 3)

			stall.Lock()
			stall.beforeClaim, stall.afterClaim, stall.reached = !tc.afterClaim, tc.afterClaim, make(chan struct{})
			stall.release = make(chan struct{})
			reached, release := stall.reached, stall.release
			// Let the stalled first gateway finish when the test ends, so that it can close.
			t.Cleanup(func() { close(release) })
			stall.Unlock()
			// This request gets no answer before the "power" goes.
			go tg.rawSell(lane, "receipt-1", `{"product_id":"stall-pin","currency":"USD"}`)
			<-reached
			crashed := copyDir(t, tg.dir)
			stall.Lock()
			stall.beforeClaim, stall.afterClaim = false, false
			stall.Unlock()

			tg2 := openTestGateway(t, crashed, withStallingSupplier)
			retry := tg2.sell(lane, "receipt-1", map[string]any{"product_id": "stall-pin", "currency": "USD"})
			m := wantStatus(t, retry, 202, "")
			id := m["id"].(string)
			got := waitStatus(t, tg2, lane, id)
			if got["status"] != tc.want {
				t.Fatalf("after restart the sale is %v, want %s", got["status"], tc.want)
			}
			// Every PIN is in exactly one place: sold to this sale, or still for sale.
			left := 0
			for i := 0; ; i++ {
				r := tg2.sell(lane, "after-"+string(rune('a'+i)), map[string]any{"product_id": "stall-pin", "currency": "USD"})
				if r.Status == 409 {
					break
				}
				s := wantStatus(t, r, 201, "")
				if tc.afterClaim && s["pin"].(map[string]any)["serial"] == got["pin"].(map[string]any)["serial"] {
					t.Fatal("the PIN of the interrupted sale was sold again")
				}
				left++
			}
			wantLeft := moved
			if tc.afterClaim {
				wantLeft--
			}
			if left != wantLeft {
				t.Fatalf("%d PINs sold after restart, want %d", left, wantLeft)
			}
		})
	}
}

func waitStatus(t *testing.T, tg *testGateway, key, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m := wantStatus(t, tg.call("GET", "/v1/transactions/"+id, key, nil), 200, "")
		if m["status"] != "pending" || time.Now().After(deadline) {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// moveDemoStock re-homes n demo PINs to product: a test-only shortcut through the database.
func moveDemoStock(t *testing.T, tg *testGateway, product string, n int) int {
	t.Helper()
	res, err := tg.g.DB.W.Exec(`UPDATE pins SET product_id=? WHERE id IN (SELECT id FROM pins WHERE product_id=? AND state='available' LIMIT ?)`,
		product, gateway.DemoPINProduct, n)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := res.RowsAffected()
	return int(got)
}

func TestNoPINOrCardInClearOnDisk(t *testing.T) {
	tg := newTestGateway(t)
	lane := tg.terminal("lane-1", "m-42")
	var codes []string
	for i := range 5 {
		m := wantStatus(t, tg.sell(lane, "k"+string(rune('a'+i)), pinSale), 201, "")
		codes = append(codes, m["pin"].(map[string]any)["code"].(string))
	}
	wantStatus(t, tg.sell(lane, "gift", giftSale), 201, "")
	tg.close()
	var disk []byte
	entries, _ := os.ReadDir(tg.dir)
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".key" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(tg.dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		disk = append(disk, b...)
	}
	for _, secret := range append(codes, "6006491234567890") {
		if bytes.Contains(disk, []byte(secret)) {
			t.Fatalf("%q is stored in clear", secret)
		}
	}
	if len(disk) < 4096 {
		t.Fatal("read no database")
	}
}

// rawSell posts a sale without checking the answer, for requests that may never get one.
func (tg *testGateway) rawSell(key, idem, body string) {
	req, _ := http.NewRequest("POST", tg.srv.URL+"/v1/transactions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Idempotency-Key", idem)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

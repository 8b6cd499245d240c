package conduit_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prepaidgw/gateway/conduit"
	"github.com/prepaidgw/gateway/drivers"
	_ "github.com/prepaidgw/gateway/drivers/reloadly"
	"github.com/prepaidgw/gateway/supply"
)

// A supplier that is slow (still processing when our 100ms timeout fires) is asked at once,
// is "not found" yet, and the transaction is failed; a moment later the supplier completes it.
func TestReview45ImmediateInquiryFailsInFlightTopUp(t *testing.T) {
	var mu sync.Mutex
	done := map[string]bool{}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/oauth/token":
			json.NewEncoder(w).Encode(map[string]any{"access_token": "tok", "expires_in": 3600})
		case "/topups":
			var b struct {
				ID string `json:"customIdentifier"`
			}
			json.NewDecoder(r.Body).Decode(&b)
			time.Sleep(400 * time.Millisecond) // processing
			mu.Lock()
			done[b.ID] = true
			mu.Unlock()
			json.NewEncoder(w).Encode(map[string]any{"transactionId": 1, "status": "SUCCESSFUL", "customIdentifier": b.ID})
		case "/topups/reports/transactions":
			id := r.URL.Query().Get("customIdentifier")
			mu.Lock()
			ok := done[id]
			mu.Unlock()
			content := []any{}
			if ok {
				content = append(content, map[string]any{"transactionId": 1, "status": "SUCCESSFUL", "customIdentifier": id})
			}
			json.NewEncoder(w).Encode(map[string]any{"content": content})
		}
	}))
	defer up.Close()
	settings, _ := json.Marshal(map[string]any{"base_url": up.URL, "client_id": "c", "client_secret": "s",
		"operators": map[string]int64{"topup": 1}})
	router, err := supply.New([]supply.SupplierConfig{{Name: "live", Driver: "reloadly", Settings: settings,
		Timeout: drivers.Duration(100 * time.Millisecond)}}, drivers.Env{})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newService(t, router, conduit.Config{})
	res, err := s.Submit(context.Background(), conduit.Caller{TerminalID: "l", MerchantID: "m", NodeID: "n"}, "k",
		conduit.Request{ProductID: "topup", Amount: i64(1500), Currency: "USD", Recipient: &conduit.Recipient{MSISDN: "+15551234567"}})
	if err != nil || res.Transaction.Status != conduit.StatusPending {
		t.Fatalf("want pending: %+v %v", res.Transaction.Status, err)
	}
	if _, err := s.ResolvePending(context.Background()); err != nil { // the resolver's next tick
		t.Fatal(err)
	}
	got, _ := s.Get(context.Background(), res.Transaction.ID)
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	upstream := done[res.Transaction.ID]
	mu.Unlock()
	if got.Status == conduit.StatusFailed && upstream {
		t.Fatalf("gateway says %s, supplier completed the top-up", got.Status)
	}
}

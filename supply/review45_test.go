package supply_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/drivers"
	_ "github.com/prepaidgw/gateway/drivers/dtone"
	"github.com/prepaidgw/gateway/supply"
)

// An upstream error that echoes the account number reaches the outcome message, which the
// conduit stores and returns to the lane as error.message: a full card number in an error.
func TestReview45DeclineReasonEchoesCardNumber(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Party map[string]string `json:"credit_party_identifier"`
		}
		json.NewDecoder(r.Body).Decode(&b)
		w.WriteHeader(400)
		json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"code": 1003001,
			"message": "account_number " + b.Party["account_number"] + " is not valid"}}})
	}))
	defer up.Close()
	set, _ := json.Marshal(map[string]any{"base_url": up.URL, "api_key": "k", "api_secret": "s",
		"products": map[string]int64{"gift": 1}, "types": []string{"giftcard"}})
	r, err := supply.New([]supply.SupplierConfig{{Name: "dt", Driver: "dtone", Settings: set}}, drivers.Env{})
	if err != nil {
		t.Fatal(err)
	}
	out := r.Dispatch(context.Background(), []string{"dt"}, drivers.Request{TransactionID: "txn_1", Type: catalog.TypeGiftCard,
		ProductID: "gift", Amount: 1000, Currency: "USD", CardNumber: "6006491234567890"})
	if strings.Contains(out.Message, "6006491234567890") {
		t.Fatalf("outcome message carries the full card number: %q", out.Message)
	}
}

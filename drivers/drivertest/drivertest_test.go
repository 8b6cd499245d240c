package drivertest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/drivers/drivertest"
	"github.com/prepaidgw/gateway/drivers/reloadly/reloadlysim"
	"github.com/prepaidgw/gateway/drivers/upstreamsim"
)

// careless is a deliberately broken Reloadly-style driver: it takes any 200 as approved,
// calls every failure "not sent", and retries once on any error.
type careless struct{ base string }

func (d *careless) Types() []catalog.Type { return []catalog.Type{catalog.TypeTopUp} }

func (d *careless) Execute(ctx context.Context, req drivers.Request) (drivers.Result, error) {
	for attempt := 0; attempt < 2; attempt++ {
		tokReq, _ := http.NewRequestWithContext(ctx, "POST", d.base+"/oauth/token", strings.NewReader(
			`{"client_id":"`+reloadlysim.ClientID+`","client_secret":"`+reloadlysim.ClientSecret+`","grant_type":"client_credentials"}`))
		resp, err := http.DefaultClient.Do(tokReq)
		if err != nil {
			return drivers.Result{}, drivers.NotSent(err)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		body, _ := json.Marshal(map[string]any{"operatorId": 1, "amount": "15.00", "customIdentifier": req.TransactionID,
			"recipientPhone": map[string]string{"countryCode": "US", "number": req.MSISDN[2:]}})
		hreq, _ := http.NewRequestWithContext(ctx, "POST", d.base+"/topups", strings.NewReader(string(body)))
		hreq.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err = http.DefaultClient.Do(hreq)
		if err != nil {
			continue // "just try again"
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			return drivers.Result{SupplierRef: "ok"}, nil
		}
		return drivers.Result{}, drivers.Declined("failed", "status "+resp.Status)
	}
	return drivers.Result{}, drivers.NotSent(errors.New("gave up"))
}

// The kit must fail a driver that would sell twice or approve what it cannot read.
func TestKitFailsABrokenDriver(t *testing.T) {
	h := (&drivertest.HTTPHarness{
		Upstream: reloadlysim.New(upstreamsim.Knobs{}),
		NewRequest: func(id, suffix string) drivers.Request {
			return drivers.Request{TransactionID: id, Type: catalog.TypeTopUp, ProductID: "p", Amount: 1500,
				Currency: "USD", MSISDN: "+1555123" + suffix}
		},
	})
	h.Open = func(base string) (drivers.Driver, error) { return &careless{base: base}, nil }
	h.Start(t)
	failures := strings.Join(drivertest.Failures(h), "\n")
	for _, want := range []string{
		"timeout_is_unknown: timeout: Execute said not sent",
		"cut_connection_is_unknown",
		"received transaction",
		"odd_answers: empty body: Execute approved",
		"odd_answers: 200 with an error inside: Execute approved",
	} {
		if !strings.Contains(failures, want) {
			t.Errorf("the kit did not catch %q; it reported:\n%s", want, failures)
		}
	}
}

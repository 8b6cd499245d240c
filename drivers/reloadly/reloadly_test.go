package reloadly_test

import (
	"encoding/json"
	"testing"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/drivers/drivertest"
	"github.com/prepaidgw/gateway/drivers/reloadly"
	"github.com/prepaidgw/gateway/drivers/reloadly/reloadlysim"
	"github.com/prepaidgw/gateway/drivers/upstreamsim"
)

func harness(t *testing.T) *drivertest.HTTPHarness {
	return (&drivertest.HTTPHarness{
		Upstream: reloadlysim.New(upstreamsim.Knobs{}),
		Open: func(base string) (drivers.Driver, error) {
			settings, _ := json.Marshal(map[string]any{"base_url": base, "client_id": reloadlysim.ClientID,
				"client_secret": reloadlysim.ClientSecret, "operators": map[string]int64{"topup-us": 341}})
			return reloadly.New(drivers.Config{Name: "reloadly-test", Settings: settings})
		},
		NewRequest: func(id, suffix string) drivers.Request {
			return drivers.Request{TransactionID: id, Type: catalog.TypeTopUp, ProductID: "topup-us", Amount: 1500,
				Currency: "USD", MSISDN: "+1555123" + suffix}
		},
	}).Start(t)
}

func TestConformance(t *testing.T) { drivertest.RunConformance(t, harness(t)) }

func TestBadSettingsAreRefused(t *testing.T) {
	for _, s := range []string{
		`{}`,
		`{"base_url":"not a url","client_id":"a","client_secret":"b","operators":{"p":1}}`,
		`{"base_url":"http://x","client_secret":"b","operators":{"p":1}}`,
		`{"base_url":"http://x","client_id":"a","client_secret":"b"}`,
		`{"base_url":"http://x","client_id":"a","client_secret":"b","operators":{"p":1},"typo":1}`,
	} {
		if _, err := reloadly.New(drivers.Config{Settings: json.RawMessage(s)}); err == nil {
			t.Errorf("accepted %s", s)
		}
	}
}

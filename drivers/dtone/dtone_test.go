package dtone_test

import (
	"encoding/json"
	"testing"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/drivers/drivertest"
	"github.com/prepaidgw/gateway/drivers/dtone"
	"github.com/prepaidgw/gateway/drivers/dtone/dtonesim"
	"github.com/prepaidgw/gateway/drivers/upstreamsim"
)

func harness(t *testing.T, typ catalog.Type) *drivertest.HTTPHarness {
	return (&drivertest.HTTPHarness{
		Upstream: dtonesim.New(upstreamsim.Knobs{}),
		Open: func(base string) (drivers.Driver, error) {
			settings, _ := json.Marshal(map[string]any{"base_url": base, "api_key": dtonesim.APIKey,
				"api_secret": dtonesim.APISecret, "products": map[string]int64{"topup-us": 1001, "gift-us": 2001}})
			return dtone.New(drivers.Config{Name: "dtone-test", Settings: settings})
		},
		NewRequest: func(id, suffix string) drivers.Request {
			if typ == catalog.TypeGiftCard {
				return drivers.Request{TransactionID: id, Type: typ, ProductID: "gift-us", Amount: 2500,
					Currency: "USD", CardNumber: "600649123456" + suffix}
			}
			return drivers.Request{TransactionID: id, Type: typ, ProductID: "topup-us", Amount: 1500,
				Currency: "USD", MSISDN: "+1555123" + suffix}
		},
	}).Start(t)
}

func TestConformanceTopUp(t *testing.T) { drivertest.RunConformance(t, harness(t, catalog.TypeTopUp)) }
func TestConformanceGiftCard(t *testing.T) {
	drivertest.RunConformance(t, harness(t, catalog.TypeGiftCard))
}

func TestBadSettingsAreRefused(t *testing.T) {
	for _, s := range []string{
		`{}`,
		`{"base_url":"http://x","api_key":"a","products":{"p":1}}`,
		`{"base_url":"http://x","api_key":"a","api_secret":"b"}`,
		`{"base_url":"http://x","api_key":"a","api_secret":"b","products":{"p":1},"types":["pin"]}`,
	} {
		if _, err := dtone.New(drivers.Config{Settings: json.RawMessage(s)}); err == nil {
			t.Errorf("accepted %s", s)
		}
	}
}

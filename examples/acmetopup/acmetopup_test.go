package acmetopup_test

import (
	"encoding/json"
	"testing"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/drivers/drivertest"
	"github.com/prepaidgw/gateway/examples/acmetopup"
	"github.com/prepaidgw/gateway/examples/acmetopup/acmesim"
)

// The partner proves their driver with the gateway's conformance kit.
func TestConformance(t *testing.T) {
	drivertest.RunConformance(t, (&drivertest.HTTPHarness{
		Upstream: acmesim.New(),
		Open: func(base string) (drivers.Driver, error) {
			return acmetopup.New(drivers.Config{Name: "acme", Settings: json.RawMessage(`{"base_url":"` + base + `","api_key":"k"}`)})
		},
		NewRequest: func(id, suffix string) drivers.Request {
			return drivers.Request{TransactionID: id, Type: catalog.TypeTopUp, ProductID: "acme-topup", Amount: 1000,
				Currency: "USD", MSISDN: "+1555123" + suffix}
		},
	}).Start(t))
}

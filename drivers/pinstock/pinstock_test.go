package pinstock_test

import (
	"testing"

	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/drivers/drivertest"
	"github.com/prepaidgw/gateway/drivers/pinstock"
	"github.com/prepaidgw/gateway/internal/stocktest"
)

func TestConformance(t *testing.T) {
	drivertest.RunConformance(t, stocktest.NewHarness(t, func(env drivers.Env) (drivers.Driver, error) {
		return pinstock.New(drivers.Config{Name: "pins", Env: env})
	}))
}

package simpin_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/drivers/drivertest"
	"github.com/prepaidgw/gateway/drivers/simpin"
	"github.com/prepaidgw/gateway/internal/stocktest"
)

func open(env drivers.Env) (drivers.Driver, error) {
	return simpin.New(drivers.Config{Name: "simpin", Settings: json.RawMessage(`{"delivery":"0s"}`), Env: env})
}

func TestConformance(t *testing.T) { drivertest.RunConformance(t, stocktest.NewHarness(t, open)) }

func TestOrdersAreDeliveredOnce(t *testing.T) {
	h := stocktest.NewHarness(t, open)
	d := h.Driver(t).(drivers.Orderer)
	order := drivers.OrderRequest{OrderID: "ord_1", ProductID: "stocked", Quantity: 7}
	ref, err := d.OrderPINs(context.Background(), order)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.OrderPINs(context.Background(), order); err != nil {
		t.Fatal(err)
	}
	pins, delivered, err := d.CollectPINs(context.Background(), order, ref)
	if err != nil || !delivered || len(pins) != 7 {
		t.Fatalf("collect: %d pins, delivered %v, %v", len(pins), delivered, err)
	}
	if n := d.(*simpin.Driver).Orders; n != 1 {
		t.Fatalf("the same order was taken %d times", n)
	}
}

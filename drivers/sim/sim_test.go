package sim_test

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/drivers/drivertest"
	"github.com/prepaidgw/gateway/drivers/sim"
)

// harness drives the in-process simulator: it has no HTTP, so the odd-answer checks skip.
type harness struct {
	typ      catalog.Type
	live     drivers.Driver
	nextDown bool
	seq      atomic.Int64
}

func (h *harness) open(t drivertest.T) drivers.Driver {
	settings, _ := json.Marshal(map[string]any{"types": []catalog.Type{h.typ}})
	d, err := sim.New(drivers.Config{Name: "sim-test", Settings: settings})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return d
}

func (h *harness) Driver(t drivertest.T) drivers.Driver {
	if h.nextDown {
		h.nextDown = false
		d := h.open(t)
		d.(*sim.Driver).SetDown(true)
		return d
	}
	if h.live == nil {
		h.live = h.open(t)
	}
	return h.live
}

func (h *harness) Request(t drivertest.T, b drivertest.Behaviour) (drivers.Request, bool) {
	suffix := map[drivertest.Behaviour]string{drivertest.Approve: "5678", drivertest.Decline: "0000", drivertest.Hang: "0001", drivertest.Down: "5678"}[b]
	if suffix == "" {
		return drivers.Request{}, false
	}
	h.nextDown = b == drivertest.Down
	req := drivers.Request{TransactionID: fmt.Sprintf("txn_sim_%d", h.seq.Add(1)), Type: h.typ, ProductID: "p", Amount: 1000, Currency: "USD"}
	if h.typ == catalog.TypeGiftCard {
		req.CardNumber = "600649123456" + suffix
	} else {
		req.MSISDN = "+1555123" + suffix
	}
	return req, true
}

func (h *harness) Sent(drivers.Request) int { return -1 }

func TestConformance(t *testing.T) {
	for _, typ := range []catalog.Type{catalog.TypeTopUp, catalog.TypeGiftCard} {
		t.Run(string(typ), func(t *testing.T) { drivertest.RunConformance(t, &harness{typ: typ}) })
	}
}

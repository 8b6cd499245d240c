// Package stocktest is a drivertest harness for drivers that sell from the gateway's own PIN
// stock: a real inventory where product "stocked" has PINs and "empty" has none.
package stocktest

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/drivers/drivertest"
	"github.com/prepaidgw/gateway/internal/sqlitedb"
	"github.com/prepaidgw/gateway/inventory"
	"github.com/prepaidgw/gateway/secret"
)

// Harness sells from a real inventory.
type Harness struct {
	Open func(env drivers.Env) (drivers.Driver, error)

	stock *inventory.Store
	d     drivers.Driver
	seq   atomic.Int64
}

// NewHarness builds the stock and the harness; open builds the driver from its Env.
func NewHarness(t *testing.T, open func(drivers.Env) (drivers.Driver, error)) *Harness {
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "stock.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys, _ := secret.NewKeyring(secret.NewKey())
	st, err := inventory.NewStore(context.Background(), db, keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	if _, err := st.Import(context.Background(), "stocked", "n1", func() (inventory.Row, error) {
		if i == 50 {
			return inventory.Row{}, io.EOF
		}
		i++
		return inventory.Row{Line: i, Serial: fmt.Sprintf("S-%d", i), PIN: fmt.Sprintf("1234-0000-%04d", i)}, nil
	}); err != nil {
		t.Fatal(err)
	}
	return &Harness{Open: open, stock: st}
}

func (h *Harness) Driver(t drivertest.T) drivers.Driver {
	if h.d == nil {
		d, err := h.Open(drivers.Env{Stock: h.stock})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		h.d = d
	}
	return h.d
}

func (h *Harness) Request(t drivertest.T, b drivertest.Behaviour) (drivers.Request, bool) {
	product := map[drivertest.Behaviour]string{drivertest.Approve: "stocked", drivertest.Decline: "empty"}[b]
	if product == "" {
		return drivers.Request{}, false // no network: nothing to hang, cut or garble
	}
	return drivers.Request{TransactionID: fmt.Sprintf("txn_pin_%d", h.seq.Add(1)), Type: catalog.TypePIN,
		ProductID: product, NodeID: "n1", Amount: 1000, Currency: "USD"}, true
}

func (h *Harness) Sent(drivers.Request) int { return -1 }

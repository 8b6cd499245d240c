// Package simpin is a simulated PIN supplier for the demo and tests: it sells from the
// gateway's own stock, as pinstock does, and takes replenishment orders, delivering freshly
// made PINs after a delay. Importing it registers the driver "simpin".
package simpin

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/drivers/pinstock"
)

func init() { drivers.Register("simpin", New) }

// Settings configure the simulated PIN supplier.
type Settings struct {
	Delivery drivers.Duration `json:"delivery"` // how long an order takes to arrive; default 2s
	Validity drivers.Duration `json:"validity"` // how long delivered PINs stay valid; default a year
}

// Driver sells from stock and orders more.
type Driver struct {
	*pinstock.Driver
	set Settings

	mu     sync.Mutex
	orders map[string]time.Time // order id → placed at
	// Orders counts orders received, for tests.
	Orders int
}

// New builds the simulated supplier.
func New(cfg drivers.Config) (drivers.Driver, error) {
	s := Settings{Delivery: drivers.Duration(2 * time.Second), Validity: drivers.Duration(365 * 24 * time.Hour)}
	if err := drivers.DecodeSettings(cfg.Settings, &s); err != nil {
		return nil, err
	}
	base, err := pinstock.New(drivers.Config{Name: cfg.Name, Env: cfg.Env})
	if err != nil {
		return nil, err
	}
	return &Driver{Driver: base.(*pinstock.Driver), set: s, orders: map[string]time.Time{}}, nil
}

// OrderPINs implements drivers.Orderer.
func (d *Driver) OrderPINs(_ context.Context, o drivers.OrderRequest) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, dup := d.orders[o.OrderID]; !dup {
		d.orders[o.OrderID] = time.Now()
		d.Orders++
	}
	return "simpin-" + o.OrderID, nil
}

// CollectPINs implements drivers.Orderer: the PINs arrive once the delivery time has passed.
func (d *Driver) CollectPINs(_ context.Context, o drivers.OrderRequest, _ string) ([]drivers.PIN, bool, error) {
	d.mu.Lock()
	placed, ok := d.orders[o.OrderID]
	d.mu.Unlock()
	if !ok {
		return nil, false, fmt.Errorf("simpin: unknown order %s", o.OrderID)
	}
	if time.Since(placed) < time.Duration(d.set.Delivery) {
		return nil, false, nil
	}
	exp := time.Now().UTC().Add(time.Duration(d.set.Validity)).Truncate(time.Second)
	pins := make([]drivers.PIN, o.Quantity)
	for i := range pins {
		pins[i] = drivers.PIN{Serial: fmt.Sprintf("%s-%05d", o.OrderID, i+1), Code: randomPIN(), ExpiresAt: &exp}
	}
	return pins, true, nil
}

func randomPIN() string {
	n, err := rand.Int(rand.Reader, big.NewInt(10_000_000_000_000_000))
	if err != nil {
		panic(err)
	}
	d := fmt.Sprintf("%016d", n)
	return d[0:4] + "-" + d[4:8] + "-" + d[8:12] + "-" + d[12:16]
}

// Package pinstock is the driver that sells PINs from the gateway's own encrypted inventory.
// Importing it registers the driver "pinstock".
package pinstock

import (
	"context"
	"errors"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/drivers"
)

func init() { drivers.Register("pinstock", New) }

// Driver sells from drivers.Env.Stock.
type Driver struct{ stock drivers.Stock }

// New builds the driver; it takes no settings.
func New(cfg drivers.Config) (drivers.Driver, error) {
	var none struct{}
	if err := drivers.DecodeSettings(cfg.Settings, &none); err != nil {
		return nil, err
	}
	if cfg.Env.Stock == nil {
		return nil, errors.New("pinstock: this gateway keeps no PIN stock")
	}
	return &Driver{stock: cfg.Env.Stock}, nil
}

// Types implements drivers.Driver.
func (d *Driver) Types() []catalog.Type { return []catalog.Type{catalog.TypePIN} }

// Execute claims one PIN for the transaction.
func (d *Driver) Execute(ctx context.Context, req drivers.Request) (drivers.Result, error) {
	pin, err := d.stock.Claim(ctx, req.ProductID, req.NodeID, req.TransactionID)
	if err != nil {
		return drivers.Result{}, err
	}
	return drivers.Result{SupplierRef: pin.Serial, PIN: &pin}, nil
}

// Inquire finds whether a PIN was sold to the transaction. A claim is one database
// transaction, so no PIN means the sale did not happen and will not.
func (d *Driver) Inquire(ctx context.Context, req drivers.Request) (drivers.Status, drivers.Result, error) {
	pin, ok, err := d.stock.ClaimedBy(ctx, req.TransactionID)
	switch {
	case err != nil:
		return drivers.StatusUnknown, drivers.Result{}, err
	case !ok:
		return drivers.StatusFailed, drivers.Result{}, nil
	}
	return drivers.StatusApproved, drivers.Result{SupplierRef: pin.Serial, PIN: &pin}, nil
}

// Void quarantines the sold PIN so that it is never sold again.
func (d *Driver) Void(ctx context.Context, req drivers.Request, _ drivers.Result) error {
	return d.stock.Void(ctx, req.TransactionID)
}

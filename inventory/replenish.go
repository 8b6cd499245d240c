package inventory

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/oklog/ulid/v2"

	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/internal/sqlitedb"
)

// Order is a replenishment order placed with a PIN supplier.
type Order struct {
	ID          string    `json:"id" db:"id"`
	ProductID   string    `json:"product_id" db:"product_id"`
	NodeID      string    `json:"node_id" db:"node_id"`
	Supplier    string    `json:"supplier" db:"supplier"`
	Quantity    int       `json:"quantity" db:"quantity"`
	Received    int       `json:"received" db:"received"`
	Status      string    `json:"status" db:"status"`
	SupplierRef string    `json:"supplier_ref,omitempty" db:"supplier_ref"`
	Error       string    `json:"error,omitempty" db:"error"`
	CreatedAt   time.Time `json:"created_at" db:"created_at"`
	UpdatedAt   time.Time `json:"updated_at" db:"updated_at"`
}

// ErrBadCursor means a list cursor was not one this gateway gave out.
var ErrBadCursor = errors.New("inventory: cursor is not valid")

// OrderPage lists replenishment orders, newest first, a page at a time; the cursor is the id
// of the last order seen (ids sort by time).
func (s *Store) OrderPage(ctx context.Context, limit int, cursor string) ([]Order, string, error) {
	if cursor != "" && !strings.HasPrefix(cursor, "ord_") {
		return nil, "", ErrBadCursor
	}
	if cursor == "" {
		cursor = "ord_~"
	}
	orders, err := s.selectOrders(ctx, `SELECT * FROM replenishment_orders WHERE id < ? ORDER BY id DESC LIMIT ?`, cursor, limit+1)
	if err != nil || len(orders) <= limit {
		return orders, "", err
	}
	return orders[:limit], orders[limit-1].ID, nil
}

func (s *Store) selectOrders(ctx context.Context, query string, args ...any) ([]Order, error) {
	var rows []struct {
		Order
		CreatedAt string `db:"created_at"`
		UpdatedAt string `db:"updated_at"`
	}
	if err := s.db.R.SelectContext(ctx, &rows, query, args...); err != nil {
		return nil, err
	}
	out := make([]Order, 0, len(rows))
	for _, r := range rows {
		o := r.Order
		o.CreatedAt, _ = time.Parse(time.RFC3339Nano, r.CreatedAt)
		o.UpdatedAt, _ = time.Parse(time.RFC3339Nano, r.UpdatedAt)
		out = append(out, o)
	}
	return out, nil
}

// OrdererFinder names the supplier of a product that takes PIN orders, and its driver.
type OrdererFinder func(ctx context.Context, productID string) (supplier string, o drivers.Orderer, ok bool)

// Replenisher keeps each (node, product) stocked: when available stock falls under the
// reorder level it places one order for enough PINs to reach the target, and books the PINs
// in when the supplier delivers them.
type Replenisher struct {
	Store *Store
	Find  OrdererFinder
	// Every is how often it looks without being poked by a sale; default 5s.
	Every time.Duration
	// OrderTimeout fails an order not delivered in time; default 1h.
	OrderTimeout time.Duration
	// Available counts the stock a level is compared with; default Store.Available. A hub
	// counts its whole network's unsold stock for its own level.
	Available func(ctx context.Context, productID, nodeID string) (int, error)
	// Node, when set, limits replenishment to that node's levels: a hub replenishes only its
	// own (network-wide) level and hands PINs on to its nodes.
	Node string
	Log  *slog.Logger

	low map[[2]string]bool // for one warning per crossing
}

// Run checks on every sale and every Every, until ctx ends.
func (r *Replenisher) Run(ctx context.Context) {
	if r.Every <= 0 {
		r.Every = 5 * time.Second
	}
	t := time.NewTicker(r.Every)
	defer t.Stop()
	for {
		if err := r.Check(ctx); err != nil && ctx.Err() == nil {
			r.Log.Error("replenishment check", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.Store.Sold():
		}
	}
}

// Check places the orders that are due and collects the ones delivered.
func (r *Replenisher) Check(ctx context.Context) error {
	if r.Log == nil {
		r.Log = slog.Default()
	}
	if r.OrderTimeout <= 0 {
		r.OrderTimeout = time.Hour
	}
	if r.low == nil {
		r.low = map[[2]string]bool{}
	}
	levels, err := r.Store.Levels(ctx)
	if err != nil {
		return err
	}
	for _, l := range levels {
		if r.Node != "" && l.NodeID != r.Node {
			continue
		}
		available := r.Available
		if available == nil {
			available = r.Store.Available
		}
		avail, err := available(ctx, l.ProductID, l.NodeID)
		if err != nil {
			return err
		}
		key := [2]string{l.NodeID, l.ProductID}
		low := avail < l.ReorderLevel
		if low != r.low[key] {
			if low {
				r.Log.Warn("PIN stock under its reorder level", "product", l.ProductID, "node", l.NodeID,
					"available", avail, "reorder_level", l.ReorderLevel)
			} else {
				r.Log.Info("PIN stock back at or above its reorder level", "product", l.ProductID, "node", l.NodeID, "available", avail)
			}
			r.low[key] = low
		}
		if low && l.TargetLevel > avail {
			if err := r.place(ctx, l, l.TargetLevel-avail); err != nil {
				return err
			}
		}
	}
	return r.collect(ctx)
}

// Low reports whether the stock of product at node was under its reorder level at the last check.
func (r *Replenisher) Low(nodeID, productID string) bool { return r.low[[2]string{nodeID, productID}] }

func (r *Replenisher) place(ctx context.Context, l Level, qty int) error {
	supplier, o, ok := r.Find(ctx, l.ProductID)
	if !ok {
		return nil
	}
	s := r.Store
	now := sqlitedb.FormatTime(s.now())
	id := "ord_" + ulid.Make().String()
	err := s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO replenishment_orders(id, product_id, node_id, supplier, quantity, status, created_at, updated_at)
			VALUES (?,?,?,?,?,'placed',?,?)`, id, l.ProductID, l.NodeID, supplier, qty, now, now)
		return err
	})
	if sqlitedb.IsUniqueViolation(err) {
		return nil // one is open already
	}
	if err != nil {
		return err
	}
	r.Log.Info("replenishment order placed", "order", id, "product", l.ProductID, "node", l.NodeID, "quantity", qty, "supplier", supplier)
	return r.send(ctx, o, Order{ID: id, ProductID: l.ProductID, NodeID: l.NodeID, Quantity: qty})
}

// send sends an order to the supplier. The order id is the supplier's idempotency key, so an
// order whose sending ended in doubt is sent again with the same id, never as a new order;
// only a refusal that surely reached nobody, or a decline, fails it.
func (r *Replenisher) send(ctx context.Context, o drivers.Orderer, ord Order) error {
	s := r.Store
	ref, oerr := o.OrderPINs(ctx, drivers.OrderRequest{OrderID: ord.ID, ProductID: ord.ProductID, Quantity: ord.Quantity})
	var de *drivers.DeclineError
	switch {
	case oerr == nil:
		return s.db.Tx(ctx, func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE replenishment_orders SET supplier_ref=?, updated_at=? WHERE id=?`,
				ref, sqlitedb.FormatTime(s.now()), ord.ID)
			return err
		})
	case drivers.IsNotSent(oerr) || errors.As(oerr, &de):
		return s.failOrder(ctx, ord.ID, oerr.Error())
	}
	r.Log.Warn("replenishment order sent, answer unknown; it will be sent again under the same id", "order", ord.ID, "err", oerr)
	return nil
}

func (r *Replenisher) collect(ctx context.Context) error {
	s := r.Store
	orders, err := s.openOrders(ctx)
	if err != nil {
		return err
	}
	for _, ord := range orders {
		if s.now().Sub(ord.CreatedAt) > r.OrderTimeout {
			if err := s.failOrder(ctx, ord.ID, "not delivered within "+r.OrderTimeout.String()); err != nil {
				return err
			}
			continue
		}
		_, o, ok := r.Find(ctx, ord.ProductID)
		if !ok {
			continue
		}
		if ord.SupplierRef == "" {
			if err := r.send(ctx, o, ord); err != nil {
				return err
			}
			continue
		}
		req := drivers.OrderRequest{OrderID: ord.ID, ProductID: ord.ProductID, Quantity: ord.Quantity}
		pins, delivered, err := o.CollectPINs(ctx, req, ord.SupplierRef)
		if err != nil {
			r.Log.Warn("collecting a replenishment order", "order", ord.ID, "err", err)
			continue
		}
		if !delivered {
			continue
		}
		i := 0
		_, err = s.importRows(ctx, ord.ProductID, ord.NodeID, ord.ID, func() (Row, error) {
			if i == len(pins) {
				return Row{}, io.EOF
			}
			p := pins[i]
			i++
			return Row{Line: i, Serial: p.Serial, PIN: p.Code, ExpiresAt: p.ExpiresAt}, nil
		})
		if err != nil {
			r.Log.Error("a delivered order could not be booked in", "order", ord.ID, "err", err)
			if err := s.failOrder(ctx, ord.ID, "delivery rejected: "+err.Error()); err != nil {
				return err
			}
			continue
		}
		r.Log.Info("replenishment order received", "order", ord.ID, "pins", len(pins))
	}
	return nil
}

func (s *Store) openOrders(ctx context.Context) ([]Order, error) {
	return s.selectOrders(ctx, `SELECT * FROM replenishment_orders WHERE status='placed' ORDER BY created_at`)
}

func (s *Store) failOrder(ctx context.Context, id, reason string) error {
	return s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE replenishment_orders SET status='failed', error=?, updated_at=? WHERE id=? AND status='placed'`,
			reason, sqlitedb.FormatTime(s.now()), id)
		return err
	})
}

package inventory_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/inventory"
)

type fakeOrderer struct {
	mu         sync.Mutex
	placed     []string
	orderErr   error
	collectErr error
	onOrder    func()
}

func (f *fakeOrderer) OrderPINs(ctx context.Context, o drivers.OrderRequest) (string, error) {
	f.mu.Lock()
	f.placed = append(f.placed, o.OrderID)
	f.mu.Unlock()
	if f.onOrder != nil {
		f.onOrder()
	}
	return "ref-" + o.OrderID, f.orderErr
}
func (f *fakeOrderer) CollectPINs(ctx context.Context, o drivers.OrderRequest, ref string) ([]drivers.PIN, bool, error) {
	return nil, false, f.collectErr
}

func stocked(t *testing.T, n int) *inventory.Store {
	s := newStore(t)
	exp := time.Now().AddDate(1, 0, 0)
	i := 0
	if _, err := s.Import(context.Background(), "p", "local", func() (inventory.Row, error) {
		if i == n {
			return inventory.Row{}, io.EOF
		}
		i++
		return inventory.Row{Line: i, Serial: fmt.Sprint("S", i), PIN: fmt.Sprintf("1111-2222-%04d", i), ExpiresAt: &exp}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLevel(context.Background(), inventory.Level{NodeID: "local", ProductID: "p", TargetLevel: 100, ReorderLevel: 50}); err != nil {
		t.Fatal(err)
	}
	return s
}

// An OrderPINs timeout is an unknown outcome (the supplier may have the order): the order is
// sent again under the same id, never as a second order.
func TestReviewOrderTimeoutPlacesASecondOrder(t *testing.T) {
	s := stocked(t, 10)
	o := &fakeOrderer{orderErr: context.DeadlineExceeded}
	r := &inventory.Replenisher{Store: s, Find: func(context.Context, string) (string, drivers.Orderer, bool) { return "sup", o, true }}
	for i := 0; i < 3; i++ {
		_ = r.Check(context.Background())
	}
	ids := map[string]bool{}
	for _, id := range o.placed {
		ids[id] = true
	}
	if len(ids) != 1 || len(o.placed) < 2 {
		t.Fatalf("sends after timeouts whose outcome was unknown: %v; want one order id, sent again", o.placed)
	}
}

// A CollectPINs error (e.g. simpin after a restart: "unknown order") skips the OrderTimeout
// check, so the order stays 'placed' forever and the one-open-order index blocks every later
// order: the product is never replenished again.
func TestReviewCollectErrorKeepsOrderOpenForever(t *testing.T) {
	s := stocked(t, 10)
	o := &fakeOrderer{collectErr: errors.New("simpin: unknown order")}
	r := &inventory.Replenisher{Store: s, OrderTimeout: time.Millisecond,
		Find: func(context.Context, string) (string, drivers.Orderer, bool) { return "sup", o, true }}
	_ = r.Check(context.Background())
	time.Sleep(10 * time.Millisecond)
	for i := 0; i < 3; i++ {
		_ = r.Check(context.Background())
	}
	orders, _, _ := s.OrderPage(context.Background(), 10, "")
	if len(orders) == 1 && orders[0].Status == "placed" {
		t.Fatalf("order %s still %s long after OrderTimeout; no new order can be placed (orders sent: %d)", orders[0].ID, orders[0].Status, len(o.placed))
	}
}

// Shutdown (ctx cancelled) while OrderPINs runs: the supplier has the order, but supplier_ref
// is never written. openOrders skips supplier_ref=” rows, so the order is never collected,
// never timed out, and blocks every later order.
func TestReviewShutdownDuringOrderLeavesOrphanOrder(t *testing.T) {
	s := stocked(t, 10)
	ctx, cancel := context.WithCancel(context.Background())
	o := &fakeOrderer{onOrder: cancel}
	r := &inventory.Replenisher{Store: s, OrderTimeout: time.Millisecond,
		Find: func(context.Context, string) (string, drivers.Orderer, bool) { return "sup", o, true }}
	_ = r.Check(ctx)
	o.onOrder = nil
	time.Sleep(10 * time.Millisecond)
	for i := 0; i < 3; i++ { // after restart
		_ = r.Check(context.Background())
	}
	orders, _, _ := s.OrderPage(context.Background(), 10, "")
	if len(orders) == 1 && orders[0].Status == "placed" && orders[0].SupplierRef == "" {
		t.Fatalf("order %s stuck 'placed' with no supplier_ref; replenishment of the product has stopped for good", orders[0].ID)
	}
}

package conduit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/conduit"
)

// A hub records each report once, whatever is repeated or reordered, never inquires a
// reported pending transaction, and refuses to void one.
func TestReportsAreAppliedOnce(t *testing.T) {
	ctx := context.Background()
	r := &fakeRouter{}
	hub, _ := newService(t, r, conduit.Config{InquiryBackoff: time.Millisecond})
	now := time.Now().UTC().Truncate(time.Millisecond)
	pending := conduit.Transaction{ID: "txn_1", Status: conduit.StatusPending, Type: catalog.TypeTopUp, ProductID: "topup",
		Amount: 1500, Currency: "USD", TerminalID: "lane-1", MerchantID: "m", NodeID: "n1", Supplier: "live",
		Recipient: &conduit.Recipient{MSISDN: "+15551234567"}, CreatedAt: now, UpdatedAt: now}
	approved := pending
	approved.Status, approved.SupplierRef = conduit.StatusApproved, "ref-1"
	newer := []conduit.Report{{Seq: 1, Transaction: pending}, {Seq: 2, Transaction: approved}}
	for _, batch := range [][]conduit.Report{newer, newer, newer[:1]} {
		through, err := hub.ApplyReports(ctx, "n1", batch)
		if err != nil || through != 2 {
			t.Fatalf("through %d, %v", through, err)
		}
	}
	got, err := hub.Get(ctx, "txn_1")
	if err != nil || got.Status != conduit.StatusApproved || got.SupplierRef != "ref-1" {
		t.Fatalf("hub has %+v %v", got, err)
	}
	list, _, _ := hub.List(ctx, conduit.Filter{})
	if len(list) != 1 {
		t.Fatalf("%d transactions listed", len(list))
	}
	if _, err := hub.Void(ctx, "txn_1"); !errors.Is(err, conduit.ErrVoidNotAllowed) {
		t.Fatalf("void at the hub: %v", err)
	}
	// A reported pending transaction is the server's to resolve, not the hub's.
	pending.ID = "txn_2"
	if _, err := hub.ApplyReports(ctx, "n1", []conduit.Report{{Seq: 3, Transaction: pending}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	before := r.inquired.Load()
	if _, err := hub.ResolvePending(ctx); err != nil {
		t.Fatal(err)
	}
	if r.inquired.Load() != before {
		t.Fatal("the hub inquired a transaction a server made")
	}
	// A report for another node's transaction is refused.
	other := approved
	other.ID, other.NodeID = "txn_3", "n2"
	if _, err := hub.ApplyReports(ctx, "n1", []conduit.Report{{Seq: 4, Transaction: other}}); err == nil {
		t.Fatal("n1 reported n2's transaction")
	}
}

package network_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/prepaidgw/gateway/inventory"
	"github.com/prepaidgw/gateway/network"
)

func syncAll(t *testing.T, hub *network.Hub, srv side, node string) network.SyncResponse {
	t.Helper()
	resp, err := trySync(hub, srv, node)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// trySync is one server's sync round, as network.Server does it.
func trySync(hub *network.Hub, srv side, node string) (network.SyncResponse, error) {
	ctx := context.Background()
	ev, _ := srv.inv.Events(ctx, 100)
	acks, _ := srv.inv.PendingAcks(ctx)
	instance, _ := srv.inv.Instance(ctx)
	resp, err := hub.Sync(ctx, node, network.SyncRequest{Instance: instance, Events: ev, Acks: acks})
	if err != nil {
		return resp, err
	}
	for _, h := range resp.Handoffs {
		if h.Direction == "to_node" {
			err = srv.inv.ApplyHandoff(ctx, node, h)
		} else {
			err = srv.inv.ApplyRecall(ctx, node, h)
		}
		if err != nil {
			return resp, fmt.Errorf("server applying handoff %s (%s): %w", h.ID, h.Direction, err)
		}
	}
	_ = srv.inv.TrimEvents(ctx, resp.EventsThrough)
	_ = srv.inv.ConfirmAcks(ctx, resp.Confirmed)
	return resp, nil
}

// A PIN recalled from a node and later allocated to the same node again can never be applied:
// the server still has its row (state handed_back) and pins.serial is UNIQUE.
func TestReviewRecalledPINReallocatedToSameNode(t *testing.T) {
	ctx := context.Background()
	h, hub := hubWithStock(t)
	srv := open(t)
	syncAll(t, hub, srv, "n1") // 10 handed over
	syncAll(t, hub, srv, "n1") // acked
	_ = h.inv.SetLevel(ctx, inventory.Level{NodeID: "n1", ProductID: "p", TargetLevel: 4})
	syncAll(t, hub, srv, "n1") // recall 6
	syncAll(t, hub, srv, "n1") // recall acked: hub has 26 again
	_ = h.inv.SetLevel(ctx, inventory.Level{NodeID: "n1", ProductID: "p", TargetLevel: 30})
	syncAll(t, hub, srv, "n1") // 26 handed over, 6 of them the recalled ones -> fails
}

// A fresh server database under a node id the hub knows (a replaced or re-keyed server):
// its outbox starts at seq 1 again, the hub skips those events as already applied and answers
// events_through = its old last_seq, so the server trims them: the sales are lost to the hub.
func TestReviewFreshServerDBSalesDropped(t *testing.T) {
	ctx := context.Background()
	h, hub := hubWithStock(t)
	a := open(t)
	a.inv.EnableOutbox()
	syncAll(t, hub, a, "n1")
	syncAll(t, hub, a, "n1")
	for i := range 5 {
		if _, err := a.inv.Claim(ctx, "p", "n1", "ta"+string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
	}
	syncAll(t, hub, a, "n1") // hub last_seq = 5, tops n1 up with 5 more
	// n1 is re-keyed and replaced by a server with a new database.
	if _, _, _, err := h.au.PutNode(ctx, "n1", 0, true); err != nil {
		t.Fatal(err)
	}
	// What PUT /v1/nodes/{id} does on a re-key; the old machine's PINs stay counted there, so
	// the new one gets stock through a higher target.
	if err := h.inv.ResetNode(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	_ = h.inv.SetLevel(ctx, inventory.Level{NodeID: "n1", ProductID: "p", TargetLevel: 20})
	b := open(t)
	b.inv.EnableOutbox()
	syncAll(t, hub, b, "n1") // gets the open handoff(s) it can
	syncAll(t, hub, b, "n1")
	if c := count(t, b, "n1"); c.Available == 0 {
		t.Fatal("new server got no stock")
	}
	if _, err := b.inv.Claim(ctx, "p", "n1", "tb0"); err != nil {
		t.Fatal(err)
	}
	before := count(t, h, "n1").Sold
	syncAll(t, hub, b, "n1")
	if after := count(t, h, "n1").Sold; after != before+1 {
		t.Fatalf("hub sold count %d -> %d after the new server's sale", before, after)
	}
}

// Two server processes with the same node key (two databases) both receive the same open
// handoff and both sell the same PIN.
func TestReviewTwoServersSameNodeKeySellSamePIN(t *testing.T) {
	ctx := context.Background()
	_, hub := hubWithStock(t)
	a, b := open(t), open(t)
	a.inv.EnableOutbox()
	b.inv.EnableOutbox()
	syncAll(t, hub, a, "n1")
	// A second database with the same node key is refused and gets no PIN.
	if _, err := trySync(hub, b, "n1"); !errors.Is(err, inventory.ErrOtherInstance) {
		t.Fatalf("a second database synced as n1: %v", err)
	}
	if _, err := b.inv.Claim(ctx, "p", "n1", "tb"); err == nil {
		t.Fatal("the second database sells n1's PINs")
	}
	if _, err := a.inv.Claim(ctx, "p", "n1", "ta"); err != nil {
		t.Fatal(err)
	}
}

// The hub closes a handoff on the direction the node claims, not its own record: a to_node
// handoff acknowledged as to_hub is closed while its PINs stay in_transit forever.
func TestReviewAckDirectionFromNode(t *testing.T) {
	ctx := context.Background()
	h, hub := hubWithStock(t)
	resp, _ := hub.Sync(ctx, "n1", network.SyncRequest{Instance: "i1"})
	id := resp.Handoffs[0].ID
	if _, err := hub.Sync(ctx, "n1", network.SyncRequest{Instance: "i1", Acks: []inventory.Ack{{ID: id, Direction: "to_hub"}}}); err != nil {
		t.Fatal(err)
	}
	open, _ := h.inv.OpenHandoffs(ctx, "n1")
	c := count(t, h, "n1")
	if len(open) == 0 && c.Reserved > 0 {
		t.Fatalf("handoff %s closed but %d PINs stay in transit for good", id, c.Reserved)
	}
}

// Two sync requests of the same node at once (a retried HTTP request racing the original, or
// two processes with one key): allocate reads Held outside the write transaction, so both top
// the node up.
func TestReviewConcurrentSyncOverAllocates(t *testing.T) {
	ctx := context.Background()
	for round := 0; round < 20; round++ {
		h, hub := hubWithStock(t)
		done := make(chan error, 2)
		for range 2 {
			go func() { _, err := hub.Sync(ctx, "n1", network.SyncRequest{Instance: "i1"}); done <- err }()
		}
		<-done
		<-done
		if c := count(t, h, "n1"); c.Reserved > 10 {
			t.Fatalf("round %d: %d PINs in transit to n1, target 10", round, c.Reserved)
		}
	}
}

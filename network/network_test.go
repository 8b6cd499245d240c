package network_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/prepaidgw/gateway/auth"
	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/internal/sqlitedb"
	"github.com/prepaidgw/gateway/inventory"
	"github.com/prepaidgw/gateway/network"
	"github.com/prepaidgw/gateway/secret"
)

type side struct {
	db  *sqlitedb.DB
	inv *inventory.Store
	cat *catalog.Store
	au  *auth.Store
}

func open(t *testing.T) side {
	t.Helper()
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys, _ := secret.NewKeyring(secret.NewKey())
	ctx := context.Background()
	inv, err := inventory.NewStore(ctx, db, keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	cat, _ := catalog.NewStore(ctx, db)
	au, _ := auth.NewStore(ctx, db, nil)
	return side{db, inv, cat, au}
}

func count(t *testing.T, s side, node string) inventory.Count {
	t.Helper()
	cs, err := s.inv.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.NodeID == node && c.ProductID == "p" {
			return c
		}
	}
	return inventory.Count{}
}

// A hub with 30 PINs of product p, node n1 registered with a target of 10.
func hubWithStock(t *testing.T) (side, *network.Hub) {
	h := open(t)
	ctx := context.Background()
	i := 0
	if _, err := h.inv.Import(ctx, "p", inventory.HubNode, func() (inventory.Row, error) {
		if i == 30 {
			return inventory.Row{}, io.EOF
		}
		i++
		return inventory.Row{Line: i, Serial: fmt.Sprintf("S%02d", i), PIN: fmt.Sprintf("1000-2000-%04d", i)}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := h.au.PutNode(ctx, "n1", 0, true); err != nil {
		t.Fatal(err)
	}
	if err := h.inv.SetLevel(ctx, inventory.Level{NodeID: "n1", ProductID: "p", TargetLevel: 10}); err != nil {
		t.Fatal(err)
	}
	return h, &network.Hub{Auth: h.au, Catalog: h.cat, Inventory: h.inv}
}

func TestSyncMessagesAreIdempotent(t *testing.T) {
	ctx := context.Background()
	h, hub := hubWithStock(t)
	srv := open(t)

	// The hub hands 10 PINs over; the server applies the same handoff twice.
	resp, err := hub.Sync(ctx, "n1", network.SyncRequest{Instance: "i1"})
	if err != nil || len(resp.Handoffs) != 1 || len(resp.Handoffs[0].PINs) != 10 {
		t.Fatalf("first sync: %+v %v", resp.Handoffs, err)
	}
	for range 2 {
		if err := srv.inv.ApplyHandoff(ctx, "n1", resp.Handoffs[0]); err != nil {
			t.Fatal(err)
		}
	}
	if c := count(t, srv, "n1"); c.Available != 10 {
		t.Fatalf("server holds %d after the same handoff twice", c.Available)
	}
	if c := count(t, h, "n1"); c.Reserved != 10 {
		t.Fatalf("hub: %d in transit before the ack", c.Reserved)
	}
	acks, _ := srv.inv.PendingAcks(ctx)
	// The server sells 3; its sync message is delivered twice, and an older one after it.
	srv.inv.EnableOutbox()
	for i := range 3 {
		if _, err := srv.inv.Claim(ctx, "p", "n1", fmt.Sprint("t", i)); err != nil {
			t.Fatal(err)
		}
	}
	events, _ := srv.inv.Events(ctx, 100)
	newer := network.SyncRequest{Instance: "i1", Acks: acks, Events: events}
	older := network.SyncRequest{Instance: "i1", Acks: acks, Events: events[:1]}
	for _, req := range []network.SyncRequest{newer, newer, older} {
		r, err := hub.Sync(ctx, "n1", req)
		if err != nil {
			t.Fatal(err)
		}
		if r.EventsThrough != events[2].Seq {
			t.Fatalf("events applied through %d", r.EventsThrough)
		}
	}
	c := count(t, h, "n1")
	if c.Sold != 3 || c.Available != 7 || c.Reserved != 3 {
		// Reserved: the hub tops the node back up to its target of 10 with 3 more.
		t.Fatalf("hub counts for n1 after duplicates and reordering: %+v", c)
	}
	hubStock := count(t, h, inventory.HubNode)
	if total := hubStock.Available + c.Available + c.Reserved + c.Sold; total != 30 {
		t.Fatalf("counts add up to %d, imported 30", total)
	}
}

func TestRecallHandsSurplusBack(t *testing.T) {
	ctx := context.Background()
	h, hub := hubWithStock(t)
	srv := open(t)
	resp, _ := hub.Sync(ctx, "n1", network.SyncRequest{Instance: "i1"})
	_ = srv.inv.ApplyHandoff(ctx, "n1", resp.Handoffs[0])
	acks, _ := srv.inv.PendingAcks(ctx)
	if _, err := hub.Sync(ctx, "n1", network.SyncRequest{Instance: "i1", Acks: acks}); err != nil {
		t.Fatal(err)
	}
	_ = srv.inv.ConfirmAcks(ctx, []string{acks[0].ID})
	// The store got quiet: its target drops to 4, so 6 of its 10 go back.
	_ = h.inv.SetLevel(ctx, inventory.Level{NodeID: "n1", ProductID: "p", TargetLevel: 4})
	resp, err := hub.Sync(ctx, "n1", network.SyncRequest{Instance: "i1"})
	if err != nil || len(resp.Handoffs) != 1 || resp.Handoffs[0].Direction != "to_hub" || resp.Handoffs[0].Count != 6 {
		t.Fatalf("recall: %+v %v", resp.Handoffs, err)
	}
	for range 2 {
		if err := srv.inv.ApplyRecall(ctx, "n1", resp.Handoffs[0]); err != nil {
			t.Fatal(err)
		}
	}
	if c := count(t, srv, "n1"); c.Available != 4 {
		t.Fatalf("server holds %d after the recall", c.Available)
	}
	acks, _ = srv.inv.PendingAcks(ctx)
	for range 2 {
		if _, err := hub.Sync(ctx, "n1", network.SyncRequest{Instance: "i1", Acks: acks}); err != nil {
			t.Fatal(err)
		}
	}
	if c, hc := count(t, h, "n1"), count(t, h, inventory.HubNode); c.Available != 4 || hc.Available != 26 {
		t.Fatalf("hub: node holds %d, hub %d; want 4 and 26", c.Available, hc.Available)
	}
}

// Package network is the hub/server protocol of the PIN distribution network: a server sends
// its hub what it sold and voided, acknowledges handoffs it applied, and receives the
// configuration the hub masters (products, suppliers, terminals with key hashes, levels) and
// the PIN handoffs meant for it. Every message is idempotent: events carry the server's
// sequence numbers, handoffs their ids, so a repeated or reordered message changes nothing
// twice.
package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/prepaidgw/gateway/auth"
	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/conduit"
	"github.com/prepaidgw/gateway/inventory"
	"github.com/prepaidgw/gateway/supply"
)

// SyncRequest is what a server sends its hub.
type SyncRequest struct {
	// Instance identifies the server database: a node syncs from one database only.
	Instance   string            `json:"instance"`
	ConfigHash string            `json:"config_hash"`
	Events     []inventory.Event `json:"events"`
	Acks       []inventory.Ack   `json:"acks"`
	// Transactions are the latest states of the server's transactions, PINs masked, so that
	// the hub's support staff see every sale of the network.
	Transactions []conduit.Report `json:"transactions"`
	// Stock is the server's own count, for information; the hub keeps its own books from
	// handoffs and events, and this server leaves it out rather than count its stock every sync.
	Stock []inventory.Count `json:"stock"`
}

// SyncResponse is the hub's answer.
type SyncResponse struct {
	// Config is set when the server's configuration differs from the hub's.
	Config     *Config             `json:"config,omitempty"`
	ConfigHash string              `json:"config_hash"`
	Handoffs   []inventory.Handoff `json:"handoffs"`
	// EventsThrough is the sequence through which the hub has applied the server's events.
	EventsThrough int64 `json:"events_through"`
	// Confirmed lists the handoff acknowledgements the hub has applied.
	Confirmed []string `json:"confirmed"`
	// TransactionsThrough is the report sequence through which the hub has applied them.
	TransactionsThrough int64 `json:"transactions_through"`
}

// Config is the configuration a hub hands its servers.
type Config struct {
	Products  []catalog.Product       `json:"products"`
	Suppliers []supply.SupplierConfig `json:"suppliers"`
	Terminals []auth.TerminalRecord   `json:"terminals"`
	Levels    []inventory.Level       `json:"levels"`
}

// Hash identifies a configuration.
func (c Config) Hash() string {
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// Hub answers its servers' syncs.
type Hub struct {
	Auth      *auth.Store
	Catalog   *catalog.Store
	Inventory *inventory.Store
	// Conduit, when set, keeps the servers' transaction records at the hub.
	Conduit   *conduit.Service
	Suppliers []supply.SupplierConfig
	Log       *slog.Logger
	Now       func() time.Time

	mu    sync.Mutex
	nodes map[string]*sync.Mutex // one sync at a time per node
}

func (h *Hub) nodeLock(nodeID string) *sync.Mutex {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.nodes == nil {
		h.nodes = map[string]*sync.Mutex{}
	}
	if h.nodes[nodeID] == nil {
		h.nodes[nodeID] = &sync.Mutex{}
	}
	return h.nodes[nodeID]
}

func (h *Hub) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// ConfigFor builds the configuration of node.
func (h *Hub) ConfigFor(ctx context.Context, nodeID string) (Config, error) {
	levels, err := h.Inventory.Levels(ctx)
	if err != nil {
		return Config{}, err
	}
	return h.configFor(ctx, nodeID, levels)
}

func (h *Hub) configFor(ctx context.Context, nodeID string, levels []inventory.Level) (Config, error) {
	var c Config
	var err error
	if c.Products, err = h.Catalog.List(ctx, ""); err != nil {
		return c, err
	}
	if c.Terminals, err = h.Auth.TerminalRecords(ctx, nodeID); err != nil {
		return c, err
	}
	c.Levels = []inventory.Level{}
	for _, l := range levels {
		if l.NodeID == nodeID {
			c.Levels = append(c.Levels, l)
		}
	}
	c.Suppliers = h.Suppliers
	return c, nil
}

// Sync applies what a server reports, tops its stock up to its levels, and answers with its
// open handoffs and, if it changed, its configuration. Acknowledgements are applied before
// events, since a server sells a handed-over PIN only after applying the handoff.
func (h *Hub) Sync(ctx context.Context, nodeID string, req SyncRequest) (SyncResponse, error) {
	// Two syncs of one node at once (a retry racing its original) would both top it up.
	lock := h.nodeLock(nodeID)
	lock.Lock()
	defer lock.Unlock()
	resp := SyncResponse{Confirmed: []string{}}
	if err := h.Inventory.BindInstance(ctx, nodeID, req.Instance); err != nil {
		return resp, err
	}
	for _, a := range req.Acks {
		if err := h.Inventory.ApplyAck(ctx, nodeID, a); err != nil {
			return resp, err
		}
		resp.Confirmed = append(resp.Confirmed, a.ID)
	}
	through, err := h.Inventory.ApplyEvents(ctx, nodeID, req.Events)
	if err != nil {
		return resp, err
	}
	resp.EventsThrough = through
	if h.Conduit != nil {
		if resp.TransactionsThrough, err = h.Conduit.ApplyReports(ctx, nodeID, req.Transactions); err != nil {
			return resp, err
		}
	}
	levels, err := h.Inventory.Levels(ctx)
	if err != nil {
		return resp, err
	}
	if err := h.allocate(ctx, nodeID, levels); err != nil {
		return resp, err
	}
	if resp.Handoffs, err = h.Inventory.OpenHandoffs(ctx, nodeID); err != nil {
		return resp, err
	}
	if resp.Handoffs == nil {
		resp.Handoffs = []inventory.Handoff{}
	}
	cfg, err := h.configFor(ctx, nodeID, levels)
	if err != nil {
		return resp, err
	}
	resp.ConfigHash = cfg.Hash()
	if req.ConfigHash != resp.ConfigHash {
		resp.Config = &cfg
	}
	return resp, h.Inventory.SetNodeConfigHash(ctx, nodeID, req.ConfigHash)
}

// allocate keeps node near its target for every product with a level there: PINs go to it
// while it holds less than its target, oldest expiry first, and a surplus of more than twice
// the target is recalled for the busier stores. With hours of cover set for the node, its
// target follows its sales of the last day.
func (h *Hub) allocate(ctx context.Context, nodeID string, levels []inventory.Level) error {
	cover, err := h.hoursOfCover(ctx, nodeID)
	if err != nil {
		return err
	}
	for _, l := range levels {
		if l.NodeID != nodeID {
			continue
		}
		target := l.TargetLevel
		if cover > 0 {
			sold, err := h.Inventory.SoldSince(ctx, nodeID, l.ProductID, h.now().Add(-24*time.Hour))
			if err != nil {
				return err
			}
			target = max(target, int(math.Ceil(float64(sold)/24*cover)))
		}
		held, inTransit, err := h.Inventory.Held(ctx, nodeID, l.ProductID)
		if err != nil {
			return err
		}
		switch {
		case held+inTransit < target:
			if _, err := h.Inventory.Allocate(ctx, nodeID, l.ProductID, target-held-inTransit); err != nil {
				return err
			}
		case target > 0 && held > 2*target:
			if err := h.Inventory.Recall(ctx, nodeID, l.ProductID, held-target); err != nil {
				return err
			}
		}
	}
	return nil
}

func (h *Hub) hoursOfCover(ctx context.Context, nodeID string) (float64, error) {
	nodes, err := h.Auth.Nodes(ctx)
	if err != nil {
		return 0, err
	}
	for _, n := range nodes {
		if n.ID == nodeID {
			return n.HoursOfCover, nil
		}
	}
	return 0, nil
}

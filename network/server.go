package network

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prepaidgw/gateway/auth"
	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/conduit"
	"github.com/prepaidgw/gateway/inventory"
	"github.com/prepaidgw/gateway/supply"
)

// Server is a server node's side of the sync: it keeps selling from its own stock whatever
// the hub does, and catches up when the hub answers again.
type Server struct {
	HubURL    string
	NodeID    string
	NodeKey   string
	Auth      *auth.Store
	Catalog   *catalog.Store
	Inventory *inventory.Store
	// Conduit, when set, reports this node's transactions to the hub.
	Conduit *conduit.Service
	// ApplySuppliers rebuilds the supply router from the hub's supplier configuration.
	ApplySuppliers func([]supply.SupplierConfig) error
	// Every is the sync interval; default 2s. A sale also prompts a sync.
	Every time.Duration
	Log   *slog.Logger
	// Fault, when set, is called at each step of applying a handoff (tests stop the process
	// there to show that a crash at any step loses and doubles nothing).
	Fault func(step string)

	client *http.Client
	mu     sync.Mutex
	hash   string
	status Status
}

// Status is what the server knows of its hub.
type Status struct {
	Reachable    bool      `json:"reachable"`
	LastSync     time.Time `json:"last_sync"`
	LastError    string    `json:"last_error,omitempty"`
	Unreachable  time.Time `json:"unreachable_since"`
	BytesSent    int64     `json:"bytes_sent"`
	BytesRecvd   int64     `json:"bytes_received"`
	Syncs        int64     `json:"syncs"`
	ConfigHash   string    `json:"config_hash"`
	PendingEvent int       `json:"pending_events"`
}

// Status reports the last sync.
func (s *Server) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

func (s *Server) fault(step string) {
	if s.Fault != nil {
		s.Fault(step)
	}
}

// Run syncs every interval and after sales, until ctx ends.
func (s *Server) Run(ctx context.Context) {
	if s.Every <= 0 {
		s.Every = 2 * time.Second
	}
	t := time.NewTicker(s.Every)
	defer t.Stop()
	for {
		if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
			s.Log.Debug("sync with the hub failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.Inventory.Sold():
		}
	}
}

// Sync exchanges with the hub until nothing is left to acknowledge (at most a few rounds).
func (s *Server) Sync(ctx context.Context) error {
	for round := 0; round < 4; round++ {
		more, err := s.syncOnce(ctx)
		s.mu.Lock()
		now := time.Now()
		if err != nil {
			if s.status.Reachable || s.status.Unreachable.IsZero() {
				s.status.Unreachable = now
				s.Log.Warn("hub unreachable; selling from own stock", "hub", s.HubURL, "err", err)
			}
			s.status.Reachable = false
			s.status.LastError = err.Error()
		} else {
			if !s.status.Reachable && !s.status.Unreachable.IsZero() {
				s.Log.Info("hub reachable again", "hub", s.HubURL)
			}
			s.status.Reachable, s.status.LastSync, s.status.LastError = true, now, ""
			s.status.Unreachable = time.Time{}
		}
		s.mu.Unlock()
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (s *Server) syncOnce(ctx context.Context) (more bool, err error) {
	var req SyncRequest
	if req.Instance, err = s.Inventory.Instance(ctx); err != nil {
		return false, err
	}
	if req.Events, err = s.Inventory.Events(ctx, 5000); err != nil {
		return false, err
	}
	if req.Acks, err = s.Inventory.PendingAcks(ctx); err != nil {
		return false, err
	}
	if s.Conduit != nil {
		if req.Transactions, err = s.Conduit.Reports(ctx, 1000); err != nil {
			return false, err
		}
	}
	s.mu.Lock()
	req.ConfigHash = s.hash
	s.status.PendingEvent = len(req.Events)
	s.mu.Unlock()

	resp, err := s.post(ctx, req)
	if err != nil {
		return false, err
	}
	if len(req.Acks) > 0 {
		s.fault("ack-sent")
	}
	if resp.Config != nil {
		if err := s.applyConfig(ctx, *resp.Config); err != nil {
			return false, fmt.Errorf("applying the hub's configuration: %w", err)
		}
	}
	s.mu.Lock()
	s.hash = resp.ConfigHash
	s.status.ConfigHash = resp.ConfigHash
	s.mu.Unlock()
	for _, h := range resp.Handoffs {
		s.fault("handoff-received")
		if h.Direction == "to_node" {
			err = s.Inventory.ApplyHandoff(ctx, s.NodeID, h)
		} else {
			err = s.Inventory.ApplyRecall(ctx, s.NodeID, h)
		}
		if err != nil {
			return false, err
		}
		s.fault("handoff-applied")
		more = true
	}
	if err := s.Inventory.TrimEvents(ctx, resp.EventsThrough); err != nil {
		return false, err
	}
	if err := s.Inventory.ConfirmAcks(ctx, resp.Confirmed); err != nil {
		return false, err
	}
	if s.Conduit != nil {
		if err := s.Conduit.TrimReports(ctx, resp.TransactionsThrough); err != nil {
			return false, err
		}
	}
	return more || len(req.Events) == 5000 || len(req.Transactions) == 1000, nil
}

func (s *Server) post(ctx context.Context, req SyncRequest) (SyncResponse, error) {
	if s.client == nil {
		s.client = &http.Client{Timeout: 15 * time.Second}
	}
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, "POST", s.HubURL+"/v1/sync", bytes.NewReader(body))
	if err != nil {
		return SyncResponse{}, err
	}
	hreq.Header.Set("Authorization", "Bearer "+s.NodeKey)
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(hreq)
	if err != nil {
		return SyncResponse{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return SyncResponse{}, err
	}
	s.mu.Lock()
	s.status.BytesSent += int64(len(body))
	s.status.BytesRecvd += int64(len(raw))
	s.status.Syncs++
	s.mu.Unlock()
	if resp.StatusCode != http.StatusOK {
		return SyncResponse{}, fmt.Errorf("hub answered %d", resp.StatusCode)
	}
	var out SyncResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return SyncResponse{}, fmt.Errorf("hub answer: %w", err)
	}
	return out, nil
}

func (s *Server) applyConfig(ctx context.Context, c Config) error {
	if s.ApplySuppliers != nil {
		if err := s.ApplySuppliers(c.Suppliers); err != nil {
			return err
		}
	}
	if err := s.Catalog.ApplyProducts(ctx, c.Products); err != nil {
		return err
	}
	if err := s.Auth.ApplyTerminals(ctx, c.Terminals); err != nil {
		return err
	}
	for _, l := range c.Levels {
		if err := s.Inventory.SetLevel(ctx, l); err != nil {
			return err
		}
	}
	return nil
}

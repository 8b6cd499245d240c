// Package api serves the gateway's REST contract: authentication and roles, body limits and
// decoding, idempotency headers, RFC 9457 problems, and the operations endpoints. It decodes,
// calls the domain packages, and encodes; the decisions are theirs.
package api

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prepaidgw/gateway/auth"
	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/conduit"
	"github.com/prepaidgw/gateway/inventory"
	"github.com/prepaidgw/gateway/network"
	"github.com/prepaidgw/gateway/supply"
)

// Pinger answers whether the database is reachable and migrated.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Server holds what the handlers need.
type Server struct {
	Auth      *auth.Store
	Catalog   *catalog.Store
	Conduit   *conduit.Service
	Router    *supply.Router
	Inventory *inventory.Store
	DB        Pinger
	NodeID    string // the node this server sells for ("hub" at a hub)
	// Hub answers server nodes' syncs; nil on a server node.
	Hub *network.Hub
	// HubURL is set on a server node: configuration writes are refused, they belong to the hub.
	HubURL string
	// HubStatus, on a server node, tells readiness and metrics about the hub.
	HubStatus func() network.Status
	// SalesElsewhere, on a hub, refuses sales: lanes sell at their store's server node.
	SalesElsewhere bool
	OpenAPI        []byte // the served contract
	Log            *slog.Logger
	// RateLimit is the most requests a key may make per second; 0 means 50.
	RateLimit int

	metrics *metrics
}

// Handler builds the HTTP handler with every route.
func (s *Server) Handler() http.Handler {
	if s.Log == nil {
		s.Log = slog.Default()
	}
	if s.RateLimit <= 0 {
		s.RateLimit = 50
	}
	s.metrics = newMetrics(s)
	return s.routes()
}

// Registry is the Prometheus registry behind /metrics; valid after Handler.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

package api

import (
	"context"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/inventory"
	"github.com/prepaidgw/gateway/network"
)

// knownNode reports whether id names this node or a server node registered here.
func (s *Server) knownNode(ctx context.Context, id string) (bool, error) {
	if id == s.NodeID {
		return true, nil
	}
	return s.Auth.NodeExists(ctx, id)
}

// hubOnly answers 403 on a server node for what only its hub may change.
func (s *Server) hubOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.HubURL != "" {
			s.fail(w, r, codeForbidden, "this is a server node: configuration and stock are managed at its hub "+s.HubURL)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type nodeInput struct {
	HoursOfCover float64 `json:"hours_of_cover"`
	// Rekey replaces an existing node's key and unbinds it from its server database (a
	// replaced machine); without it, an existing node's settings change and its key stays.
	Rekey bool `json:"rekey"`
}

type nodeCreated struct {
	ID           string  `json:"id"`
	HoursOfCover float64 `json:"hours_of_cover"`
	APIKey       string  `json:"api_key,omitempty"`
}

func (s *Server) putNode(w http.ResponseWriter, r *http.Request) {
	var in nodeInput
	if !s.decodeJSON(w, r, &in) {
		return
	}
	id := chi.URLParam(r, "id")
	var ve catalog.ValidationError
	if !catalog.ValidID(id) || id == s.NodeID {
		ve.Add("id", "must be 1-64 letters, digits, '.', '_' or '-', and not this node's own id")
	}
	if in.HoursOfCover < 0 || in.HoursOfCover > 24*90 {
		ve.Add("hours_of_cover", "must be from 0 (off) to 2160")
	}
	if err := ve.Err(); err != nil {
		s.failErr(w, r, err)
		return
	}
	n, key, created, err := s.Auth.PutNode(r.Context(), id, in.HoursOfCover, in.Rekey)
	if err == nil && !created && in.Rekey {
		// Re-keyed: the node may move to a new server database.
		err = s.Inventory.ResetNode(r.Context(), id)
	}
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, nodeCreated{ID: n.ID, HoursOfCover: n.HoursOfCover, APIKey: key})
}

type nodeView struct {
	ID           string            `json:"id"`
	HoursOfCover float64           `json:"hours_of_cover"`
	LastSyncAt   *time.Time        `json:"last_sync_at"`
	LagSeconds   *float64          `json:"lag_seconds"`
	InSync       bool              `json:"config_in_sync"`
	Stock        []inventory.Count `json:"stock"`
}

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	nodes, err := s.Auth.Nodes(ctx)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	reports, err := s.Inventory.NodeReports(ctx)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	counts, err := s.Inventory.Counts(ctx)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	items := make([]nodeView, 0, len(nodes))
	for _, n := range nodes {
		v := nodeView{ID: n.ID, HoursOfCover: n.HoursOfCover, Stock: []inventory.Count{}}
		if rep, ok := reports[n.ID]; ok && rep.LastSyncAt.Valid {
			if t, err := time.Parse(time.RFC3339Nano, rep.LastSyncAt.String); err == nil {
				lag := time.Since(t).Seconds()
				v.LastSyncAt, v.LagSeconds = &t, &lag
			}
			if cfg, err := s.Hub.ConfigFor(ctx, n.ID); err == nil {
				v.InSync = rep.ConfigHash == cfg.Hash()
			}
		}
		for _, c := range counts {
			if c.NodeID == n.ID {
				v.Stock = append(v.Stock, c)
			}
		}
		items = append(items, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (s *Server) sync(w http.ResponseWriter, r *http.Request) {
	var req network.SyncRequest
	if !s.decodeSync(w, r, &req) {
		return
	}
	resp, err := s.Hub.Sync(r.Context(), principal(r).NodeID, req)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

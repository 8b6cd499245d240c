package api

import (
	"errors"
	"net/http"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/inventory"
)

// maxCSVBody bounds an import; a million rows is about 50 MB.
const maxCSVBody = 1 << 30

// pinProduct checks that id names a PIN product, writing the problem when it does not.
func (s *Server) pinProduct(w http.ResponseWriter, r *http.Request, id, field string) bool {
	p, err := s.Catalog.Get(r.Context(), id)
	if errors.Is(err, catalog.ErrNotFound) || err == nil && p.Type != catalog.TypePIN {
		var ve catalog.ValidationError
		ve.Add(field, "must name a pin product")
		s.failErr(w, r, &ve)
		return false
	}
	if err != nil {
		s.failErr(w, r, err)
		return false
	}
	return true
}

func (s *Server) importBatch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	productID := q.Get("product_id")
	if productID == "" {
		var ve catalog.ValidationError
		ve.Add("product_id", "is required (query parameter)")
		s.failErr(w, r, &ve)
		return
	}
	if !s.pinProduct(w, r, productID, "product_id") {
		return
	}
	// Stock is imported where it is kept; a hub hands it to its nodes.
	nodeID := s.NodeID
	if n := q.Get("node_id"); n != "" && n != nodeID {
		var ve catalog.ValidationError
		ve.Add("node_id", "stock is imported at node %q, which hands it on", nodeID)
		s.failErr(w, r, &ve)
		return
	}
	b, err := s.Inventory.ImportCSV(r.Context(), productID, nodeID, http.MaxBytesReader(w, r.Body, maxCSVBody))
	var ie *inventory.ImportError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		s.fail(w, r, codePayloadTooLarge, "an import may be at most 1 GiB; split the file")
	case errors.As(err, &ie):
		code := codeValidation
		if ie.Duplicate {
			code = codeDuplicatePIN
		}
		p := newProblem(code, ie.Error())
		p.Errors = ie.Lines
		writeProblem(w, p)
	case err != nil:
		s.failErr(w, r, err)
	default:
		writeJSON(w, http.StatusCreated, b)
	}
}

func (s *Server) getInventory(w http.ResponseWriter, r *http.Request) {
	counts, err := s.Inventory.Counts(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": counts})
}

func (s *Server) putLevels(w http.ResponseWriter, r *http.Request) {
	var l inventory.Level
	if !s.decodeJSON(w, r, &l) {
		return
	}
	var ve catalog.ValidationError
	if l.NodeID == "" {
		l.NodeID = s.NodeID
	}
	if ok, err := s.knownNode(r.Context(), l.NodeID); err != nil {
		s.failErr(w, r, err)
		return
	} else if !ok {
		ve.Add("node_id", "unknown node %q", l.NodeID)
	}
	if l.TargetLevel < 0 || l.TargetLevel > 10_000_000 {
		ve.Add("target_level", "must be from 0 to 10000000")
	}
	if l.ReorderLevel < 0 || l.ReorderLevel > l.TargetLevel {
		ve.Add("reorder_level", "must be from 0 to target_level")
	}
	if l.ProductID == "" {
		ve.Add("product_id", "is required")
	}
	if err := ve.Err(); err != nil {
		s.failErr(w, r, err)
		return
	}
	if !s.pinProduct(w, r, l.ProductID, "product_id") {
		return
	}
	if err := s.Inventory.SetLevel(r.Context(), l); err != nil {
		s.failErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func (s *Server) listOrders(w http.ResponseWriter, r *http.Request) {
	var ve catalog.ValidationError
	limit := parseLimit(r.URL.Query().Get("limit"), &ve)
	if err := ve.Err(); err != nil {
		s.failErr(w, r, err)
		return
	}
	orders, next, err := s.Inventory.OrderPage(r.Context(), limit, r.URL.Query().Get("cursor"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, orderList{Items: orders, NextCursor: next})
}

type orderList struct {
	Items      []inventory.Order `json:"items"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

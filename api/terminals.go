package api

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/prepaidgw/gateway/auth"
	"github.com/prepaidgw/gateway/catalog"
)

type terminalInput struct {
	MerchantID string `json:"merchant_id"`
	NodeID     string `json:"node_id"`
}

type terminalCreated struct {
	ID         string `json:"id"`
	MerchantID string `json:"merchant_id"`
	NodeID     string `json:"node_id"`
	APIKey     string `json:"api_key"`
}

func (s *Server) putTerminal(w http.ResponseWriter, r *http.Request) {
	var in terminalInput
	if !s.decodeJSON(w, r, &in) {
		return
	}
	id := chi.URLParam(r, "id")
	var ve catalog.ValidationError
	if !catalog.ValidID(id) {
		ve.Add("id", "must be 1-64 letters, digits, '.', '_' or '-'")
	}
	if !catalog.ValidID(in.MerchantID) {
		ve.Add("merchant_id", "is required: 1-64 letters, digits, '.', '_' or '-'")
	}
	if in.NodeID == "" {
		in.NodeID = s.NodeID
	}
	if ok, err := s.knownNode(r.Context(), in.NodeID); err != nil {
		s.failErr(w, r, err)
		return
	} else if !ok || s.SalesElsewhere && in.NodeID == s.NodeID {
		ve.Add("node_id", "must name a server node registered here (PUT /v1/nodes/{id}) where the lane sells")
	}
	if err := ve.Err(); err != nil {
		s.failErr(w, r, err)
		return
	}
	t, key, created, err := s.Auth.PutTerminal(r.Context(), id, in.MerchantID, in.NodeID)
	if errors.Is(err, auth.ErrOtherMerchant) {
		ve.Add("merchant_id", "terminal %s was registered for another merchant; register this lane under a new id", id)
		s.failErr(w, r, &ve)
		return
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
	writeJSON(w, status, terminalCreated{ID: t.ID, MerchantID: t.MerchantID, NodeID: t.NodeID, APIKey: key})
}

func (s *Server) deleteTerminal(w http.ResponseWriter, r *http.Request) {
	if err := s.Auth.RevokeTerminal(r.Context(), chi.URLParam(r, "id")); err != nil {
		s.failErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

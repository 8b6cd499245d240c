// Package acmesim is the partner's stand-in for ACME's API, built on the gateway's
// upstreamsim so that it obeys the conformance kit's magic numbers.
package acmesim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/prepaidgw/gateway/drivers/upstreamsim"
)

// Server simulates ACME.
type Server struct {
	*upstreamsim.Sim
	mu   sync.Mutex
	done map[string]map[string]string
}

// New returns a simulator.
func New() *Server {
	return &Server{Sim: upstreamsim.New(upstreamsim.Knobs{}), done: map[string]map[string]string{}}
}

// ServeHTTP implements the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method == "GET" {
		s.mu.Lock()
		rec, ok := s.done[r.URL.Query().Get("ref")]
		s.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"not found"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(rec)
		return
	}
	var in struct {
		Ref    string `json:"ref"`
		MSISDN string `json:"msisdn"`
	}
	_ = json.NewDecoder(r.Body).Decode(&in)
	n := s.Count(in.Ref)
	b := s.Choose(in.MSISDN)
	switch b {
	case upstreamsim.Decline:
		_ = json.NewEncoder(w).Encode(map[string]string{"state": "rejected", "reason": "number not eligible"})
		return
	case upstreamsim.ErrorInside:
		_ = json.NewEncoder(w).Encode(map[string]string{"state": "error", "reason": "try later"})
		return
	}
	rec := map[string]string{"id": fmt.Sprintf("acme-%s-%d", in.Ref, n), "state": "done"}
	s.mu.Lock()
	s.done[in.Ref] = rec
	s.mu.Unlock()
	if s.Misbehave(w, r, b) {
		return
	}
	if b == upstreamsim.WrongTypes {
		_, _ = w.Write([]byte(`{"id": 42, "state": true}`))
		return
	}
	_ = json.NewEncoder(w).Encode(rec)
}

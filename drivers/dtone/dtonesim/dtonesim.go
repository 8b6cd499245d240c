// Package dtonesim simulates a DT One DVS-style API over HTTP (Basic auth, synchronous
// transactions, lookup by external_id), with the knobs and magic numbers of upstreamsim.
package dtonesim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prepaidgw/gateway/drivers/upstreamsim"
)

// Credentials the simulator accepts.
const (
	APIKey    = "sim-key"
	APISecret = "sim-secret"
)

// Server is the simulated API.
type Server struct {
	*upstreamsim.Sim

	mu     sync.Mutex
	byExt  map[string]map[string]any
	nextID int64
}

// New returns a simulator.
func New(k upstreamsim.Knobs) *Server {
	return &Server{Sim: upstreamsim.New(k), byExt: map[string]map[string]any{}, nextID: 5_000_000}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, code int64, msg string) {
	writeJSON(w, status, map[string]any{"errors": []map[string]any{{"code": code, "message": msg}}})
}

func statusOf(id, class int64, msg string) map[string]any {
	return map[string]any{"id": id, "message": msg, "class": map[string]any{"id": class, "message": strings.SplitN(msg, "-", 2)[0]}}
}

// ServeHTTP implements the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, secret, ok := r.BasicAuth()
	if !ok || key != APIKey || secret != APISecret {
		fail(w, http.StatusUnauthorized, 1000401, "Unauthorized")
		return
	}
	switch {
	case r.Method == "POST" && r.URL.Path == "/v1/sync/transactions":
		s.create(w, r)
	case r.Method == "GET" && r.URL.Path == "/v1/transactions":
		s.lookup(w, r)
	default:
		fail(w, http.StatusNotFound, 1000404, "Not found")
	}
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ExternalID  string            `json:"external_id"`
		ProductID   int64             `json:"product_id"`
		AutoConfirm bool              `json:"auto_confirm"`
		Party       map[string]string `json:"credit_party_identifier"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.ExternalID == "" || in.ProductID == 0 || len(in.Party) == 0 {
		fail(w, http.StatusBadRequest, 1005003, "external_id, product_id and credit_party_identifier are required")
		return
	}
	s.Count(in.ExternalID)
	s.Wait(r)
	s.mu.Lock()
	_, dup := s.byExt[in.ExternalID]
	s.mu.Unlock()
	if dup {
		fail(w, http.StatusConflict, 1003409, "external_id already used")
		return
	}
	number := in.Party["mobile_number"] + in.Party["account_number"]
	b := s.Choose(number)
	switch b {
	case upstreamsim.Error:
		fail(w, http.StatusInternalServerError, 1000500, "Internal server error")
		return
	case upstreamsim.ErrorInside:
		writeJSON(w, http.StatusOK, map[string]any{"errors": []map[string]any{{"code": 1000500, "message": "Internal server error"}}})
		return
	}
	s.mu.Lock()
	s.nextID++
	t := map[string]any{"id": s.nextID, "external_id": in.ExternalID, "product": map[string]any{"id": in.ProductID},
		"credit_party_identifier": in.Party, "creation_date": time.Now().UTC().Format(time.RFC3339),
		"status": statusOf(70000, 7, "COMPLETED")}
	if b == upstreamsim.Decline {
		t["status"] = statusOf(90201, 9, "DECLINED-INVALID-CREDIT-PARTY")
	}
	s.byExt[in.ExternalID] = t
	s.mu.Unlock()
	if s.Misbehave(w, r, b) {
		return
	}
	if b == upstreamsim.WrongTypes {
		writeJSON(w, http.StatusCreated, map[string]any{"id": strconv.FormatInt(s.nextID, 10), "status": "COMPLETED"})
		return
	}
	writeJSON(w, http.StatusCreated, t)
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) {
	ext := r.URL.Query().Get("external_id")
	s.mu.Lock()
	list := []map[string]any{}
	if t, ok := s.byExt[ext]; ok {
		list = append(list, t)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, list)
}

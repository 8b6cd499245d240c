// Package reloadlysim simulates a Reloadly-style Airtime API over HTTP (OAuth client
// credentials, POST /topups, transaction reports by customIdentifier), with the knobs and
// magic numbers of upstreamsim, for demos and tests.
package reloadlysim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prepaidgw/gateway/drivers/upstreamsim"
)

// Credentials the simulator accepts.
const (
	ClientID     = "sim-client"
	ClientSecret = "sim-secret"
)

// Server is the simulated API.
type Server struct {
	*upstreamsim.Sim
	// TokenTTL is how long a token lives; default an hour.
	TokenTTL time.Duration

	mu     sync.Mutex
	tokens map[string]time.Time
	byRef  map[string]*transaction
	nextID int64
}

type transaction struct {
	TransactionID         int64   `json:"transactionId"`
	Status                string  `json:"status"`
	OperatorTransactionID string  `json:"operatorTransactionId"`
	CustomIdentifier      string  `json:"customIdentifier"`
	RecipientPhone        string  `json:"recipientPhone"`
	CountryCode           string  `json:"countryCode"`
	OperatorID            int64   `json:"operatorId"`
	RequestedAmount       float64 `json:"requestedAmount"`
	RequestedCurrency     string  `json:"requestedAmountCurrencyCode"`
	TransactionDate       string  `json:"transactionDate"`
}

// New returns a simulator.
func New(k upstreamsim.Knobs) *Server {
	return &Server{Sim: upstreamsim.New(k), TokenTTL: time.Hour, tokens: map[string]time.Time{},
		byRef: map[string]*transaction{}, nextID: 1000}
}

// ServeHTTP implements the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == "POST" && r.URL.Path == "/oauth/token":
		s.token(w, r)
	case r.Method == "POST" && r.URL.Path == "/topups":
		s.topup(w, r)
	case r.Method == "GET" && r.URL.Path == "/topups/reports/transactions":
		s.report(w, r)
	default:
		s.fail(w, r, http.StatusNotFound, "NOT_FOUND", "no such resource")
	}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"timeStamp": time.Now().UTC().Format(time.RFC3339), "message": msg,
		"path": r.URL.Path, "errorCode": code, "infoLink": nil, "details": []any{}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		GrantType    string `json:"grant_type"`
		Audience     string `json:"audience"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.GrantType != "client_credentials" {
		s.fail(w, r, http.StatusBadRequest, "INVALID_REQUEST", "expected client credentials")
		return
	}
	if in.ClientID != ClientID || in.ClientSecret != ClientSecret {
		s.fail(w, r, http.StatusUnauthorized, "INVALID_CREDENTIALS", "Access Denied")
		return
	}
	s.mu.Lock()
	s.nextID++
	tok := "tok-" + strconv.FormatInt(s.nextID, 36) + strconv.FormatInt(time.Now().UnixNano(), 36)
	s.tokens[tok] = time.Now().Add(s.TokenTTL)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "scope": "send-topups read-topups-history",
		"expires_in": int64(s.TokenTTL.Seconds()), "token_type": "Bearer"})
}

func (s *Server) authorized(r *http.Request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[upstreamsim.Bearer(r)]
	return ok && time.Now().Before(exp)
}

func (s *Server) topup(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		s.fail(w, r, http.StatusUnauthorized, "TOKEN_EXPIRED", "Full authentication is required to access this resource")
		return
	}
	var in struct {
		OperatorID       int64       `json:"operatorId"`
		Amount           json.Number `json:"amount"`
		CustomIdentifier string      `json:"customIdentifier"`
		RecipientPhone   struct {
			CountryCode string `json:"countryCode"`
			Number      string `json:"number"`
		} `json:"recipientPhone"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.CustomIdentifier == "" || in.RecipientPhone.Number == "" {
		s.fail(w, r, http.StatusBadRequest, "INVALID_REQUEST", "operatorId, amount, customIdentifier and recipientPhone are required")
		return
	}
	s.Count(in.CustomIdentifier)
	s.Wait(r)
	s.mu.Lock()
	_, dup := s.byRef[in.CustomIdentifier]
	s.mu.Unlock()
	if dup {
		s.fail(w, r, http.StatusBadRequest, "DUPLICATED_CUSTOM_IDENTIFIER", "customIdentifier has been used before")
		return
	}
	b := s.Choose(in.RecipientPhone.Number)
	switch b {
	case upstreamsim.Decline:
		s.fail(w, r, http.StatusBadRequest, "INVALID_RECIPIENT_PHONE", "The recipient phone number is not valid for this operator")
		return
	case upstreamsim.Error:
		s.fail(w, r, http.StatusInternalServerError, "INTERNAL_ERROR", "Something went wrong")
		return
	case upstreamsim.ErrorInside:
		writeJSON(w, http.StatusOK, map[string]any{"status": "FAILED", "errorCode": "TRANSACTION_CANNOT_BE_PROCESSED_AT_THE_MOMENT",
			"message": "The transaction cannot be processed at the moment", "customIdentifier": in.CustomIdentifier})
		return
	}
	amount, _ := in.Amount.Float64()
	s.mu.Lock()
	s.nextID++
	t := &transaction{TransactionID: s.nextID, Status: "SUCCESSFUL", OperatorTransactionID: "OP-" + strconv.FormatInt(s.nextID, 10),
		CustomIdentifier: in.CustomIdentifier, RecipientPhone: in.RecipientPhone.Number, CountryCode: in.RecipientPhone.CountryCode,
		OperatorID: in.OperatorID, RequestedAmount: amount, RequestedCurrency: "USD", TransactionDate: time.Now().UTC().Format(time.RFC3339)}
	s.byRef[in.CustomIdentifier] = t
	s.mu.Unlock()
	if s.Misbehave(w, r, b) {
		return
	}
	if b == upstreamsim.WrongTypes {
		writeJSON(w, http.StatusOK, map[string]any{"transactionId": "T" + strconv.FormatInt(t.TransactionID, 10), "status": 7})
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		s.fail(w, r, http.StatusUnauthorized, "TOKEN_EXPIRED", "Full authentication is required to access this resource")
		return
	}
	ref := r.URL.Query().Get("customIdentifier")
	s.mu.Lock()
	content := []*transaction{}
	if t, ok := s.byRef[ref]; ok {
		content = append(content, t)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"content": content, "totalElements": len(content)})
}

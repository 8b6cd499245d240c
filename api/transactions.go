package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/prepaidgw/gateway/auth"
	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/conduit"
)

// validIdempotencyKey: 1 to 255 printable ASCII characters.
func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

func (s *Server) createTransaction(w http.ResponseWriter, r *http.Request) {
	if s.SalesElsewhere {
		s.fail(w, r, codeForbidden, "this is a hub: lanes sell at their store's server node")
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if !validIdempotencyKey(key) {
		s.fail(w, r, codeIdemRequired, "send an Idempotency-Key header of 1 to 255 printable ASCII characters, unique per sale")
		return
	}
	var req conduit.Request
	if !s.decodeJSON(w, r, &req) {
		return
	}
	p := principal(r)
	res, err := s.Conduit.Submit(r.Context(), conduit.Caller{TerminalID: p.TerminalID, MerchantID: p.MerchantID, NodeID: p.NodeID}, key, req)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	if res.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	} else {
		s.metrics.sales.WithLabelValues(string(res.Transaction.Type), string(res.Transaction.Status)).Inc()
	}
	s.writeSaleAnswer(w, res.Transaction)
}

// writeSaleAnswer renders the answer to a sale from the transaction alone, so that a replay
// rendered from the stored first answer is the same, byte for byte.
func (s *Server) writeSaleAnswer(w http.ResponseWriter, t conduit.Transaction) {
	w.Header().Set("Location", "/v1/transactions/"+t.ID)
	switch t.Status {
	case conduit.StatusApproved:
		writeJSON(w, http.StatusCreated, t)
	case conduit.StatusPending:
		writeJSON(w, http.StatusAccepted, t)
	case conduit.StatusDeclined, conduit.StatusFailed:
		code, msg := codeSupplierUnavailable, "the transaction failed"
		if t.Error != nil {
			code, msg = t.Error.Code, t.Error.Message
		}
		p := newProblem(code, msg)
		p.TransactionID = t.ID
		writeProblem(w, p)
	default:
		writeJSON(w, http.StatusOK, t)
	}
}

// view is what principal p may see of t; ok is false when p may not see it at all, which is
// answered 404 so that nobody learns another lane's transaction exists.
func view(p auth.Principal, t conduit.Transaction) (conduit.Transaction, bool) {
	if p.Role == auth.RoleTerminal {
		if t.TerminalID != p.TerminalID || t.MerchantID != p.MerchantID {
			return conduit.Transaction{}, false
		}
		return t, true
	}
	return t.Masked(), true
}

func (s *Server) getTransaction(w http.ResponseWriter, r *http.Request) {
	t, err := s.Conduit.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	t, ok := view(principal(r), t)
	if !ok {
		s.failErr(w, r, conduit.ErrNotFound)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

type transactionList struct {
	Items      []conduit.Transaction `json:"items"`
	NextCursor string                `json:"next_cursor,omitempty"`
}

func (s *Server) listTransactions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var ve catalog.ValidationError
	f := conduit.Filter{
		Status: conduit.Status(q.Get("status")), Type: catalog.Type(q.Get("type")),
		TerminalID: q.Get("terminal_id"), MerchantID: q.Get("merchant_id"), Cursor: q.Get("cursor"),
	}
	switch f.Status {
	case "", conduit.StatusApproved, conduit.StatusPending, conduit.StatusDeclined, conduit.StatusFailed, conduit.StatusVoided:
	default:
		ve.Add("status", "must be one of approved, pending, declined, failed, voided")
	}
	if f.Type != "" && !f.Type.Valid() {
		ve.Add("type", "must be one of pin, topup, giftcard")
	}
	f.From = parseTimeParam(q.Get("from"), "from", &ve)
	f.To = parseTimeParam(q.Get("to"), "to", &ve)
	f.Limit = parseLimit(q.Get("limit"), &ve)
	if err := ve.Err(); err != nil {
		s.failErr(w, r, err)
		return
	}
	p := principal(r)
	if p.Role == auth.RoleTerminal {
		// A lane lists only its own; asking for another's finds nothing.
		if f.TerminalID != "" && f.TerminalID != p.TerminalID || f.MerchantID != "" && f.MerchantID != p.MerchantID {
			writeJSON(w, http.StatusOK, transactionList{Items: []conduit.Transaction{}})
			return
		}
		f.TerminalID = p.TerminalID
	}
	items, next, err := s.Conduit.List(r.Context(), f)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	for i := range items {
		items[i], _ = view(p, items[i])
	}
	writeJSON(w, http.StatusOK, transactionList{Items: items, NextCursor: next})
}

func parseTimeParam(v, field string, ve *catalog.ValidationError) *time.Time {
	if v == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		ve.Add(field, "must be an RFC 3339 time such as 2026-01-31T00:00:00Z")
		return nil
	}
	return &t
}

func parseLimit(v string, ve *catalog.ValidationError) int {
	if v == "" {
		return 50
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 200 {
		ve.Add("limit", "must be an integer from 1 to 200")
		return 0
	}
	return n
}

func (s *Server) voidTransaction(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	p := principal(r)
	t, err := s.Conduit.Get(r.Context(), id)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	if _, ok := view(p, t); !ok {
		s.failErr(w, r, conduit.ErrNotFound)
		return
	}
	t, err = s.Conduit.Void(r.Context(), id)
	if err != nil {
		if errors.Is(err, conduit.ErrVoidNotAllowed) {
			pr := newProblem(codeVoidNotAllowed, err.Error())
			pr.TransactionID = id
			writeProblem(w, pr)
			return
		}
		s.failErr(w, r, err)
		return
	}
	t, _ = view(p, t)
	writeJSON(w, http.StatusOK, t)
}

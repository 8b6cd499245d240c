package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/prepaidgw/gateway/auth"
	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/conduit"
	"github.com/prepaidgw/gateway/inventory"
	"github.com/prepaidgw/gateway/supply"
)

// Problem is an RFC 9457 problem document with the contract's stable code.
type Problem struct {
	Type          string               `json:"type"`
	Title         string               `json:"title"`
	Status        int                  `json:"status"`
	Detail        string               `json:"detail,omitempty"`
	Code          string               `json:"code"`
	Errors        []catalog.FieldError `json:"errors,omitempty"`
	TransactionID string               `json:"transaction_id,omitempty"`
}

// Stable problem codes.
const (
	codeValidation          = "validation_failed"
	codeMalformedJSON       = "malformed_json"
	codePayloadTooLarge     = "payload_too_large"
	codeUnauthorized        = "unauthorized"
	codeForbidden           = "forbidden"
	codeNotFound            = "not_found"
	codeUnknownProduct      = "unknown_product"
	codeIdemRequired        = "idempotency_key_required"
	codeIdemReuse           = "idempotency_key_reuse"
	codeIdemInProgress      = "idempotency_in_progress"
	codeVoidNotAllowed      = "void_not_allowed"
	codeRateLimited         = "rate_limited"
	codeDuplicatePIN        = "duplicate_pin"
	codeMethodNotAllowed    = "method_not_allowed"
	codeInternal            = "internal_error"
	codeNodeConflict        = "node_conflict"
	codeSupplierUnavailable = supply.CodeSupplierUnavailable
)

// problemKinds is the one table from a code to its HTTP status and title.
var problemKinds = map[string]struct {
	status int
	title  string
}{
	codeValidation:              {http.StatusUnprocessableEntity, "The request is not valid"},
	codeMalformedJSON:           {http.StatusBadRequest, "The body is not valid JSON"},
	codePayloadTooLarge:         {http.StatusRequestEntityTooLarge, "The body is too large"},
	codeUnauthorized:            {http.StatusUnauthorized, "Missing or invalid API key"},
	codeForbidden:               {http.StatusForbidden, "This key may not do that"},
	codeNotFound:                {http.StatusNotFound, "Not found"},
	codeUnknownProduct:          {http.StatusNotFound, "Unknown product"},
	supply.CodeOutOfStock:       {http.StatusConflict, "Out of stock"},
	supply.CodeSupplierDeclined: {http.StatusUnprocessableEntity, "The supplier declined the transaction"},
	codeSupplierUnavailable:     {http.StatusServiceUnavailable, "No supplier is available"},
	codeIdemRequired:            {http.StatusBadRequest, "An Idempotency-Key header is required"},
	codeIdemReuse:               {http.StatusConflict, "Idempotency-Key reused with another body"},
	codeIdemInProgress:          {http.StatusConflict, "The first request with this Idempotency-Key is still running"},
	codeVoidNotAllowed:          {http.StatusConflict, "The transaction cannot be voided"},
	codeRateLimited:             {http.StatusTooManyRequests, "Too many requests"},
	codeDuplicatePIN:            {http.StatusConflict, "Serial or PIN already known"},
	codeMethodNotAllowed:        {http.StatusMethodNotAllowed, "Method not allowed"},
	codeInternal:                {http.StatusInternalServerError, "Internal error"},
	codeNodeConflict:            {http.StatusConflict, "Another server database holds this node"},
}

// retryAfterSeconds is what a lane is told to wait after supplier_unavailable.
const retryAfterSeconds = 30

func newProblem(code, detail string) Problem {
	k, ok := problemKinds[code]
	if !ok {
		code, k = codeInternal, problemKinds[codeInternal]
	}
	return Problem{Type: "/problems/" + code, Title: k.title, Status: k.status, Detail: detail, Code: code}
}

func writeProblem(w http.ResponseWriter, p Problem) {
	body := marshal(p)
	writeProblemBytes(w, p.Status, p.Code, body)
}

func writeProblemBytes(w http.ResponseWriter, status int, code string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	switch code {
	case codeSupplierUnavailable:
		h.Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	case codeRateLimited:
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, code, detail string) {
	writeProblem(w, newProblem(code, detail))
}

// failErr maps a domain error to its problem; anything unexpected is logged and hidden.
func (s *Server) failErr(w http.ResponseWriter, r *http.Request, err error) {
	var ve *catalog.ValidationError
	switch {
	case errors.As(err, &ve):
		p := newProblem(codeValidation, ve.Error())
		p.Errors = ve.Fields
		writeProblem(w, p)
	case errors.Is(err, conduit.ErrUnknownProduct):
		s.fail(w, r, codeUnknownProduct, err.Error())
	case errors.Is(err, conduit.ErrNotFound), errors.Is(err, catalog.ErrNotFound), errors.Is(err, auth.ErrNotFound):
		s.fail(w, r, codeNotFound, "no such resource")
	case errors.Is(err, conduit.ErrIdempotencyReuse):
		s.fail(w, r, codeIdemReuse, err.Error())
	case errors.Is(err, conduit.ErrIdempotencyInProgress):
		s.fail(w, r, codeIdemInProgress, err.Error()+"; retry shortly with the same key and body")
	case errors.Is(err, conduit.ErrVoidNotAllowed):
		s.fail(w, r, codeVoidNotAllowed, err.Error())
	case errors.Is(err, inventory.ErrOtherInstance):
		s.fail(w, r, codeNodeConflict, err.Error())
	case errors.Is(err, conduit.ErrBadCursor), errors.Is(err, inventory.ErrBadCursor):
		p := newProblem(codeValidation, "the cursor is not valid")
		p.Errors = []catalog.FieldError{{Field: "cursor", Message: "is not a cursor this gateway gave out"}}
		writeProblem(w, p)
	default:
		s.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		s.fail(w, r, codeInternal, "the gateway could not complete the request; it has been logged")
	}
}

// marshal encodes v without HTML escaping: these are API bodies, not HTML, and "<api key>"
// should read as written.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONBytes(w, status, marshal(v))
}

func writeJSONBytes(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

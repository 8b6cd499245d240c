package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/prepaidgw/gateway/catalog"
)

// maxJSONBody bounds every JSON request body; a service request is a few hundred bytes.
const maxJSONBody = 64 << 10

// decodeJSON reads exactly one JSON object into v, rejecting unknown fields. On failure it
// has written the problem and returns false.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	return s.decodeLimited(w, r, v, maxJSONBody)
}

// maxSyncBody bounds a server's sync message: thousands of events.
const maxSyncBody = 32 << 20

func (s *Server) decodeSync(w http.ResponseWriter, r *http.Request, v any) bool {
	return s.decodeLimited(w, r, v, maxSyncBody)
}

func (s *Server) decodeLimited(w http.ResponseWriter, r *http.Request, v any, maxJSONBody int64) bool {
	if r.ContentLength > maxJSONBody {
		s.fail(w, r, codePayloadTooLarge, fmt.Sprintf("the body may be at most %d bytes", maxJSONBody))
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value in the body")
	}
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("unexpected data after the JSON object")
		}
	}
	if err == nil {
		return true
	}
	var (
		tooLarge *http.MaxBytesError
		typeErr  *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		s.fail(w, r, codePayloadTooLarge, fmt.Sprintf("the body may be at most %d bytes", maxJSONBody))
	case errors.As(err, &typeErr) && typeErr.Field != "":
		p := newProblem(codeValidation, "a field has the wrong JSON type")
		p.Errors = []catalog.FieldError{{Field: typeErr.Field, Message: "must be " + jsonKind(typeErr.Type.Kind().String())}}
		writeProblem(w, p)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		p := newProblem(codeValidation, "the body has a field this API does not know")
		p.Errors = []catalog.FieldError{{Field: field, Message: "is not a known field"}}
		writeProblem(w, p)
	case errors.Is(err, io.EOF):
		s.fail(w, r, codeMalformedJSON, "the body is empty; send a JSON object")
	default:
		s.fail(w, r, codeMalformedJSON, "the body is not a valid JSON object: "+err.Error())
	}
	return false
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64", "int32", "uint32", "uint64":
		return "an integer"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "struct", "map":
		return "an object"
	case "slice":
		return "an array"
	case "ptr":
		return "a value of the documented type"
	}
	return "of the documented type"
}

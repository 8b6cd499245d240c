package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/go-chi/chi/v5"
)

// specFile is the contract, beside this test.
const specFile = "openapi.yaml"

// contract is openapi.yaml, loaded, validated and routed once for every test of the package.
var contract struct {
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	err    error
}

// rawBodyDecoder hands a body to the validator as the string it is.
func rawBodyDecoder(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	b, err := io.ReadAll(body)
	return string(b), err
}

func loadContract() (*openapi3.T, error) {
	raw, err := os.ReadFile(specFile)
	if err != nil {
		return nil, err
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", specFile, err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("%s is not a valid OpenAPI document: %w", specFile, err)
	}
	return doc, nil
}

func specRouter(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	contract.once.Do(func() {
		// The explorer's pages, scripts and styles are text the schema calls a string.
		for _, ct := range []string{"text/html", "text/javascript", "text/css"} {
			openapi3filter.RegisterBodyDecoder(ct, rawBodyDecoder)
		}
		contract.doc, contract.err = loadContract()
		if contract.err == nil {
			contract.router, contract.err = legacy.NewRouter(contract.doc)
		}
	})
	if contract.err != nil {
		t.Fatalf("openapi.yaml: %v", contract.err)
	}
	return contract.doc, contract.router
}

var responseOptions = &openapi3filter.Options{
	ExcludeRequestBody:    true, // the request body has been sent and consumed
	IncludeResponseStatus: true, // a status the operation does not document is an error
	MultiError:            true,
	AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
}

// checkAgainstSpec fails the test when the gateway answered req with something openapi.yaml
// does not allow: an undocumented status, a body that does not match its schema, a content
// type not listed, or a required header missing. A request to a path or method the document
// does not have (tests call unknown endpoints on purpose) must still be answered with a
// problem document.
func checkAgainstSpec(t *testing.T, req *http.Request, r response) {
	t.Helper()
	if err := specError(t, req, r); err != nil {
		// Errorf, not Fatalf: sales are sent from many goroutines at once.
		t.Errorf("%s %s answered %d, which openapi.yaml does not allow: %v\nContent-Type: %s\nbody: %s",
			req.Method, req.URL.RequestURI(), r.Status, err, r.Header.Get("Content-Type"), clip(r.Body))
	}
}

func specError(t testing.TB, req *http.Request, r response) error {
	doc, router := specRouter(t)
	route, params, err := router.FindRoute(req)
	if err != nil {
		var re *routers.RouteError
		if !errors.As(err, &re) {
			return fmt.Errorf("finding the route: %w", err)
		}
		// Not an operation of the contract: the answer must be a problem all the same.
		return checkProblem(doc.Components.Schemas["Problem"], req, r)
	}
	if p := req.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") && !strings.HasSuffix(route.Path, "/") {
		// kin-openapi's router ignores a trailing slash; the gateway's does not, and neither
		// does the document: /docs/ is not /docs.
		return checkProblem(doc.Components.Schemas["Problem"], req, r)
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route, Options: responseOptions,
		},
		Status:  r.Status,
		Header:  r.Header,
		Options: responseOptions,
	}
	input.SetBodyBytes(r.Body)
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		return err
	}
	if r.Status == http.StatusNoContent && len(r.Body) != 0 {
		return errors.New("a 204 answer has a body")
	}
	if isProblem(r.Header) {
		return problemStatusMatches(r)
	}
	return nil
}

func isProblem(h http.Header) bool {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt == "application/problem+json"
}

// checkProblem validates an answer from outside the documented operations.
func checkProblem(schema *openapi3.SchemaRef, req *http.Request, r response) error {
	if r.Status < 400 {
		return fmt.Errorf("an undocumented endpoint answered %d", r.Status)
	}
	if !isProblem(r.Header) {
		return fmt.Errorf("an undocumented endpoint answered %q, not application/problem+json", r.Header.Get("Content-Type"))
	}
	if req.Method == http.MethodHead {
		return nil // no body
	}
	var v any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		return fmt.Errorf("problem is not JSON: %w", err)
	}
	if err := schema.Value.VisitJSON(v, openapi3.VisitAsResponse(), openapi3.MultiErrors()); err != nil {
		return fmt.Errorf("problem does not match the Problem schema: %w", err)
	}
	return problemStatusMatches(r)
}

// problemStatusMatches: RFC 9457 says the status member is the HTTP status, and the type
// names the code.
func problemStatusMatches(r response) error {
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
		Code   string `json:"code"`
	}
	if err := json.Unmarshal(r.Body, &p); err != nil {
		return fmt.Errorf("problem is not JSON: %w", err)
	}
	if p.Status != r.Status {
		return fmt.Errorf("problem status %d on an HTTP %d answer", p.Status, r.Status)
	}
	if p.Type != "/problems/"+p.Code {
		return fmt.Errorf("problem type %q does not name its code %q", p.Type, p.Code)
	}
	return nil
}

func clip(b []byte) string {
	const max = 2000
	if len(b) > max {
		return string(b[:max]) + fmt.Sprintf("… (%d bytes)", len(b))
	}
	return string(b)
}

// documentedRoutes is every "METHOD /path" the document has.
func documentedRoutes(doc *openapi3.T) map[string]bool {
	out := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			out[strings.ToUpper(method)+" "+path] = true
		}
	}
	return out
}

func TestOpenAPIRoutesMatchRouter(t *testing.T) {
	doc, _ := specRouter(t)
	tg := newTestGateway(t)
	mux, ok := tg.g.Handler().(chi.Routes)
	if !ok {
		t.Fatalf("the gateway's handler is a %T, not a chi router", tg.g.Handler())
	}
	served := map[string]bool{}
	err := chi.Walk(mux, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if len(route) > 1 {
			route = strings.TrimSuffix(route, "/")
		}
		served[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	documented := documentedRoutes(doc)
	var undocumented, unserved []string
	for r := range served {
		if !documented[r] {
			undocumented = append(undocumented, r)
		}
	}
	for r := range documented {
		if !served[r] {
			unserved = append(unserved, r)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(unserved)
	if len(undocumented) > 0 || len(unserved) > 0 {
		t.Errorf("api/routes.go and openapi.yaml disagree:\n  served, not documented: %v\n  documented, not served: %v",
			undocumented, unserved)
	}
	if len(served) == 0 {
		t.Fatal("walked no routes")
	}
}

func TestOpenAPIDocumentValid(t *testing.T) {
	doc, err := loadContract() // doc.Validate with examples validation
	if err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi: %s, want 3.0.3", doc.OpenAPI)
	}

	// Validate every example ourselves too, so a kin-openapi change cannot quietly stop it,
	// and insist that every JSON body has one.
	check := func(where string, schema *openapi3.SchemaRef, value any, asResponse bool) {
		t.Helper()
		if schema == nil || schema.Value == nil {
			t.Errorf("%s: an example without a schema", where)
			return
		}
		opts := []openapi3.SchemaValidationOption{openapi3.MultiErrors(), openapi3.VisitAsRequest()}
		if asResponse {
			opts[1] = openapi3.VisitAsResponse()
		}
		if err := schema.Value.VisitJSON(value, opts...); err != nil {
			t.Errorf("%s: the example does not match its schema: %v", where, err)
		}
	}
	checkContent := func(where string, content openapi3.Content, asResponse bool) {
		t.Helper()
		for ct, mt := range content {
			w := where + " " + ct
			if mt.Example != nil {
				check(w, mt.Schema, mt.Example, asResponse)
			}
			for name, ex := range mt.Examples {
				check(w+" example "+name, mt.Schema, ex.Value.Value, asResponse)
			}
			if strings.HasSuffix(ct, "json") && mt.Example == nil && len(mt.Examples) == 0 {
				t.Errorf("%s: a JSON body without an example", w)
			}
		}
	}
	names := func(m map[string]*openapi3.SchemaRef) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	for _, name := range names(doc.Components.Schemas) {
		s := doc.Components.Schemas[name]
		if s.Value.Example != nil {
			check("components.schemas."+name, s, s.Value.Example, true)
		}
		for prop, ps := range s.Value.Properties {
			if ps.Value.Example != nil {
				check("components.schemas."+name+"."+prop, ps, ps.Value.Example, true)
			}
		}
	}
	for name, r := range doc.Components.Responses {
		checkContent("components.responses."+name, r.Value.Content, true)
	}
	for name, p := range doc.Components.Parameters {
		if p.Value.Example != nil {
			check("components.parameters."+name, p.Value.Schema, p.Value.Example, false)
		}
	}
	for name, h := range doc.Components.Headers {
		if h.Value.Example != nil {
			check("components.headers."+name, h.Value.Schema, h.Value.Example, true)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			if op.Summary == "" || op.Description == "" {
				t.Errorf("%s: no summary or description", where)
			}
			if op.RequestBody != nil {
				checkContent(where+" request", op.RequestBody.Value.Content, false)
			}
			for status, r := range op.Responses.Map() {
				checkContent(where+" "+status, r.Value.Content, true)
			}
			_, public := map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true,
				"/openapi.yaml": true, "/docs": true, "/docs/{asset}": true}[path]
			secured := op.Security == nil || len(*op.Security) > 0
			if public == secured {
				t.Errorf("%s: security %v, want bearer for /v1 only", where, op.Security)
			}
		}
	}

	// And make sure that validation does catch a bad example.
	bad, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	bad.Components.Schemas["Health"].Value.Example = map[string]any{"status": "maybe"}
	if err := bad.Validate(context.Background(), openapi3.EnableExamplesValidation()); err == nil {
		t.Error("doc.Validate let through an example that does not match its schema")
	}
}

// TestOpenAPIValidatorCatchesDrift makes sure checkAgainstSpec is not vacuous.
func TestOpenAPIValidatorCatchesDrift(t *testing.T) {
	req := func(method, path string) *http.Request {
		r, err := http.NewRequest(method, "http://gateway.test"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	problemHeader := http.Header{"Content-Type": {"application/problem+json"}}
	txn := `{"id":"txn_01KB2ZQ8X3V7N4C5M6P7Q8R9ST","status":"approved","type":"pin","product_id":"demo-pin-10",
		"amount":1000,"currency":"USD","terminal_id":"lane-3","merchant_id":"m-42","node_id":"local",
		"created_at":"2026-01-31T10:15:00Z","updated_at":"2026-01-31T10:15:00Z"}`
	good := []struct {
		name string
		req  *http.Request
		r    response
	}{
		{"health", req("GET", "/healthz"), response{200, jsonHeader, []byte(`{"status":"ok"}`)}},
		{"sale", req("POST", "/v1/transactions"), response{201, http.Header{"Content-Type": {"application/json"},
			"Location": {"/v1/transactions/txn_01KB2ZQ8X3V7N4C5M6P7Q8R9ST"}}, []byte(txn)}},
		{"unknown endpoint", req("GET", "/v2/nothing"), response{404, problemHeader,
			[]byte(`{"type":"/problems/not_found","title":"Not found","status":404,"code":"not_found"}`)}},
		{"trailing slash", req("GET", "/docs/"), response{404, problemHeader,
			[]byte(`{"type":"/problems/not_found","title":"Not found","status":404,"code":"not_found"}`)}},
		{"method not allowed", req("DELETE", "/v1/products"), response{405, problemHeader,
			[]byte(`{"type":"/problems/method_not_allowed","title":"Method not allowed","status":405,"code":"method_not_allowed"}`)}},
	}
	for _, c := range good {
		if err := specError(t, c.req, c.r); err != nil {
			t.Errorf("%s: a good answer was rejected: %v", c.name, err)
		}
	}
	bad := []struct {
		name string
		req  *http.Request
		r    response
	}{
		{"undocumented status", req("GET", "/healthz"), response{418, jsonHeader, []byte(`{"status":"ok"}`)}},
		{"body off schema", req("GET", "/healthz"), response{200, jsonHeader, []byte(`{"status":"fine"}`)}},
		{"undocumented field", req("GET", "/healthz"), response{200, jsonHeader, []byte(`{"status":"ok","uptime":3}`)}},
		{"wrong content type", req("GET", "/healthz"), response{200, http.Header{"Content-Type": {"text/plain"}}, []byte(`ok`)}},
		{"sale without Location", req("POST", "/v1/transactions"), response{201, jsonHeader, []byte(txn)}},
		{"code not allowed for the status", req("POST", "/v1/transactions"), response{409, problemHeader,
			[]byte(`{"type":"/problems/forbidden","title":"x","status":409,"code":"forbidden"}`)}},
		{"problem status differs", req("GET", "/v1/products/x"), response{404, problemHeader,
			[]byte(`{"type":"/problems/not_found","title":"Not found","status":400,"code":"not_found"}`)}},
		{"unknown endpoint not a problem", req("GET", "/v2/nothing"), response{404,
			http.Header{"Content-Type": {"text/plain"}}, []byte(`404 page not found`)}},
	}
	for _, c := range bad {
		if err := specError(t, c.req, c.r); err == nil {
			t.Errorf("%s: the validator let it through", c.name)
		}
	}
}

func TestServedOpenAPIMatchesFile(t *testing.T) {
	want, err := os.ReadFile(specFile)
	if err != nil {
		t.Fatal(err)
	}
	tg := newTestGateway(t)
	r := tg.call("GET", "/openapi.yaml", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /openapi.yaml: %d %s", r.Status, clip(r.Body))
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("Content-Type %q, want application/yaml", ct)
	}
	if !bytes.Equal(r.Body, want) {
		t.Errorf("/openapi.yaml (%d bytes) is not %s (%d bytes); rebuild after editing it", len(r.Body), specFile, len(want))
	}
}

func TestDocsExplorer(t *testing.T) {
	tg := newTestGateway(t)

	r := tg.call("GET", "/docs", "", nil)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	if !bytes.Contains(r.Body, []byte("swagger-ui-bundle.js")) {
		t.Fatalf("the explorer page does not load swagger-ui-bundle.js:\n%s", clip(r.Body))
	}

	r = tg.call("GET", "/docs/swagger-ui-bundle.js", "", nil)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("GET /docs/swagger-ui-bundle.js: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	if len(r.Body) < 100_000 || !bytes.Contains(r.Body, []byte("SwaggerUIBundle")) {
		t.Fatalf("swagger-ui-bundle.js is not the Swagger UI bundle (%d bytes)", len(r.Body))
	}

	r = tg.call("GET", "/docs/swagger-initializer.js", "", nil)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("GET /docs/swagger-initializer.js: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	if !bytes.Contains(r.Body, []byte(`url: "/openapi.yaml"`)) {
		t.Fatalf("the initializer does not point at /openapi.yaml:\n%s", r.Body)
	}

	for _, asset := range []string{"swagger-ui.css", "favicon-32x32.png", "index.html"} {
		if r := tg.call("GET", "/docs/"+asset, "", nil); r.Status != http.StatusOK {
			t.Errorf("GET /docs/%s: %d", asset, r.Status)
		}
	}
	for _, asset := range []string{"nope.js", "swagger-ui-bundle.js.map"} {
		if r := tg.call("GET", "/docs/"+asset, "", nil); r.Status != http.StatusNotFound {
			t.Errorf("GET /docs/%s: %d, want 404", asset, r.Status)
		}
	}
}

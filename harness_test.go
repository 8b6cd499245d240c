package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prepaidgw/gateway"
	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/supply"
)

const (
	testAdminKey   = "gwa_test_admin_key_0123456789"
	testSupportKey = "gws_test_support_key_0123456789"
)

// testGateway is a demo gateway on a temporary database, served over real HTTP.
type testGateway struct {
	t   *testing.T
	g   *gateway.Gateway
	srv *httptest.Server
	dir string
}

type gatewayOption func(*gateway.Options)

// newTestGateway starts a demo gateway; every response it gives a test is checked against
// openapi.yaml.
func newTestGateway(t *testing.T, opts ...gatewayOption) *testGateway {
	t.Helper()
	dir := t.TempDir()
	return openTestGateway(t, dir, opts...)
}

func openTestGateway(t *testing.T, dir string, opts ...gatewayOption) *testGateway {
	t.Helper()
	o := gateway.Options{
		DataDir: dir,
		Demo:    true,
		Config:  gateway.Config{RateLimit: 1_000_000},
		Env: func(k string) string {
			return map[string]string{"GATEWAY_ADMIN_KEY": testAdminKey, "GATEWAY_SUPPORT_KEY": testSupportKey}[k]
		},
	}
	for _, f := range opts {
		f(&o)
	}
	g, err := gateway.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("open gateway: %v", err)
	}
	tg := &testGateway{t: t, g: g, srv: httptest.NewServer(g.Handler()), dir: dir}
	t.Cleanup(tg.close)
	return tg
}

func (tg *testGateway) close() {
	if tg.srv != nil {
		tg.srv.Close()
		_ = tg.g.Close()
		tg.srv = nil
	}
}

// response is what a call brought back.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map for assertions.
func (r response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

// call sends a request; body may be nil, a string or []byte sent as is, or a value to encode.
// headers are name, value pairs.
func (tg *testGateway) call(method, path, key string, body any, headers ...string) response {
	tg.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			tg.t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, tg.srv.URL+path, rd)
	if err != nil {
		tg.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := tg.srv.Client().Do(req)
	if err != nil {
		tg.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tg.t.Fatal(err)
	}
	r := response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	checkAgainstSpec(tg.t, req, r)
	return r
}

// terminal registers a lane and returns its key.
func (tg *testGateway) terminal(id, merchant string) string {
	tg.t.Helper()
	r := tg.call("PUT", "/v1/terminals/"+id, testAdminKey, map[string]string{"merchant_id": merchant})
	if r.Status != http.StatusCreated && r.Status != http.StatusOK {
		tg.t.Fatalf("PUT terminal: %d %s", r.Status, r.Body)
	}
	return r.JSON(tg.t)["api_key"].(string)
}

// sell posts a sale with an idempotency key.
func (tg *testGateway) sell(key, idem string, body any) response {
	tg.t.Helper()
	return tg.call("POST", "/v1/transactions", key, body, "Idempotency-Key", idem)
}

type gatewaySupplier = supply.SupplierConfig

func gatewayDuration(d time.Duration) drivers.Duration { return drivers.Duration(d) }

// noReplenish turns the demo's replenishment off, for tests that count stock down exactly.
func (tg *testGateway) noReplenish() {
	tg.t.Helper()
	wantStatus(tg.t, tg.call("PUT", "/v1/inventory/levels", testAdminKey, map[string]any{
		"product_id": gateway.DemoPINProduct, "target_level": 0, "reorder_level": 0}), 200, "")
}

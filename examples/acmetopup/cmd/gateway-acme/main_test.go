package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prepaidgw/gateway"
	"github.com/prepaidgw/gateway/examples/acmetopup/acmesim"
	"github.com/prepaidgw/gateway/supply"
)

// The partner's binary sells through the partner's driver.
func TestGatewayWithThePartnerDriver(t *testing.T) {
	up := acmesim.New()
	upSrv := httptest.NewServer(up)
	defer upSrv.Close()
	defer up.Close()
	g, err := gateway.Open(context.Background(), gateway.Options{
		DataDir: t.TempDir(),
		Config: gateway.Config{Suppliers: []supply.SupplierConfig{{Name: "acme-1", Driver: "acme",
			Settings: json.RawMessage(`{"base_url":"` + upSrv.URL + `","api_key":"k"}`)}}},
		Env: func(k string) string { return map[string]string{"GATEWAY_ADMIN_KEY": "admin-key-for-test-123"}[k] },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()
	do := func(method, path, key, idem, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewBufferString(body))
		req.Header.Set("Authorization", "Bearer "+key)
		if idem != "" {
			req.Header.Set("Idempotency-Key", idem)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	admin := "admin-key-for-test-123"
	if st, m := do("PUT", "/v1/products/acme-topup", admin, "", `{"type":"topup","name":"ACME","currency":"USD","min_amount":100,"max_amount":5000,"suppliers":["acme-1"]}`); st != 201 {
		t.Fatalf("product: %d %v", st, m)
	}
	_, term := do("PUT", "/v1/terminals/lane-1", admin, "", `{"merchant_id":"m"}`)
	st, m := do("POST", "/v1/transactions", term["api_key"].(string), "k1", `{"product_id":"acme-topup","amount":1000,"currency":"USD","recipient":{"msisdn":"+15551235678"}}`)
	if st != 201 || m["supplier"] != "acme-1" {
		t.Fatalf("sale: %d %v", st, m)
	}
}

// Package acmetopup is an example partner driver: it lives outside the gateway's packages,
// registers itself as "acme", and passes drivertest. ACME is a made-up top-up supplier whose
// API takes POST /recharge {"ref", "msisdn", "amount_cents"} and answers
// {"id", "state": "done"|"rejected", "reason"}; GET /recharge?ref=… looks one up (404 if
// unknown).
//
// A partner copies this package, changes the HTTP calls, and builds a gateway with it using
// a main like cmd/gateway-acme. Nothing in the gateway is edited.
package acmetopup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/drivers"
)

func init() { drivers.Register("acme", New) }

// Settings is what the supplier's configuration holds.
type Settings struct {
	BaseURL string `json:"base_url"`
	APIKey  string `json:"api_key"`
}

// Driver is the ACME top-up driver.
type Driver struct {
	set    Settings
	client *http.Client
}

// New checks the settings, naming the bad one, so a bad configuration stops the start.
func New(cfg drivers.Config) (drivers.Driver, error) {
	var s Settings
	if err := drivers.DecodeSettings(cfg.Settings, &s); err != nil {
		return nil, err
	}
	if u, err := url.Parse(s.BaseURL); err != nil || u.Host == "" {
		return nil, errors.New("settings.base_url: must be an absolute URL")
	}
	if s.APIKey == "" {
		return nil, errors.New("settings.api_key: required")
	}
	s.BaseURL = strings.TrimSuffix(s.BaseURL, "/")
	return &Driver{set: s, client: &http.Client{}}, nil
}

// Types: ACME only recharges phones.
func (d *Driver) Types() []catalog.Type { return []catalog.Type{catalog.TypeTopUp} }

type recharge struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Reason string `json:"reason"`
}

// Execute sends the recharge once; drivers.Send tells "not sent" from "outcome unknown".
func (d *Driver) Execute(ctx context.Context, req drivers.Request) (drivers.Result, error) {
	body, _ := json.Marshal(map[string]any{"ref": req.TransactionID, "msisdn": req.MSISDN, "amount_cents": req.Amount})
	hreq, err := http.NewRequestWithContext(ctx, "POST", d.set.BaseURL+"/recharge", bytes.NewReader(body))
	if err != nil {
		return drivers.Result{}, drivers.NotSent(err)
	}
	hreq.Header.Set("X-Api-Key", d.set.APIKey)
	resp, err := drivers.Send(d.client, hreq)
	if err != nil {
		return drivers.Result{}, fmt.Errorf("acme: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return drivers.Result{}, fmt.Errorf("acme: answered %d; outcome unknown", resp.StatusCode)
	}
	var r recharge
	if err := drivers.ReadJSON(resp, &r); err != nil {
		return drivers.Result{}, fmt.Errorf("acme: %w", err)
	}
	switch {
	case r.State == "done" && r.ID != "":
		return drivers.Result{SupplierRef: r.ID}, nil
	case r.State == "rejected":
		return drivers.Result{}, drivers.Declined("rejected", firstNonEmpty(r.Reason, "ACME rejected the recharge"))
	}
	return drivers.Result{}, fmt.Errorf("acme: state %q; outcome unknown", r.State)
}

// Inquire looks the recharge up by our reference.
func (d *Driver) Inquire(ctx context.Context, req drivers.Request) (drivers.Status, drivers.Result, error) {
	hreq, err := http.NewRequestWithContext(ctx, "GET", d.set.BaseURL+"/recharge?ref="+url.QueryEscape(req.TransactionID), nil)
	if err != nil {
		return drivers.StatusUnknown, drivers.Result{}, err
	}
	hreq.Header.Set("X-Api-Key", d.set.APIKey)
	resp, err := drivers.Send(d.client, hreq)
	if err != nil {
		return drivers.StatusUnknown, drivers.Result{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		if !req.Settled() {
			return drivers.StatusUnknown, drivers.Result{}, nil // it may still be on its way
		}
		return drivers.StatusFailed, drivers.Result{}, nil
	}
	var r recharge
	if err := drivers.ReadJSON(resp, &r); err != nil {
		return drivers.StatusUnknown, drivers.Result{}, err
	}
	switch r.State {
	case "done":
		return drivers.StatusApproved, drivers.Result{SupplierRef: r.ID}, nil
	case "rejected":
		return drivers.StatusFailed, drivers.Result{}, nil
	}
	return drivers.StatusUnknown, drivers.Result{}, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Package dtone is a driver for suppliers that speak the DT One Digital Value Services (DVS)
// API style: HTTP Basic authentication with an API key and secret, synchronous transactions
// (POST /v1/sync/transactions) carrying the gateway's transaction id as external_id, status
// classes (7 COMPLETED; 3 REJECTED, 4 CANCELLED, 9 DECLINED final; others in progress), and
// lookup by external_id. It serves top-ups (credit_party_identifier.mobile_number) and gift
// cards (credit_party_identifier.account_number). Importing it registers the driver "dtone".
//
// Settings:
//
//	{"base_url": "https://dvs-api.dtone.com", "api_key": "…", "api_secret": "…",
//	 "products": {"demo-topup-http": 1001, "demo-gift-http": 2001}}
package dtone

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/drivers"
)

func init() { drivers.Register("dtone", New) }

// Settings configure one DT One-style supplier.
type Settings struct {
	BaseURL   string           `json:"base_url"`
	APIKey    string           `json:"api_key"`
	APISecret string           `json:"api_secret"`
	Products  map[string]int64 `json:"products"`
	Types     []catalog.Type   `json:"types"`
}

// Driver talks to one DT One-style API.
type Driver struct {
	set    Settings
	client *http.Client
}

// New validates the settings and builds the driver.
func New(cfg drivers.Config) (drivers.Driver, error) {
	var s Settings
	if err := drivers.DecodeSettings(cfg.Settings, &s); err != nil {
		return nil, err
	}
	if u, err := url.Parse(s.BaseURL); err != nil || u.Scheme == "" || u.Host == "" {
		return nil, errors.New("settings.base_url: must be an absolute URL")
	}
	switch {
	case s.APIKey == "" || s.APISecret == "":
		return nil, errors.New("settings.api_key and settings.api_secret: required")
	case len(s.Products) == 0:
		return nil, errors.New("settings.products: map at least one product id to a DVS product id")
	}
	if len(s.Types) == 0 {
		s.Types = []catalog.Type{catalog.TypeTopUp, catalog.TypeGiftCard}
	}
	for _, t := range s.Types {
		if t != catalog.TypeTopUp && t != catalog.TypeGiftCard {
			return nil, fmt.Errorf("settings.types: %q is not served (topup, giftcard)", t)
		}
	}
	s.BaseURL = strings.TrimSuffix(s.BaseURL, "/")
	return &Driver{set: s, client: &http.Client{}}, nil
}

// Types implements drivers.Driver.
func (d *Driver) Types() []catalog.Type { return d.set.Types }

type status struct {
	ID      int64  `json:"id"`
	Message string `json:"message"`
	Class   struct {
		ID      int64  `json:"id"`
		Message string `json:"message"`
	} `json:"class"`
}

type transaction struct {
	ID         int64  `json:"id"`
	ExternalID string `json:"external_id"`
	Status     status `json:"status"`
}

type errorsBody struct {
	Errors []struct {
		Code    int64  `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

func (d *Driver) do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.set.BaseURL+path, rd)
	if err != nil {
		return nil, drivers.NotSent(err)
	}
	req.SetBasicAuth(d.set.APIKey, d.set.APISecret)
	req.Header.Set("Content-Type", "application/json")
	return drivers.Send(d.client, req)
}

// Execute creates and confirms the transaction in one synchronous call.
func (d *Driver) Execute(ctx context.Context, req drivers.Request) (drivers.Result, error) {
	product, ok := d.set.Products[req.ProductID]
	if !ok {
		return drivers.Result{}, drivers.NotSent(fmt.Errorf("dtone: no DVS product configured for %s", req.ProductID))
	}
	party := map[string]string{"mobile_number": req.MSISDN}
	if req.Type == catalog.TypeGiftCard {
		party = map[string]string{"account_number": req.CardNumber}
	}
	resp, err := d.do(ctx, "POST", "/v1/sync/transactions", map[string]any{
		"external_id": req.TransactionID, "product_id": product, "auto_confirm": true,
		"credit_party_identifier": party,
	})
	if err != nil {
		return drivers.Result{}, fmt.Errorf("dtone: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return drivers.Result{}, drivers.NotSent(fmt.Errorf("dtone: the supplier refuses our credentials (%d)", resp.StatusCode))
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout:
		var e errorsBody
		if err := drivers.ReadJSON(resp, &e); err == nil && len(e.Errors) > 0 {
			return drivers.Result{}, drivers.Declined("dvs_"+strconv.FormatInt(e.Errors[0].Code, 10), e.Errors[0].Message)
		}
		return drivers.Result{}, fmt.Errorf("dtone: answered %d without a documented error", resp.StatusCode)
	case resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated:
		return drivers.Result{}, fmt.Errorf("dtone: answered %d; the outcome is unknown", resp.StatusCode)
	}
	var t transaction
	if err := drivers.ReadJSON(resp, &t); err != nil {
		return drivers.Result{}, fmt.Errorf("dtone: %w", err)
	}
	st, res, err := outcome(t)
	switch st {
	case drivers.StatusApproved:
		return res, nil
	case drivers.StatusFailed:
		return drivers.Result{}, err
	}
	return drivers.Result{}, fmt.Errorf("dtone: status %q is not final; the outcome is unknown", t.Status.Message)
}

// outcome maps a DVS status class: 7 completed; 3 rejected, 4 cancelled, 9 declined; the rest
// (created, confirmed, submitted) still moving.
func outcome(t transaction) (drivers.Status, drivers.Result, error) {
	switch t.Status.Class.ID {
	case 7:
		if t.ID == 0 {
			return drivers.StatusUnknown, drivers.Result{}, nil
		}
		return drivers.StatusApproved, drivers.Result{SupplierRef: strconv.FormatInt(t.ID, 10)}, nil
	case 3, 4, 9:
		code := strings.ToLower(strings.ReplaceAll(t.Status.Message, "-", "_"))
		return drivers.StatusFailed, drivers.Result{}, drivers.Declined(code, "the supplier reports "+t.Status.Message)
	}
	return drivers.StatusUnknown, drivers.Result{}, nil
}

// Inquire looks the transaction up by external_id.
func (d *Driver) Inquire(ctx context.Context, req drivers.Request) (drivers.Status, drivers.Result, error) {
	resp, err := d.do(ctx, "GET", "/v1/transactions?external_id="+url.QueryEscape(req.TransactionID), nil)
	if err != nil {
		return drivers.StatusUnknown, drivers.Result{}, err
	}
	defer resp.Body.Close()
	var list []transaction
	if err := drivers.ReadJSON(resp, &list); err != nil || resp.StatusCode != http.StatusOK {
		return drivers.StatusUnknown, drivers.Result{}, fmt.Errorf("dtone: lookup answered %d: %v", resp.StatusCode, err)
	}
	if len(list) == 0 {
		if !req.Settled() {
			return drivers.StatusUnknown, drivers.Result{}, nil // it may still be on its way
		}
		return drivers.StatusFailed, drivers.Result{}, nil
	}
	st, res, _ := outcome(list[0])
	return st, res, nil
}

// Package reloadly is a driver for suppliers that speak the Reloadly Airtime (top-up) API
// style: OAuth 2.0 client credentials for a bearer token, POST /topups with the gateway's
// transaction id as customIdentifier, and status inquiry through the transaction reports
// filtered by customIdentifier. Importing it registers the driver "reloadly".
//
// Settings:
//
//	{"base_url": "https://topups.reloadly.com", "auth_url": "https://auth.reloadly.com",
//	 "client_id": "…", "client_secret": "…", "audience": "https://topups.reloadly.com",
//	 "operators": {"demo-topup-http": 341}}
//
// operators maps each of our product ids to the supplier's operatorId. Amounts are sent in
// the product's currency as a decimal (1500 minor units → 15.00).
package reloadly

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
	"sync"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/drivers"
)

func init() { drivers.Register("reloadly", New) }

// Settings configure one Reloadly-style supplier.
type Settings struct {
	BaseURL      string           `json:"base_url"`
	AuthURL      string           `json:"auth_url"`
	ClientID     string           `json:"client_id"`
	ClientSecret string           `json:"client_secret"`
	Audience     string           `json:"audience"`
	Operators    map[string]int64 `json:"operators"`
}

// Driver talks to one Reloadly-style API.
type Driver struct {
	set    Settings
	client *http.Client

	mu      sync.Mutex
	token   string
	expires time.Time
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
	if s.AuthURL == "" {
		s.AuthURL = s.BaseURL
	}
	if s.Audience == "" {
		s.Audience = "https://topups.reloadly.com"
	}
	switch {
	case s.ClientID == "":
		return nil, errors.New("settings.client_id: required")
	case s.ClientSecret == "":
		return nil, errors.New("settings.client_secret: required")
	case len(s.Operators) == 0:
		return nil, errors.New("settings.operators: map at least one product id to an operatorId")
	}
	s.BaseURL = strings.TrimSuffix(s.BaseURL, "/")
	s.AuthURL = strings.TrimSuffix(s.AuthURL, "/")
	return &Driver{set: s, client: &http.Client{}}, nil
}

// Types implements drivers.Driver.
func (d *Driver) Types() []catalog.Type { return []catalog.Type{catalog.TypeTopUp} }

// errorBody is Reloadly's error document.
type errorBody struct {
	Message   string `json:"message"`
	ErrorCode string `json:"errorCode"`
}

// topup is the part of a top-up transaction the gateway reads.
type topup struct {
	TransactionID    int64  `json:"transactionId"`
	Status           string `json:"status"`
	CustomIdentifier string `json:"customIdentifier"`
	ErrorCode        string `json:"errorCode"`
	Message          string `json:"message"`
}

func (d *Driver) bearer(ctx context.Context, fresh bool) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !fresh && d.token != "" && time.Now().Before(d.expires) {
		return d.token, nil
	}
	body, _ := json.Marshal(map[string]string{"client_id": d.set.ClientID, "client_secret": d.set.ClientSecret,
		"grant_type": "client_credentials", "audience": d.set.Audience})
	req, err := http.NewRequestWithContext(ctx, "POST", d.set.AuthURL+"/oauth/token", bytes.NewReader(body))
	if err != nil {
		return "", drivers.NotSent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := drivers.Send(d.client, req)
	if err != nil {
		// No top-up was sent yet, whatever happened to the token request.
		return "", drivers.NotSent(fmt.Errorf("reloadly: token: %w", err))
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := drivers.ReadJSON(resp, &tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		return "", drivers.NotSent(fmt.Errorf("reloadly: token request answered %d", resp.StatusCode))
	}
	d.token = tok.AccessToken
	d.expires = time.Now().Add(time.Duration(tok.ExpiresIn)*time.Second - 30*time.Second)
	return d.token, nil
}

// Execute sends the top-up once. A 401 (token refused, nothing done) is the one case that is
// sent again, with a fresh token.
func (d *Driver) Execute(ctx context.Context, req drivers.Request) (drivers.Result, error) {
	op, ok := d.set.Operators[req.ProductID]
	if !ok {
		return drivers.Result{}, drivers.NotSent(fmt.Errorf("reloadly: no operatorId configured for product %s", req.ProductID))
	}
	num, err := phonenumbers.Parse(req.MSISDN, "ZZ")
	if err != nil {
		return drivers.Result{}, drivers.Declined("invalid_number", "the recipient number cannot be parsed")
	}
	body, _ := json.Marshal(map[string]any{
		"operatorId": op, "amount": json.Number(decimal(req.Amount)), "useLocalAmount": false,
		"customIdentifier": req.TransactionID,
		"recipientPhone": map[string]string{"countryCode": phonenumbers.GetRegionCodeForNumber(num),
			"number": phonenumbers.GetNationalSignificantNumber(num)},
	})
	for attempt := 0; ; attempt++ {
		tok, err := d.bearer(ctx, attempt > 0)
		if err != nil {
			return drivers.Result{}, err
		}
		hreq, err := http.NewRequestWithContext(ctx, "POST", d.set.BaseURL+"/topups", bytes.NewReader(body))
		if err != nil {
			return drivers.Result{}, drivers.NotSent(err)
		}
		hreq.Header.Set("Authorization", "Bearer "+tok)
		hreq.Header.Set("Content-Type", "application/json")
		hreq.Header.Set("Accept", "application/com.reloadly.topups-v1+json")
		resp, err := drivers.Send(d.client, hreq)
		if err != nil {
			return drivers.Result{}, fmt.Errorf("reloadly: %w", err)
		}
		if resp.StatusCode == http.StatusUnauthorized {
			resp.Body.Close()
			if attempt == 0 {
				continue
			}
			// Refused twice: nothing was done, and another supplier may take it.
			return drivers.Result{}, drivers.NotSent(errors.New("reloadly: the supplier refuses our credentials"))
		}
		defer resp.Body.Close()
		return answer(resp)
	}
}

// answer reads a top-up answer: only a well-formed SUCCESSFUL approves, a documented error or
// FAILED declines, and everything else leaves the outcome unknown, to be asked about later.
func answer(resp *http.Response) (drivers.Result, error) {
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout {
		var e errorBody
		if err := drivers.ReadJSON(resp, &e); err == nil && e.ErrorCode != "" {
			return drivers.Result{}, drivers.Declined(strings.ToLower(e.ErrorCode), e.Message)
		}
		return drivers.Result{}, fmt.Errorf("reloadly: answered %d without a documented error", resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK {
		return drivers.Result{}, fmt.Errorf("reloadly: answered %d; the outcome is unknown", resp.StatusCode)
	}
	var t topup
	if err := drivers.ReadJSON(resp, &t); err != nil {
		return drivers.Result{}, fmt.Errorf("reloadly: %w", err)
	}
	return outcome(t)
}

func outcome(t topup) (drivers.Result, error) {
	switch t.Status {
	case "SUCCESSFUL":
		if t.TransactionID == 0 {
			return drivers.Result{}, errors.New("reloadly: SUCCESSFUL without a transactionId")
		}
		return drivers.Result{SupplierRef: strconv.FormatInt(t.TransactionID, 10)}, nil
	case "FAILED", "REFUNDED":
		code := strings.ToLower(t.ErrorCode)
		if code == "" {
			code = "failed"
		}
		return drivers.Result{}, drivers.Declined(code, firstNonEmpty(t.Message, "the supplier reports the top-up failed"))
	}
	return drivers.Result{}, fmt.Errorf("reloadly: status %q; the outcome is not final", t.Status)
}

// Inquire looks the transaction up by its customIdentifier.
func (d *Driver) Inquire(ctx context.Context, req drivers.Request) (drivers.Status, drivers.Result, error) {
	tok, err := d.bearer(ctx, false)
	if err != nil {
		return drivers.StatusUnknown, drivers.Result{}, err
	}
	hreq, err := http.NewRequestWithContext(ctx, "GET",
		d.set.BaseURL+"/topups/reports/transactions?customIdentifier="+url.QueryEscape(req.TransactionID), nil)
	if err != nil {
		return drivers.StatusUnknown, drivers.Result{}, err
	}
	hreq.Header.Set("Authorization", "Bearer "+tok)
	hreq.Header.Set("Accept", "application/com.reloadly.topups-v1+json")
	resp, err := drivers.Send(d.client, hreq)
	if err != nil {
		return drivers.StatusUnknown, drivers.Result{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		_, _ = d.bearer(ctx, true)
		return drivers.StatusUnknown, drivers.Result{}, errors.New("reloadly: token refused; will ask again")
	}
	var page struct {
		Content []topup `json:"content"`
	}
	if err := drivers.ReadJSON(resp, &page); err != nil || resp.StatusCode != http.StatusOK {
		return drivers.StatusUnknown, drivers.Result{}, fmt.Errorf("reloadly: report answered %d: %v", resp.StatusCode, err)
	}
	if len(page.Content) == 0 {
		if !req.Settled() {
			return drivers.StatusUnknown, drivers.Result{}, nil // it may still be on its way
		}
		return drivers.StatusFailed, drivers.Result{}, nil
	}
	res, err := outcome(page.Content[0])
	var de *drivers.DeclineError
	switch {
	case err == nil:
		return drivers.StatusApproved, res, nil
	case errors.As(err, &de):
		return drivers.StatusFailed, drivers.Result{}, nil
	}
	return drivers.StatusUnknown, drivers.Result{}, nil
}

func decimal(minor int64) string { return fmt.Sprintf("%d.%02d", minor/100, minor%100) }

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

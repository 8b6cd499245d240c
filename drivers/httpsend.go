package drivers

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
)

// Send does req with client and tells the two failures apart that matter to the gateway: an
// error before the request was fully written is marked NotSent (safe to fail over); any error
// after it is left unmarked, an unknown outcome. HTTP drivers should send through it.
func Send(client *http.Client, req *http.Request) (*http.Response, error) {
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				wrote.Store(true)
			}
		},
	}
	resp, err := client.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	if err != nil && !wrote.Load() {
		return nil, NotSent(err)
	}
	return resp, err
}

// maxUpstreamBody bounds what a driver reads from a supplier.
const maxUpstreamBody = 1 << 20

// ReadJSON reads resp's body (at most 1 MiB) into v. An empty or non-JSON body, or one of the
// wrong shape, is an error that says so without echoing the body, which may hold secrets.
func ReadJSON(resp *http.Response, v any) error {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody))
	if err != nil {
		return fmt.Errorf("reading the supplier's answer: %w", err)
	}
	if len(body) == 0 {
		return fmt.Errorf("the supplier answered %d with an empty body", resp.StatusCode)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("the supplier answered %d with a body that is not the documented JSON (%s, %d bytes)",
			resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	return nil
}

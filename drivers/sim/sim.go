// Package sim is an in-process simulated supplier for top-ups and gift cards, for the demo
// and for tests. Importing it registers the driver "sim".
//
// Magic values steer it: a recipient number or card number ending in DeclineSuffix is
// declined; one ending in PendingSuffix hangs until the caller's deadline (an unknown outcome)
// and is reported approved by a later status inquiry; Down makes every call fail before
// sending, like a refused connection.
package sim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/drivers"
)

func init() { drivers.Register("sim", New) }

// Settings configure one simulated supplier.
type Settings struct {
	Types         []catalog.Type   `json:"types"`
	Latency       drivers.Duration `json:"latency"`
	DeclineSuffix string           `json:"decline_suffix"`
	PendingSuffix string           `json:"pending_suffix"`
	Down          bool             `json:"down"`
}

// Driver is a simulated supplier.
type Driver struct {
	name string
	set  Settings
	down atomic.Bool
	seq  atomic.Int64

	mu   sync.Mutex
	seen map[string]string // transaction id → supplier reference
	// Calls counts Execute calls that reached the "supplier".
	Calls atomic.Int64
}

// New builds a simulated supplier from its settings.
func New(cfg drivers.Config) (drivers.Driver, error) {
	s := Settings{DeclineSuffix: "0000", PendingSuffix: "0001"}
	if err := drivers.DecodeSettings(cfg.Settings, &s); err != nil {
		return nil, err
	}
	if len(s.Types) == 0 {
		return nil, errors.New("settings.types: name at least one of topup, giftcard")
	}
	for _, t := range s.Types {
		if t != catalog.TypeTopUp && t != catalog.TypeGiftCard {
			return nil, fmt.Errorf("settings.types: %q is not simulated (topup, giftcard)", t)
		}
	}
	d := &Driver{name: cfg.Name, set: s, seen: map[string]string{}}
	d.down.Store(s.Down)
	return d, nil
}

// SetDown switches the simulated outage on or off.
func (d *Driver) SetDown(down bool) { d.down.Store(down) }

// Types implements drivers.Driver.
func (d *Driver) Types() []catalog.Type { return d.set.Types }

func (d *Driver) subject(req drivers.Request) string {
	if req.Type == catalog.TypeGiftCard {
		return req.CardNumber
	}
	return req.MSISDN
}

// Execute simulates the supplier call.
func (d *Driver) Execute(ctx context.Context, req drivers.Request) (drivers.Result, error) {
	if d.down.Load() {
		return drivers.Result{}, drivers.NotSent(errors.New("sim: connection refused"))
	}
	d.Calls.Add(1)
	subject := d.subject(req)
	if d.set.PendingSuffix != "" && strings.HasSuffix(subject, d.set.PendingSuffix) {
		d.remember(req.TransactionID)
		<-ctx.Done()
		return drivers.Result{}, fmt.Errorf("sim: no answer: %w", ctx.Err())
	}
	if d.set.Latency > 0 {
		select {
		case <-time.After(time.Duration(d.set.Latency)):
		case <-ctx.Done():
			return drivers.Result{}, ctx.Err()
		}
	}
	if d.set.DeclineSuffix != "" && strings.HasSuffix(subject, d.set.DeclineSuffix) {
		if req.Type == catalog.TypeGiftCard {
			return drivers.Result{}, drivers.Declined("card_not_activatable", "the card cannot be activated")
		}
		return drivers.Result{}, drivers.Declined("invalid_number", "the number cannot be recharged")
	}
	return drivers.Result{SupplierRef: d.remember(req.TransactionID)}, nil
}

func (d *Driver) remember(txnID string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ref, ok := d.seen[txnID]; ok {
		return ref
	}
	ref := fmt.Sprintf("%s-%06d", d.name, d.seq.Add(1))
	d.seen[txnID] = ref
	return ref
}

// Inquire reports a transaction the simulator saw as approved, and one it never saw as failed.
func (d *Driver) Inquire(_ context.Context, req drivers.Request) (drivers.Status, drivers.Result, error) {
	if d.down.Load() {
		return drivers.StatusUnknown, drivers.Result{}, errors.New("sim: connection refused")
	}
	d.mu.Lock()
	ref, ok := d.seen[req.TransactionID]
	d.mu.Unlock()
	if !ok {
		return drivers.StatusFailed, drivers.Result{}, nil
	}
	return drivers.StatusApproved, drivers.Result{SupplierRef: ref}, nil
}

// Void always succeeds for a transaction the simulator approved.
func (d *Driver) Void(_ context.Context, req drivers.Request, _ drivers.Result) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.seen[req.TransactionID]; !ok {
		return errors.New("sim: unknown transaction")
	}
	return nil
}

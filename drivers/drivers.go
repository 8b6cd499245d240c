// Package drivers is the contract between the gateway and a supplier driver, and the registry
// where drivers sign up by name (as database/sql drivers do).
//
// A driver implements Driver: Execute sends one transaction to the supplier and reports how it
// ended. Its error says what the gateway may do next:
//   - nil: approved; Result carries the supplier's reference (and the PIN for a PIN sale).
//   - an error from Declined: the supplier answered no; the reason is shown to the lane.
//   - an error from NotSent: the request certainly never reached the supplier (connection
//     refused, bad local state), so the gateway may fail over to the next supplier.
//   - any other error, a timeout or a cut connection after sending included: the outcome is
//     unknown. The gateway never retries it blindly: the transaction becomes pending and is
//     resolved through Inquirer.
//
// Optional abilities are separate interfaces found by type assertion: Inquirer (status
// inquiry), Voider (undo an approved sale).
//
// Execute must honour ctx: when it is cancelled or its deadline passes, return promptly.
package drivers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prepaidgw/gateway/catalog"
)

// Request is one transaction as a driver sees it.
type Request struct {
	TransactionID string // unique; use it as the supplier-side idempotency or client reference
	Type          catalog.Type
	ProductID     string
	Amount        int64 // minor units
	Currency      string
	MSISDN        string // topup: E.164
	CardNumber    string // giftcard: never log it
	Reference     string
	NodeID        string // the node that sells
	// CreatedAt is when the gateway recorded the transaction (zero when unknown). An inquiry
	// that finds nothing soon after it may only mean the supplier has not finished yet.
	CreatedAt time.Time
}

// SettleTime is how long after a transaction a supplier's "no such transaction" may still
// mean "not finished yet". HTTP drivers answer StatusUnknown, not StatusFailed, until then.
const SettleTime = 2 * time.Minute

// Settled reports whether req is old enough that a supplier's "not found" means it never
// arrived and never will.
func (r Request) Settled() bool { return r.CreatedAt.IsZero() || time.Since(r.CreatedAt) > SettleTime }

// PIN is a sold PIN as handed to the lane.
type PIN struct {
	Serial    string
	Code      string // never log it
	ExpiresAt *time.Time
}

// Result is what an approved transaction brings back.
type Result struct {
	SupplierRef string
	PIN         *PIN
}

// Driver sends transactions to one supplier.
type Driver interface {
	// Types lists the product types this driver serves.
	Types() []catalog.Type
	Execute(ctx context.Context, req Request) (Result, error)
}

// Status is the answer of a status inquiry.
type Status int

// Inquiry answers.
const (
	StatusUnknown  Status = iota // the supplier does not know yet; ask again later
	StatusApproved               // it went through; Result is filled
	StatusFailed                 // it did not happen and will not: say so only when that is certain
)

// Inquirer asks the supplier how a transaction whose outcome was unknown ended.
type Inquirer interface {
	Inquire(ctx context.Context, req Request) (Status, Result, error)
}

// Voider undoes an approved transaction at the supplier.
type Voider interface {
	Void(ctx context.Context, req Request, res Result) error
}

// DeclineError is the supplier's "no".
type DeclineError struct {
	Code   string // short, stable: "out_of_stock", "invalid_number", ...
	Reason string // for people
}

func (e *DeclineError) Error() string { return "declined: " + e.Code + ": " + e.Reason }

// Declined returns a DeclineError.
func Declined(code, reason string) error { return &DeclineError{Code: code, Reason: reason} }

// DeclineCodeOutOfStock is the decline of a PIN supplier that has no PIN to sell; the
// gateway tries the product's next supplier.
const DeclineCodeOutOfStock = "out_of_stock"

type notSentError struct{ err error }

func (e *notSentError) Error() string { return "not sent: " + e.err.Error() }
func (e *notSentError) Unwrap() error { return e.err }

// NotSent marks err as a failure that certainly happened before the supplier received the
// request, so failing over is safe.
func NotSent(err error) error { return &notSentError{err: err} }

// IsNotSent reports whether err was marked by NotSent.
func IsNotSent(err error) bool {
	var ns *notSentError
	return errors.As(err, &ns)
}

// Stock is the gateway's PIN inventory, offered to drivers that sell from it.
type Stock interface {
	// Claim sells one PIN of the product at the node to the transaction, first expiry first,
	// in one database transaction with the record of the sale. No PIN: a decline with
	// DeclineCodeOutOfStock.
	Claim(ctx context.Context, productID, nodeID, txnID string) (PIN, error)
	// ClaimedBy returns the PIN sold to txnID, if any.
	ClaimedBy(ctx context.Context, txnID string) (PIN, bool, error)
	// Void quarantines the PIN sold to txnID: it is never sold again.
	Void(ctx context.Context, txnID string) error
}

// Env is what the gateway offers a driver at construction.
type Env struct {
	Stock  Stock // nil where the gateway keeps no PIN stock
	Logger *slog.Logger
}

// Config is one configured supplier's view of its settings.
type Config struct {
	Name     string          // the supplier's name in configuration
	Settings json.RawMessage // the driver's own settings, to decode and validate
	Env      Env
}

// Factory builds a driver for one supplier; a bad setting is an error naming the field, and
// stops the gateway at start.
type Factory func(cfg Config) (Driver, error)

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes a driver available under name. It panics if name is taken, as
// database/sql does, because two drivers answering one name is a build mistake.
func Register(name string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if f == nil {
		panic("drivers: Register factory is nil")
	}
	if _, dup := factories[name]; dup {
		panic("drivers: Register called twice for driver " + name)
	}
	factories[name] = f
}

// Open builds a driver registered as name.
func Open(name string, cfg Config) (Driver, error) {
	mu.RLock()
	f, ok := factories[name]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown driver %q (registered: %v)", name, Registered())
	}
	return f(cfg)
}

// Registered lists the registered driver names, sorted.
func Registered() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(factories))
	for n := range factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// DecodeSettings decodes raw into v, rejecting unknown fields so that a typo in a supplier's
// settings stops the start instead of being ignored.
func DecodeSettings(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	return nil
}

// OrderRequest asks a PIN supplier for more stock.
type OrderRequest struct {
	OrderID   string // unique; send it as the supplier-side order reference
	ProductID string
	Quantity  int
}

// Orderer is a PIN supplier that can be sent replenishment orders. Delivery may take a while:
// the gateway asks CollectPINs until it reports the order delivered, then books the PINs in.
// OrderPINs may be called again with the same OrderID when an earlier call's outcome was
// unknown: treat OrderID as the idempotency key, so that it never becomes a second order.
type Orderer interface {
	OrderPINs(ctx context.Context, order OrderRequest) (supplierRef string, err error)
	CollectPINs(ctx context.Context, order OrderRequest, supplierRef string) (pins []PIN, delivered bool, err error)
}

// Package conduit turns a lane's service request into a typed transaction (PIN sale, top-up,
// gift card activation), records it, has the supply router carry it out, and records the
// outcome, so that every sale is answered once and replayed, never repeated.
package conduit

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/oklog/ulid/v2"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/internal/sqlitedb"
	"github.com/prepaidgw/gateway/secret"
	"github.com/prepaidgw/gateway/supply"
)

// Errors the API maps to problem codes.
var (
	ErrNotFound              = errors.New("transaction not found")
	ErrUnknownProduct        = errors.New("unknown product")
	ErrIdempotencyReuse      = errors.New("this Idempotency-Key was already used with a different request body")
	ErrIdempotencyInProgress = errors.New("a request with this Idempotency-Key is still being processed")
	ErrVoidNotAllowed        = errors.New("void not allowed")
)

// Router is the part of the supply router the conduit uses.
type Router interface {
	Dispatch(ctx context.Context, suppliers []string, req drivers.Request) supply.Outcome
	Inquire(ctx context.Context, supplier string, req drivers.Request) (drivers.Status, drivers.Result, error)
	Void(ctx context.Context, supplier string, req drivers.Request, res drivers.Result) error
	CanVoid(supplier string) bool
}

// Products is the part of the catalog the conduit uses.
type Products interface {
	Get(ctx context.Context, id string) (catalog.Product, error)
}

// Config tunes the conduit.
type Config struct {
	VoidWindow    time.Duration // how long after approval a sale may be voided; default 10m
	DuplicateWait time.Duration // how long a duplicate waits for the first request; default 15s
	SaleTimeout   time.Duration // ceiling on one sale's supplier calls; default 30s
	// InquiryBackoff is the wait before the first status inquiry of a pending transaction;
	// it doubles after each answer that does not settle it, up to InquiryBackoffMax.
	InquiryBackoff    time.Duration // default 2s
	InquiryBackoffMax time.Duration // default 5m
	// PendingCeiling is how long a transaction may stay pending: then it fails, and the
	// supplier is asked to void it where its driver can. Default 24h.
	PendingCeiling time.Duration
	// RequestHashKey keys the idempotency hash of a request; it must stay the same for the
	// life of the database.
	RequestHashKey []byte
}

// Service is the conduit.
type Service struct {
	db       *sqlitedb.DB
	keys     *secret.Keyring
	products Products
	router   Router
	cfg      Config
	log      *slog.Logger
	now      func() time.Time

	mu       sync.Mutex
	inflight map[string]chan struct{}
	outbox   bool // a server node: report every state to the hub
}

//go:embed migrations/*.sql
var migrations embed.FS

// New migrates the transaction tables and returns the conduit.
func New(ctx context.Context, db *sqlitedb.DB, keys *secret.Keyring, products Products, router Router, cfg Config, log *slog.Logger) (*Service, error) {
	sub, _ := fs.Sub(migrations, "migrations")
	if err := db.Migrate(ctx, "conduit", sub); err != nil {
		return nil, err
	}
	if cfg.VoidWindow <= 0 {
		cfg.VoidWindow = 10 * time.Minute
	}
	if cfg.DuplicateWait <= 0 {
		cfg.DuplicateWait = 15 * time.Second
	}
	if cfg.SaleTimeout <= 0 {
		cfg.SaleTimeout = 30 * time.Second
	}
	if cfg.InquiryBackoff <= 0 {
		cfg.InquiryBackoff = 2 * time.Second
	}
	if cfg.InquiryBackoffMax <= 0 {
		cfg.InquiryBackoffMax = 5 * time.Minute
	}
	if cfg.PendingCeiling <= 0 {
		cfg.PendingCeiling = 24 * time.Hour
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{db: db, keys: keys, products: products, router: router, cfg: cfg, log: log,
		now: func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }, inflight: map[string]chan struct{}{}}, nil
}

// Caller is the lane that sends a request.
type Caller struct {
	TerminalID string
	MerchantID string
	NodeID     string
}

// Result is the answer to a submission.
type Result struct {
	Transaction Transaction
	Replayed    bool // the answer first given to the same key and body
}

// gate lets one request per key through at a time; the others wait for it.
func (s *Service) gate(ctx context.Context, key string) (release func(), err error) {
	deadline := time.NewTimer(s.cfg.DuplicateWait)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ch, busy := s.inflight[key]
		if !busy {
			ch = make(chan struct{})
			s.inflight[key] = ch
			s.mu.Unlock()
			return func() {
				s.mu.Lock()
				delete(s.inflight, key)
				s.mu.Unlock()
				close(ch)
			}, nil
		}
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return nil, ErrIdempotencyInProgress
		case <-ctx.Done():
			return nil, ErrIdempotencyInProgress
		}
	}
}

// Submit carries out a lane's request once per (terminal, idempotency key): a repeat with the
// same body gets the first answer again, a repeat with another body an error.
func (s *Service) Submit(ctx context.Context, c Caller, idemKey string, req Request) (Result, error) {
	release, err := s.gate(ctx, c.TerminalID+"\x00"+idemKey)
	if err != nil {
		return Result{}, err
	}
	defer release()

	hash := req.Hash(s.cfg.RequestHashKey)
	if prev, found, err := s.byKey(ctx, c.TerminalID, idemKey); err != nil {
		return Result{}, err
	} else if found {
		switch {
		case prev.RequestHash != hash:
			return Result{}, ErrIdempotencyReuse
		case prev.Reply == nil:
			// Another process holds it, or one died mid-sale and recovery has not run yet.
			return Result{}, ErrIdempotencyInProgress
		}
		t, err := s.openReply(prev)
		return Result{Transaction: t, Replayed: true}, err
	}

	if req.ProductID == "" {
		return Result{}, &catalog.ValidationError{Fields: []catalog.FieldError{{Field: "product_id", Message: "is required"}}}
	}
	p, err := s.products.Get(ctx, req.ProductID)
	if errors.Is(err, catalog.ErrNotFound) || err == nil && !p.Active {
		return Result{}, fmt.Errorf("%w: %q", ErrUnknownProduct, req.ProductID)
	}
	if err != nil {
		return Result{}, err
	}
	typed, err := Normalize(req, p)
	if err != nil {
		return Result{}, err
	}

	now := s.now()
	t := Transaction{
		ID: "txn_" + ulid.Make().String(), Status: StatusPending, Type: p.Type, ProductID: p.ID,
		Currency: p.Currency, TerminalID: c.TerminalID, MerchantID: c.MerchantID, NodeID: c.NodeID,
		Reference: req.Reference, CreatedAt: now, UpdatedAt: now,
	}
	dreq := drivers.Request{TransactionID: t.ID, Type: p.Type, ProductID: p.ID, Currency: p.Currency,
		Reference: req.Reference, NodeID: c.NodeID, CreatedAt: now}
	typed.fill(&dreq)
	t.Amount = dreq.Amount
	if dreq.MSISDN != "" {
		t.Recipient = &Recipient{MSISDN: dreq.MSISDN}
	}
	if dreq.CardNumber != "" {
		t.Card = &CardView{Last4: dreq.CardNumber[len(dreq.CardNumber)-4:]}
	}
	// Recorded before any supplier hears of it: a crash from here on leaves a pending
	// transaction that recovery resolves by inquiry, never a sale nobody knows about.
	if err := s.insert(ctx, t, idemKey, hash, p.Suppliers, dreq.CardNumber); err != nil {
		if sqlitedb.IsUniqueViolation(err) {
			return Result{}, ErrIdempotencyInProgress
		}
		return Result{}, err
	}

	// The lane hanging up must not leave the sale half recorded.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.SaleTimeout)
	defer cancel()
	out := s.router.Dispatch(sctx, p.Suppliers, dreq)
	applyOutcome(&t, out)
	t.UpdatedAt = s.now()
	// Recording the outcome gets its own time: the suppliers may have used all of theirs.
	if err := s.finishRetrying(context.WithoutCancel(ctx), t); err != nil {
		return Result{}, err
	}
	return Result{Transaction: t}, nil
}

// finishRetrying records the first answer, trying a few times over a passing database
// error. If it still fails, the row stays unanswered and the resolver answers it as pending.
func (s *Service) finishRetrying(ctx context.Context, t Transaction) error {
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
		}
		fctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err = s.finish(fctx, t, true)
		cancel()
		if err == nil {
			return nil
		}
	}
	s.log.Error("could not record a sale's outcome; it will be answered as pending and resolved by inquiry", "txn", t.ID, "err", err)
	return err
}

func applyOutcome(t *Transaction, out supply.Outcome) {
	t.Status = Status(out.Status)
	t.Supplier = out.Supplier
	t.SupplierRef = out.Result.SupplierRef
	if pin := out.Result.PIN; pin != nil {
		t.PIN = &PINView{Serial: pin.Serial, Code: pin.Code, ExpiresAt: pin.ExpiresAt}
	}
	t.Error = nil
	if out.Code != "" {
		t.Error = &Error{Code: out.Code, Message: out.Message}
	}
}

// Get returns a transaction with its PIN in full; callers mask it for anyone but its lane.
func (s *Service) Get(ctx context.Context, id string) (Transaction, error) {
	r, err := s.byID(ctx, s.db.R, id)
	if err != nil {
		return Transaction{}, err
	}
	return s.transaction(r)
}

// Filter selects transactions to list; empty fields select all.
type Filter struct {
	Status     Status
	Type       catalog.Type
	TerminalID string
	MerchantID string
	From, To   *time.Time
	Limit      int
	Cursor     string
}

// ErrBadCursor means the cursor was not one this gateway gave out.
var ErrBadCursor = errors.New("cursor is not valid")

// List returns one page of transactions, newest first, and the cursor of the next page.
func (s *Service) List(ctx context.Context, f Filter) ([]Transaction, string, error) {
	rows, next, err := s.list(ctx, f)
	if err != nil {
		return nil, "", err
	}
	out := make([]Transaction, 0, len(rows))
	for _, r := range rows {
		t, err := s.transaction(r)
		if err != nil {
			return nil, "", err
		}
		out = append(out, t)
	}
	return out, next, nil
}

// Void undoes an approved sale within the void window, at the supplier first. Voiding a voided
// transaction returns it again.
func (s *Service) Void(ctx context.Context, id string) (Transaction, error) {
	release, err := s.gate(ctx, "void\x00"+id)
	if err != nil {
		return Transaction{}, err
	}
	defer release()
	r, err := s.byID(ctx, s.db.R, id)
	if err != nil {
		return Transaction{}, err
	}
	t, err := s.transaction(r)
	if err != nil {
		return Transaction{}, err
	}
	switch {
	case t.Status == StatusVoided:
		return t, nil
	case r.Origin != "":
		return t, fmt.Errorf("%w: void it at server node %s, which made it", ErrVoidNotAllowed, r.Origin)
	case t.Status != StatusApproved:
		return t, fmt.Errorf("%w: only an approved transaction can be voided; this one is %s", ErrVoidNotAllowed, t.Status)
	case s.now().Sub(t.CreatedAt) > s.cfg.VoidWindow:
		return t, fmt.Errorf("%w: the void window of %s has passed", ErrVoidNotAllowed, s.cfg.VoidWindow)
	case !s.router.CanVoid(t.Supplier):
		return t, fmt.Errorf("%w: supplier %s cannot void sales", ErrVoidNotAllowed, t.Supplier)
	}
	dreq, res, err := s.driverRequest(r)
	if err != nil {
		return Transaction{}, err
	}
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.SaleTimeout)
	defer cancel()
	if err := s.router.Void(vctx, t.Supplier, dreq, res); err != nil {
		s.log.Warn("supplier refused void", "txn", t.ID, "supplier", t.Supplier, "err", err)
		return t, fmt.Errorf("%w: the supplier did not accept the void", ErrVoidNotAllowed)
	}
	t.Status = StatusVoided
	t.UpdatedAt = s.now()
	return t, s.db.Tx(vctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(vctx, `UPDATE transactions SET status='voided', updated_at=? WHERE id=? AND status='approved'`,
			sqlitedb.FormatTime(t.UpdatedAt), t.ID)
		if err != nil {
			return err
		}
		return s.report(vctx, tx, t.ID)
	})
}

// Recover runs at start: a transaction left without an answer by a crash is answered as
// pending, so that its lane's retry gets 202 and polls while ResolvePending settles it.
func (s *Service) Recover(ctx context.Context) (int, error) {
	return s.answerUnanswered(ctx, s.now())
}

// answerUnanswered gives a pending first answer to each transaction created before cutoff that
// has none and that no request of this process is still working on.
func (s *Service) answerUnanswered(ctx context.Context, cutoff time.Time) (int, error) {
	var rows []txnRow
	if err := s.db.R.SelectContext(ctx, &rows, `SELECT * FROM transactions WHERE reply IS NULL AND created_at <= ?`,
		sqlitedb.FormatTime(cutoff)); err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rows {
		s.mu.Lock()
		_, busy := s.inflight[r.TerminalID+"\x00"+r.IdempotencyKey]
		s.mu.Unlock()
		if busy {
			continue
		}
		n++
		t, err := s.transaction(r)
		if err != nil {
			return 0, err
		}
		if err := s.finish(ctx, t, true); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// ResolvePending asks the suppliers how each answered pending transaction that is due ended,
// and records what they say. One they cannot tell yet is asked again later, each wait twice
// the last; past the pending ceiling it fails, and is voided at the supplier where possible.
func (s *Service) ResolvePending(ctx context.Context) (resolved int, err error) {
	now := s.now()
	// A sale whose outcome could not be recorded is answered pending here, not left hanging.
	if _, err := s.answerUnanswered(ctx, now.Add(-s.cfg.SaleTimeout-30*time.Second)); err != nil {
		return 0, err
	}
	var rows []txnRow
	if err := s.db.R.SelectContext(ctx, &rows, `SELECT * FROM transactions WHERE status='pending' AND reply IS NOT NULL
		AND origin='' AND ifnull(next_inquiry_at, '') <= ? ORDER BY ifnull(next_inquiry_at, ''), seq LIMIT 500`, sqlitedb.FormatTime(now)); err != nil {
		return 0, err
	}
	for _, r := range rows {
		t, err := s.transaction(r)
		if err != nil {
			return resolved, err
		}
		dreq, res, err := s.driverRequest(r)
		if err != nil {
			return resolved, err
		}
		supplier, st, got := s.inquire(ctx, r, t.Supplier, dreq)
		var out supply.Outcome
		switch {
		case st == drivers.StatusApproved:
			out = supply.Outcome{Status: supply.Approved, Supplier: supplier, Result: got}
		case st == drivers.StatusFailed:
			out = supply.Outcome{Status: supply.Failed, Supplier: t.Supplier, Code: supply.CodeSupplierUnavailable,
				Message: "the supplier reports that the transaction did not go through"}
		case now.Sub(t.CreatedAt) > s.cfg.PendingCeiling:
			out = supply.Outcome{Status: supply.Failed, Supplier: t.Supplier, Code: supply.CodeSupplierUnavailable,
				Message: "the supplier did not confirm the transaction within " + s.cfg.PendingCeiling.String() + "; it was failed"}
			if t.Supplier != "" && s.router.CanVoid(t.Supplier) {
				verr := s.router.Void(ctx, t.Supplier, dreq, res)
				switch {
				case verr == nil:
					out.Message += " and voided at the supplier"
				case now.Sub(t.CreatedAt) < 2*s.cfg.PendingCeiling:
					// Failing it unvoided could leave the customer charged for nothing: keep
					// trying for another ceiling, and say so loudly.
					s.log.Error("pending past its ceiling and the supplier refuses the void; needs reconciliation",
						"txn", t.ID, "supplier", t.Supplier, "err", verr)
					if err := s.postpone(ctx, r); err != nil {
						return resolved, err
					}
					continue
				default:
					out.Message += "; the supplier refused to void it: reconcile it with the supplier"
					s.log.Error("pending transaction failed unvoided; reconcile with the supplier", "txn", t.ID, "supplier", t.Supplier)
				}
			}
			s.log.Warn("pending transaction failed at the ceiling", "txn", t.ID, "supplier", t.Supplier, "inquiries", r.Inquiries)
		default:
			if err := s.postpone(ctx, r); err != nil {
				return resolved, err
			}
			continue
		}
		applyOutcome(&t, out)
		t.UpdatedAt = s.now()
		if err := s.finish(ctx, t, false); err != nil {
			return resolved, err
		}
		resolved++
		s.log.Info("pending transaction resolved", "txn", t.ID, "status", t.Status, "inquiries", r.Inquiries+1)
	}
	return resolved, nil
}

// postpone schedules the next inquiry of a pending transaction, backing off exponentially.
func (s *Service) postpone(ctx context.Context, r txnRow) error {
	wait := s.cfg.InquiryBackoff
	for i := 0; i < r.Inquiries && wait < s.cfg.InquiryBackoffMax; i++ {
		wait *= 2
	}
	wait = min(wait, s.cfg.InquiryBackoffMax)
	return s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE transactions SET inquiries=inquiries+1, next_inquiry_at=? WHERE id=? AND status='pending'`,
			sqlitedb.FormatTime(s.now().Add(wait)), r.ID)
		return err
	})
}

// inquire asks the supplier that was called; when a crash left no record of which one that
// was, it asks each of the product's suppliers: one that approved wins, and the transaction
// failed only if every one of them says it never happened.
func (s *Service) inquire(ctx context.Context, r txnRow, supplier string, req drivers.Request) (string, drivers.Status, drivers.Result) {
	candidates := []string{supplier}
	if supplier == "" {
		_ = json.Unmarshal([]byte(r.Suppliers), &candidates)
	}
	failed := 0
	for _, name := range candidates {
		st, res, err := s.router.Inquire(ctx, name, req)
		switch {
		case err != nil || st == drivers.StatusUnknown:
		case st == drivers.StatusApproved:
			return name, st, res
		default:
			failed++
		}
	}
	if failed == len(candidates) {
		return supplier, drivers.StatusFailed, drivers.Result{}
	}
	return supplier, drivers.StatusUnknown, drivers.Result{}
}

// Pending counts pending transactions, for readiness and metrics.
func (s *Service) Pending(ctx context.Context) (int, error) {
	var n int
	err := s.db.R.GetContext(ctx, &n, `SELECT count(*) FROM transactions WHERE status='pending'`)
	return n, err
}

func (s *Service) replyJSON(t Transaction) []byte {
	b, _ := json.Marshal(t)
	return b
}

// decodeReply is the inverse of replyJSON.
func decodeReply(b []byte) (Transaction, error) {
	var t Transaction
	err := json.Unmarshal(b, &t)
	return t, err
}

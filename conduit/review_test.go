package conduit_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/conduit"
	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/internal/sqlitedb"
	"github.com/prepaidgw/gateway/secret"
	"github.com/prepaidgw/gateway/supply"
)

func i64(v int64) *int64 { return &v }

type products map[string]catalog.Product

func (p products) Get(_ context.Context, id string) (catalog.Product, error) {
	if x, ok := p[id]; ok {
		return x, nil
	}
	return catalog.Product{}, catalog.ErrNotFound
}

// fakeRouter: Dispatch waits until its context ends (a supplier whose timeout equals the
// sale timeout), then reports an unknown outcome. Inquire answers per supplier.
type fakeRouter struct {
	hang     bool
	inquired atomic.Int64
}

func (f *fakeRouter) Dispatch(ctx context.Context, sup []string, req drivers.Request) supply.Outcome {
	if f.hang {
		<-ctx.Done()
	}
	return supply.Outcome{Status: supply.Pending, Supplier: sup[0]}
}
func (f *fakeRouter) Inquire(ctx context.Context, name string, req drivers.Request) (drivers.Status, drivers.Result, error) {
	f.inquired.Add(1)
	if name == "dead" {
		return drivers.StatusUnknown, drivers.Result{}, errors.New("no inquiry")
	}
	return drivers.StatusApproved, drivers.Result{SupplierRef: "ok"}, nil
}
func (f *fakeRouter) Void(context.Context, string, drivers.Request, drivers.Result) error { return nil }
func (f *fakeRouter) CanVoid(string) bool                                                 { return true }

func newService(t *testing.T, r conduit.Router, cfg conduit.Config) (*conduit.Service, *sqlitedb.DB) {
	t.Helper()
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys, _ := secret.NewKeyring(secret.NewKey())
	ps := products{
		"topup": {ID: "topup", Type: catalog.TypeTopUp, Currency: "USD", MinAmount: i64(100), MaxAmount: i64(10000), Suppliers: []string{"live"}, Active: true},
		"dead":  {ID: "dead", Type: catalog.TypeTopUp, Currency: "USD", MinAmount: i64(100), MaxAmount: i64(10000), Suppliers: []string{"dead"}, Active: true},
		"gift":  {ID: "gift", Type: catalog.TypeGiftCard, Currency: "USD", MinAmount: i64(100), MaxAmount: i64(10000), Suppliers: []string{"live"}, Active: true},
	}
	s, err := conduit.New(context.Background(), db, keys, ps, r, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}

// When the supplier call uses up the sale timeout (a supplier configured with a 30 s timeout,
// the default SaleTimeout), finish runs on an expired context: the lane gets a 500, the row
// stays reply=NULL/pending, every retry is 409 idempotency_in_progress and ResolvePending
// never looks at it. It is stuck until the process restarts.
func TestReviewFinishOnExpiredSaleContextLeavesTxnStuck(t *testing.T) {
	r := &fakeRouter{hang: true}
	s, _ := newService(t, r, conduit.Config{SaleTimeout: 100 * time.Millisecond, DuplicateWait: 50 * time.Millisecond})
	req := conduit.Request{ProductID: "topup", Amount: i64(1500), Currency: "USD", Recipient: &conduit.Recipient{MSISDN: "+15551234567"}}
	c := conduit.Caller{TerminalID: "lane-1", MerchantID: "m", NodeID: "local"}
	_, err := s.Submit(context.Background(), c, "k1", req)
	t.Logf("first answer: %v", err)
	if err == nil {
		return
	}
	r.hang = false
	for i := 0; i < 3; i++ {
		n, err := s.ResolvePending(context.Background())
		t.Logf("resolve round %d: resolved=%d err=%v", i, n, err)
	}
	_, err = s.Submit(context.Background(), c, "k1", req)
	if errors.Is(err, conduit.ErrIdempotencyInProgress) {
		t.Fatalf("transaction stuck: the retry gets %v and ResolvePending (inquiries made: %d) never picks it up", err, r.inquired.Load())
	}
}

// ResolvePending looks at the oldest 500 pending transactions only; when those cannot be
// resolved (supplier removed from configuration, no Inquirer, supplier down), younger pending
// transactions are never inquired.
func TestReviewResolvePendingHeadOfLineBlocking(t *testing.T) {
	r := &fakeRouter{}
	s, _ := newService(t, r, conduit.Config{InquiryBackoff: time.Millisecond})
	c := conduit.Caller{TerminalID: "lane-1", MerchantID: "m", NodeID: "local"}
	for i := 0; i < 500; i++ {
		req := conduit.Request{ProductID: "dead", Amount: i64(1500), Currency: "USD", Recipient: &conduit.Recipient{MSISDN: "+15551234567"}}
		if _, err := s.Submit(context.Background(), c, fmt.Sprint("d", i), req); err != nil {
			t.Fatal(err)
		}
	}
	req := conduit.Request{ProductID: "topup", Amount: i64(1500), Currency: "USD", Recipient: &conduit.Recipient{MSISDN: "+15551234567"}}
	res, err := s.Submit(context.Background(), c, "live", req)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		time.Sleep(5 * time.Millisecond) // past the first inquiry's wait
		_, _ = s.ResolvePending(context.Background())
	}
	got, _ := s.Get(context.Background(), res.Transaction.ID)
	if got.Status == conduit.StatusPending {
		t.Fatalf("a resolvable transaction stays %s forever behind 500 unresolvable ones", got.Status)
	}
}

// request_hash is an unkeyed SHA-256 of the request JSON, which holds the full card number.
// card_last4 is stored beside it in clear and the issuer prefix is public, so the full card
// number comes back from the database by trying at most 10^6 candidates.
func TestReviewCardNumberRecoverableFromRequestHash(t *testing.T) {
	s, db := newService(t, &fakeRouter{}, conduit.Config{})
	c := conduit.Caller{TerminalID: "lane-1", MerchantID: "m", NodeID: "local"}
	card := "6006491234567890"
	req := conduit.Request{ProductID: "gift", Amount: i64(2500), Currency: "USD", Card: &conduit.Card{Number: card}}
	if _, err := s.Submit(context.Background(), c, "g1", req); err != nil {
		t.Fatal(err)
	}
	// What an attacker with a copy of gateway.db (and no PIN key) sees:
	var row struct {
		Hash   string `db:"request_hash"`
		Last4  string `db:"card_last4"`
		Amount int64  `db:"amount"`
	}
	if err := db.R.Get(&row, `SELECT request_hash, card_last4, amount FROM transactions`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for mid := 0; mid < 1_000_000; mid++ {
		guess := fmt.Sprintf("600649%06d%s", mid, row.Last4)
		b, _ := json.Marshal(conduit.Request{ProductID: "gift", Amount: i64(row.Amount), Currency: "USD", Card: &conduit.Card{Number: guess}})
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) == row.Hash {
			t.Fatalf("full card number %s recovered from the database in %s", guess, time.Since(start).Round(time.Millisecond))
		}
	}
}

package inventory_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/prepaidgw/gateway/internal/sqlitedb"
	"github.com/prepaidgw/gateway/inventory"
	"github.com/prepaidgw/gateway/secret"
)

// A second process (`gateway import` or `gateway keys rotate-pin-key`) opening the same
// database while `serve` is in the middle of an import runs recoverImports, which takes the
// live import for an interrupted one and deletes its staged rows. The live import then
// "succeeds" with the full count, but only the rows written after the discard exist.
func TestReviewSecondProcessDiscardsLiveImport(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gateway.db")
	dbA, err := sqlitedb.Open(file) // the serving process
	if err != nil {
		t.Fatal(err)
	}
	defer dbA.Close()
	keys, _ := secret.NewKeyring(secret.NewKey())
	a, err := inventory.NewStore(context.Background(), dbA, keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	const rows = 25_000 // 2 full chunks of 10,000 flushed, then a pause, then the rest
	paused, resume := make(chan struct{}), make(chan struct{})
	i := 0
	exp := time.Now().AddDate(1, 0, 0)
	next := func() (inventory.Row, error) {
		if i == 20_001 {
			close(paused)
			<-resume
		}
		if i == rows {
			return inventory.Row{}, io.EOF
		}
		i++
		return inventory.Row{Line: i + 1, Serial: fmt.Sprintf("S%07d", i), PIN: fmt.Sprintf("%04d-%04d-%04d", i%10000, i/10000, 7), ExpiresAt: &exp}, nil
	}
	type res struct {
		b   inventory.Batch
		err error
	}
	done := make(chan res, 1)
	go func() { b, err := a.Import(context.Background(), "p", "local", next); done <- res{b, err} }()
	<-paused

	// "gateway import" / "gateway keys rotate-pin-key" starts: a second connection, a new Store.
	dbB, err := sqlitedb.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inventory.NewStore(context.Background(), dbB, keys, nil); err != nil {
		t.Fatal(err)
	}
	dbB.Close()

	close(resume)
	r := <-done
	if r.err != nil {
		t.Fatalf("live import failed: %v", r.err)
	}
	counts, _ := a.Counts(context.Background())
	avail := 0
	for _, c := range counts {
		avail += c.Available
	}
	var status string
	_ = dbA.R.Get(&status, `SELECT status FROM pin_batches WHERE id=?`, r.b.ID)
	t.Logf("import answered count=%d, batch status=%s, available=%d", r.b.Count, status, avail)
	if avail != r.b.Count {
		t.Fatalf("import reported %d PINs imported, but only %d are in stock: %d PINs lost", r.b.Count, avail, r.b.Count-avail)
	}
}

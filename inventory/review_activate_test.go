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

// The HTTP import passes the request context to activateBatch: a client that gives up after
// uploading (curl --max-time, a proxy timeout) aborts the activation half way. The batch
// stays 'committing' with part of its PINs available and the rest invisible until the next
// restart, and the client gets an error for an import that will in fact succeed.
func TestReviewCancelDuringActivationLeavesHalfActiveBatch(t *testing.T) {
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys, _ := secret.NewKeyring(secret.NewKey())
	s, err := inventory.NewStore(context.Background(), db, keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for ctx.Err() == nil {
			var n int
			_ = db.R.Get(&n, `SELECT count(*) FROM pins WHERE state='available'`)
			if n > 0 {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	i := 0
	_, err = s.Import(ctx, "p", "local", func() (inventory.Row, error) {
		if i == 200_000 {
			return inventory.Row{}, io.EOF
		}
		i++
		return inventory.Row{Line: i + 1, Serial: fmt.Sprintf("S%07d", i), PIN: fmt.Sprintf("%04d-%04d-0001", i%10000, i/10000)}, nil
	})
	var st string
	_ = db.R.Get(&st, `SELECT status FROM pin_batches`)
	var avail, importing int
	_ = db.R.Get(&avail, `SELECT count(*) FROM pins WHERE state='available'`)
	_ = db.R.Get(&importing, `SELECT count(*) FROM pins WHERE state='importing'`)
	t.Logf("import err=%v batch=%s available=%d importing=%d", err, st, avail, importing)
	if err != nil && st == "committing" && importing > 0 {
		t.Fatalf("client told the import failed, yet %d PINs are on sale and %d wait for a restart", avail, importing)
	}
}

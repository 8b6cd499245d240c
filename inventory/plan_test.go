package inventory

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prepaidgw/gateway/internal/sqlitedb"
	"github.com/prepaidgw/gateway/secret"
)

// The sale path must find its PIN through the FEFO index, not by scanning or sorting stock.
func TestPickUsesTheFEFOIndex(t *testing.T) {
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys, _ := secret.NewKeyring(secret.NewKey())
	if _, err := NewStore(context.Background(), db, keys, nil); err != nil {
		t.Fatal(err)
	}
	var plan []struct {
		ID, Parent, NotUsed int
		Detail              string
	}
	rows, err := db.R.Query(`EXPLAIN QUERY PLAN `+pickQuery, "p", "n", "2026")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var p struct {
			ID, Parent, NotUsed int
			Detail              string
		}
		if err := rows.Scan(&p.ID, &p.Parent, &p.NotUsed, &p.Detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, p)
	}
	var details []string
	for _, p := range plan {
		details = append(details, p.Detail)
	}
	all := strings.Join(details, " | ")
	if !strings.Contains(all, "USING INDEX pins_pick") || strings.Contains(all, "TEMP B-TREE") {
		t.Fatalf("pick plan: %s", all)
	}
}

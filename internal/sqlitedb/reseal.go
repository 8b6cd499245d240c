package sqlitedb

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// Resealer rewrites one sealed value; changed says it did.
type Resealer func(v, aad []byte) (out []byte, changed bool, err error)

// ResealColumn walks table by its integer key in short write transactions (so that sales go
// on between them) and reseals column, whose associated data aadOf derives from the row's
// aadColumn value. It returns how many values changed.
func (db *DB) ResealColumn(ctx context.Context, table, key, column, aadColumn string, aadOf func(string) []byte, reseal Resealer) (int, error) {
	changed := 0
	last := int64(-1 << 62)
	for {
		var rows []struct {
			K   int64  `db:"k"`
			V   []byte `db:"v"`
			AAD string `db:"a"`
		}
		err := db.Tx(ctx, func(tx *sqlx.Tx) error {
			rows = rows[:0]
			q := fmt.Sprintf(`SELECT %s AS k, %s AS v, %s AS a FROM %s WHERE %s > ? AND %s IS NOT NULL ORDER BY %s LIMIT 500`,
				key, column, aadColumn, table, key, column, key)
			if err := tx.SelectContext(ctx, &rows, q, last); err != nil {
				return err
			}
			upd := fmt.Sprintf(`UPDATE %s SET %s=? WHERE %s=?`, table, column, key)
			for _, r := range rows {
				out, ch, err := reseal(r.V, aadOf(r.AAD))
				if err != nil {
					return fmt.Errorf("%s.%s row %d: %w", table, column, r.K, err)
				}
				if ch {
					if _, err := tx.ExecContext(ctx, upd, out, r.K); err != nil {
						return err
					}
					changed++
				}
			}
			return nil
		})
		if err != nil {
			return changed, err
		}
		if len(rows) == 0 {
			return changed, nil
		}
		last = rows[len(rows)-1].K
	}
}

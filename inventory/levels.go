package inventory

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/prepaidgw/gateway/internal/sqlitedb"
)

// Count is the stock of one product at one node, every PIN in exactly one column. At a hub,
// a node's available PINs are those it holds, and reserved are those in transit to it.
type Count struct {
	ProductID    string `json:"product_id" db:"product_id"`
	NodeID       string `json:"node_id" db:"node_id"`
	Available    int    `json:"available" db:"available"`
	Reserved     int    `json:"reserved" db:"reserved"`
	Sold         int    `json:"sold" db:"sold"`
	Voided       int    `json:"voided" db:"voided"`
	Expired      int    `json:"expired" db:"expired"`
	TargetLevel  int    `json:"target_level" db:"target_level"`
	ReorderLevel int    `json:"reorder_level" db:"reorder_level"`
}

// Counts returns the stock per product and node, with the levels set for each.
func (s *Store) Counts(ctx context.Context) ([]Count, error) {
	now := sqlitedb.FormatTime(s.now())
	var out []Count
	err := s.db.R.SelectContext(ctx, &out, `
		WITH c AS (
			SELECT product_id, node_id,
				sum(state IN ('available', 'at_node') AND ifnull(expires_at, '`+noExpiry+`') > ?1) AS available,
				sum(state IN ('reserved', 'in_transit')) AS reserved,
				sum(state='sold') AS sold,
				sum(state='voided') AS voided,
				sum(state IN ('available', 'at_node') AND ifnull(expires_at, '`+noExpiry+`') <= ?1) AS expired
			FROM pins WHERE state NOT IN ('importing', 'handed_back') GROUP BY product_id, node_id),
		k AS (SELECT product_id, node_id FROM c UNION SELECT product_id, node_id FROM stock_levels)
		SELECT k.product_id, k.node_id,
			ifnull(c.available, 0) AS available, ifnull(c.reserved, 0) AS reserved, ifnull(c.sold, 0) AS sold,
			ifnull(c.voided, 0) AS voided, ifnull(c.expired, 0) AS expired,
			ifnull(l.target_level, 0) AS target_level, ifnull(l.reorder_level, 0) AS reorder_level
		FROM k LEFT JOIN c USING (product_id, node_id) LEFT JOIN stock_levels l USING (product_id, node_id)
		ORDER BY k.product_id, k.node_id`, now)
	if out == nil {
		out = []Count{}
	}
	return out, err
}

// Level is the stock a node should hold of a product: replenish when available falls under
// ReorderLevel, up to TargetLevel.
type Level struct {
	NodeID       string `json:"node_id" db:"node_id"`
	ProductID    string `json:"product_id" db:"product_id"`
	TargetLevel  int    `json:"target_level" db:"target_level"`
	ReorderLevel int    `json:"reorder_level" db:"reorder_level"`
}

// SetLevel records l; validate it first.
func (s *Store) SetLevel(ctx context.Context, l Level) error {
	return s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO stock_levels(node_id, product_id, target_level, reorder_level, updated_at)
			VALUES (?,?,?,?,?) ON CONFLICT(node_id, product_id) DO UPDATE SET target_level=excluded.target_level,
			reorder_level=excluded.reorder_level, updated_at=excluded.updated_at`,
			l.NodeID, l.ProductID, l.TargetLevel, l.ReorderLevel, sqlitedb.FormatTime(time.Now()))
		return err
	})
}

// Levels lists every level set.
func (s *Store) Levels(ctx context.Context) ([]Level, error) {
	var out []Level
	err := s.db.R.SelectContext(ctx, &out, `SELECT node_id, product_id, target_level, reorder_level FROM stock_levels ORDER BY product_id, node_id`)
	return out, err
}

package auth

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/prepaidgw/gateway/internal/sqlitedb"
)

// Node is a server node registered at this hub.
type Node struct {
	ID string `json:"id" db:"id"`
	// HoursOfCover, when above zero, sets the node's stock targets from its recent sales rate.
	HoursOfCover float64   `json:"hours_of_cover" db:"hours_of_cover"`
	CreatedAt    time.Time `json:"created_at"`
}

// PutNode registers a node, or updates one: its key is replaced only when rekey is set (or
// the node is new), and is returned this once; otherwise key is empty.
func (s *Store) PutNode(ctx context.Context, id string, hoursOfCover float64, rekey bool) (n Node, key string, created bool, err error) {
	now := time.Now().UTC()
	err = s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		var c int
		if err := tx.GetContext(ctx, &c, `SELECT count(*) FROM nodes WHERE id=?`, id); err != nil {
			return err
		}
		created = c == 0
		if !created && !rekey {
			_, err := tx.ExecContext(ctx, `UPDATE nodes SET hours_of_cover=? WHERE id=?`, hoursOfCover, id)
			return err
		}
		key = NewKey("gwn_")
		_, err := tx.ExecContext(ctx, `INSERT INTO nodes(id, key_hash, hours_of_cover, created_at) VALUES (?,?,?,?)
			ON CONFLICT(id) DO UPDATE SET key_hash=excluded.key_hash, hours_of_cover=excluded.hours_of_cover`,
			id, HashKey(key), hoursOfCover, sqlitedb.FormatTime(now))
		return err
	})
	return Node{ID: id, HoursOfCover: hoursOfCover, CreatedAt: now}, key, created, err
}

// Nodes lists the registered nodes.
func (s *Store) Nodes(ctx context.Context) ([]Node, error) {
	var rows []struct {
		ID           string  `db:"id"`
		HoursOfCover float64 `db:"hours_of_cover"`
		CreatedAt    string  `db:"created_at"`
	}
	if err := s.db.R.SelectContext(ctx, &rows, `SELECT id, hours_of_cover, created_at FROM nodes ORDER BY id`); err != nil {
		return nil, err
	}
	out := make([]Node, 0, len(rows))
	for _, r := range rows {
		t, _ := time.Parse(time.RFC3339Nano, r.CreatedAt)
		out = append(out, Node{ID: r.ID, HoursOfCover: r.HoursOfCover, CreatedAt: t})
	}
	return out, nil
}

// NodeExists reports whether id is a registered node.
func (s *Store) NodeExists(ctx context.Context, id string) (bool, error) {
	var n int
	err := s.db.R.GetContext(ctx, &n, `SELECT count(*) FROM nodes WHERE id=?`, id)
	return n > 0, err
}

func (s *Store) authenticateNode(ctx context.Context, hash string) (Principal, error) {
	var id string
	err := s.db.R.GetContext(ctx, &id, `SELECT id FROM nodes WHERE key_hash=?`, hash)
	if errors.Is(err, sql.ErrNoRows) {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, err
	}
	return Principal{Role: RoleNode, NodeID: id}, nil
}

// TerminalRecord is a terminal as the hub hands it to a server: the key only as its hash.
type TerminalRecord struct {
	ID         string `json:"id" db:"id"`
	MerchantID string `json:"merchant_id" db:"merchant_id"`
	NodeID     string `json:"node_id" db:"node_id"`
	KeyHash    string `json:"key_hash" db:"key_hash"`
	Revoked    bool   `json:"revoked" db:"revoked"`
}

// TerminalRecords lists the terminals of node, revoked ones included.
func (s *Store) TerminalRecords(ctx context.Context, nodeID string) ([]TerminalRecord, error) {
	var out []TerminalRecord
	err := s.db.R.SelectContext(ctx, &out, `SELECT id, merchant_id, node_id, key_hash, revoked_at IS NOT NULL AS revoked
		FROM terminals WHERE node_id=? ORDER BY id`, nodeID)
	if out == nil {
		out = []TerminalRecord{}
	}
	return out, err
}

// ApplyTerminals makes this server's terminals exactly recs, as its hub sent them: new ones
// added, keys replaced, revoked ones and ones the hub no longer lists revoked at once.
func (s *Store) ApplyTerminals(ctx context.Context, recs []TerminalRecord) error {
	now := sqlitedb.FormatTime(time.Now())
	return s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE terminals SET revoked_at=? WHERE revoked_at IS NULL`, now); err != nil {
			return err
		}
		for _, r := range recs {
			var revoked any
			if r.Revoked {
				revoked = now
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO terminals(id, merchant_id, node_id, key_hash, created_at, revoked_at)
				VALUES (?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET merchant_id=excluded.merchant_id, node_id=excluded.node_id,
				key_hash=excluded.key_hash, revoked_at=excluded.revoked_at`, r.ID, r.MerchantID, r.NodeID, r.KeyHash, now, revoked); err != nil {
				return err
			}
		}
		return nil
	})
}

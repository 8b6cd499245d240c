package inventory

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/oklog/ulid/v2"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/internal/sqlitedb"
)

// HubNode is the node id of a hub's own, unallocated stock.
const HubNode = "hub"

// EnableOutbox makes every sale and void also write a sync event, in the same commit, for a
// server to report to its hub.
func (s *Store) EnableOutbox() { s.outbox = true }

// Event is a sale or void at a server, as it reports it to the hub.
type Event struct {
	Seq    int64  `json:"seq" db:"seq"`
	Serial string `json:"serial" db:"serial"`
	State  string `json:"state" db:"state"` // sold or voided
	TxnID  string `json:"txn_id" db:"txn_id"`
	At     string `json:"at" db:"at"`
}

func (s *Store) writeEvent(ctx context.Context, tx *sqlx.Tx, serial, state, txnID, at string) error {
	if !s.outbox {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO sync_outbox(serial, state, txn_id, at) VALUES (?,?,?,?)`, serial, state, txnID, at)
	return err
}

// Events returns the unacknowledged events, oldest first.
func (s *Store) Events(ctx context.Context, limit int) ([]Event, error) {
	var out []Event
	err := s.db.R.SelectContext(ctx, &out, `SELECT seq, serial, state, txn_id, at FROM sync_outbox ORDER BY seq LIMIT ?`, limit)
	return out, err
}

// TrimEvents forgets the events the hub has applied.
func (s *Store) TrimEvents(ctx context.Context, throughSeq int64) error {
	return s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sync_outbox WHERE seq <= ?`, throughSeq)
		return err
	})
}

// TransferPIN is a PIN on its way from the hub to a node.
type TransferPIN struct {
	Serial    string     `json:"serial"`
	PIN       string     `json:"pin"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Handoff is an open movement of PINs, as the hub sends it to the node.
type Handoff struct {
	ID        string        `json:"id" db:"id"`
	Direction string        `json:"direction" db:"direction"` // to_node: PINs are here; to_hub: send Count back
	ProductID string        `json:"product_id" db:"product_id"`
	Count     int           `json:"count" db:"count"`
	PINs      []TransferPIN `json:"pins,omitempty" db:"-"`
}

// Ack is a node's word that it applied a handoff; for to_hub, the serials it sent back.
type Ack struct {
	ID        string   `json:"id" db:"id"`
	Direction string   `json:"direction" db:"direction"`
	Serials   []string `json:"serials,omitempty"`
}

// --- the hub's side ---

// Allocate hands up to n of the hub's PINs of product, first expiry first, to node: they are
// in transit until the node acknowledges them, and never in two places. It returns how many.
func (s *Store) Allocate(ctx context.Context, nodeID, productID string, n int) (int, error) {
	id := "hof_" + ulid.Make().String()
	now := sqlitedb.FormatTime(s.now())
	var moved int64
	err := s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE pins SET state='in_transit', node_id=?, handoff_id=?, updated_at=?
			WHERE id IN (SELECT id FROM pins WHERE product_id=? AND node_id=? AND state='available'
				AND ifnull(expires_at, '`+noExpiry+`') > ? ORDER BY ifnull(expires_at, '`+noExpiry+`'), id LIMIT ?)`,
			nodeID, id, now, productID, HubNode, now, n)
		if err != nil {
			return err
		}
		if moved, _ = res.RowsAffected(); moved == 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO handoffs(id, node_id, product_id, direction, count, status, created_at)
			VALUES (?,?,?,'to_node',?,'open',?)`, id, nodeID, productID, moved, now)
		return err
	})
	return int(moved), err
}

// Recall asks node to send n PINs of product back, unless a recall of it is open already.
func (s *Store) Recall(ctx context.Context, nodeID, productID string, n int) error {
	now := sqlitedb.FormatTime(s.now())
	return s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		var open int
		if err := tx.GetContext(ctx, &open, `SELECT count(*) FROM handoffs WHERE node_id=? AND product_id=? AND direction='to_hub' AND status='open'`,
			nodeID, productID); err != nil || open > 0 {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO handoffs(id, node_id, product_id, direction, count, status, created_at)
			VALUES (?,?,?,'to_hub',?,'open',?)`, "hof_"+ulid.Make().String(), nodeID, productID, n, now)
		return err
	})
}

// OpenHandoffs lists node's open handoffs with the PINs of those coming to it. They are sent
// on every sync until acknowledged, so a lost answer only delays them.
func (s *Store) OpenHandoffs(ctx context.Context, nodeID string) ([]Handoff, error) {
	var hs []Handoff
	if err := s.db.R.SelectContext(ctx, &hs, `SELECT id, direction, product_id, count FROM handoffs
		WHERE node_id=? AND status='open' ORDER BY id`, nodeID); err != nil {
		return nil, err
	}
	for i, h := range hs {
		if h.Direction != "to_node" {
			continue
		}
		var rows []pinRow
		if err := s.db.R.SelectContext(ctx, &rows, `SELECT serial, pin_sealed, expires_at FROM pins WHERE handoff_id=? AND state='in_transit'`, h.ID); err != nil {
			return nil, err
		}
		for _, r := range rows {
			p, err := s.open(r)
			if err != nil {
				return nil, err
			}
			hs[i].PINs = append(hs[i].PINs, TransferPIN{Serial: p.Serial, PIN: p.Code, ExpiresAt: p.ExpiresAt})
		}
	}
	return hs, nil
}

// ApplyAck closes a handoff the node has applied; applying it again changes nothing. What the
// handoff was (its direction, product and size) is read from the hub's own record, never from
// the node's message.
func (s *Store) ApplyAck(ctx context.Context, nodeID string, a Ack) error {
	now := sqlitedb.FormatTime(s.now())
	return s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		var h Handoff
		err := tx.GetContext(ctx, &h, `SELECT id, direction, product_id, count FROM handoffs WHERE id=? AND node_id=? AND status='open'`, a.ID, nodeID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // done before, or not this node's
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE handoffs SET status='done', done_at=? WHERE id=?`, now, h.ID); err != nil {
			return err
		}
		if h.Direction == "to_node" {
			_, err = tx.ExecContext(ctx, `UPDATE pins SET state='at_node', updated_at=? WHERE handoff_id=? AND state='in_transit'`, now, h.ID)
			return err
		}
		for i, serial := range a.Serials {
			if i == h.Count {
				break
			}
			if _, err := tx.ExecContext(ctx, `UPDATE pins SET state='available', node_id=?, handoff_id=NULL, updated_at=?
				WHERE serial=? AND node_id=? AND product_id=? AND state='at_node'`, HubNode, now, serial, nodeID, h.ProductID); err != nil {
				return err
			}
		}
		return nil
	})
}

// ErrOtherInstance means a node's key was used by a second server database: only the one the
// node is bound to may sync, or both would sell the same PINs.
var ErrOtherInstance = errors.New("this node is bound to another server database; re-register the node (PUT /v1/nodes/{id}) to move it")

// BindInstance ties node to the server database instance on its first sync, and refuses any
// other instance after that.
func (s *Store) BindInstance(ctx context.Context, nodeID, instance string) error {
	if instance == "" {
		return ErrOtherInstance
	}
	return s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO node_sync(node_id) VALUES (?) ON CONFLICT DO NOTHING`, nodeID); err != nil {
			return err
		}
		var bound string
		if err := tx.GetContext(ctx, &bound, `SELECT instance FROM node_sync WHERE node_id=?`, nodeID); err != nil {
			return err
		}
		switch bound {
		case instance:
			return nil
		case "":
			_, err := tx.ExecContext(ctx, `UPDATE node_sync SET instance=? WHERE node_id=?`, instance, nodeID)
			return err
		}
		return ErrOtherInstance
	})
}

// ResetNode unbinds a re-registered node: the next server database to sync with it starts a
// fresh sequence of events. PINs the hub counts at the node stay there (the old database may
// still hold them) and are logged for reconciliation.
func (s *Store) ResetNode(ctx context.Context, nodeID string) error {
	return s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		var n int
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM pins WHERE node_id=? AND state IN ('at_node','in_transit')`, nodeID); err != nil {
			return err
		}
		if n > 0 {
			s.log.Warn("node re-registered while the hub counts PINs at it; they stay there until reconciled", "node", nodeID, "pins", n)
		}
		_, err := tx.ExecContext(ctx, `UPDATE node_sync SET instance='', last_seq=0 WHERE node_id=?`, nodeID)
		return err
	})
}

// Instance is this server database's identity towards its hub.
func (s *Store) Instance(ctx context.Context) (string, error) {
	var id string
	err := s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &id, `SELECT id FROM node_instance LIMIT 1`)
		if errors.Is(err, sql.ErrNoRows) {
			id = "ins_" + ulid.Make().String()
			_, err = tx.ExecContext(ctx, `INSERT INTO node_instance(id) VALUES (?)`, id)
		}
		return err
	})
	return id, err
}

// ApplyEvents records a node's sales and voids, once each: events at or below the last
// sequence applied for the node are skipped, so a repeated or late message changes nothing.
// It returns the sequence now applied through.
func (s *Store) ApplyEvents(ctx context.Context, nodeID string, events []Event) (int64, error) {
	var last int64
	err := s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO node_sync(node_id) VALUES (?) ON CONFLICT DO NOTHING`, nodeID); err != nil {
			return err
		}
		if err := tx.GetContext(ctx, &last, `SELECT last_seq FROM node_sync WHERE node_id=?`, nodeID); err != nil {
			return err
		}
		for _, e := range events {
			if e.Seq <= last {
				continue
			}
			if e.State != "sold" && e.State != "voided" {
				return &catalog.ValidationError{Fields: []catalog.FieldError{{Field: fmt.Sprintf("events[seq %d].state", e.Seq), Message: "must be sold or voided"}}}
			}
			res, err := tx.ExecContext(ctx, `UPDATE pins SET state=?, txn_id=?, sold_at=coalesce(sold_at, ?), updated_at=?
				WHERE serial=? AND node_id=? AND state IN ('in_transit', 'at_node', 'sold')`,
				e.State, e.TxnID, e.At, e.At, e.Serial, nodeID)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				s.log.Error("a node reports a sale of a PIN the hub does not count at it; needs reconciliation",
					"node", nodeID, "serial", e.Serial, "state", e.State, "seq", e.Seq)
			}
			last = e.Seq
		}
		_, err := tx.ExecContext(ctx, `UPDATE node_sync SET last_seq=?, last_sync_at=? WHERE node_id=?`, last, sqlitedb.FormatTime(s.now()), nodeID)
		return err
	})
	return last, err
}

// NodeReport is what a hub last heard from a node.
type NodeReport struct {
	NodeID     string         `db:"node_id"`
	LastSeq    int64          `db:"last_seq"`
	LastSyncAt sql.NullString `db:"last_sync_at"`
	ConfigHash string         `db:"config_hash"`
}

// NodeReports lists what the hub last heard from each node.
func (s *Store) NodeReports(ctx context.Context) (map[string]NodeReport, error) {
	var rows []NodeReport
	if err := s.db.R.SelectContext(ctx, &rows, `SELECT node_id, last_seq, last_sync_at, config_hash FROM node_sync`); err != nil {
		return nil, err
	}
	out := map[string]NodeReport{}
	for _, r := range rows {
		out[r.NodeID] = r
	}
	return out, nil
}

// SetNodeConfigHash records the configuration a node reported it holds.
func (s *Store) SetNodeConfigHash(ctx context.Context, nodeID, hash string) error {
	return s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO node_sync(node_id, config_hash) VALUES (?,?)
			ON CONFLICT(node_id) DO UPDATE SET config_hash=excluded.config_hash`, nodeID, hash)
		return err
	})
}

// Held counts a node's unsold, unexpired PINs of product as the hub sees them: held by the
// node, or on their way to it.
func (s *Store) Held(ctx context.Context, nodeID, productID string) (held, inTransit int, err error) {
	var r struct {
		Held      int `db:"held"`
		InTransit int `db:"in_transit"`
	}
	err = s.db.R.GetContext(ctx, &r, `SELECT
		ifnull(sum(state='at_node'), 0) AS held, ifnull(sum(state='in_transit'), 0) AS in_transit
		FROM pins WHERE node_id=? AND product_id=? AND state IN ('at_node', 'in_transit')
		AND ifnull(expires_at, '`+noExpiry+`') > ?`, nodeID, productID, sqlitedb.FormatTime(s.now()))
	return r.Held, r.InTransit, err
}

// NetworkAvailable counts the unsold, unexpired PINs of product anywhere in a hub's network:
// at the hub, on their way, or held by a node. For node HubNode it is what replenishment
// compares with the hub's level; for other nodes it is their own stock.
func (s *Store) NetworkAvailable(ctx context.Context, productID, nodeID string) (int, error) {
	if nodeID != HubNode {
		held, inTransit, err := s.Held(ctx, nodeID, productID)
		return held + inTransit, err
	}
	var n int
	err := s.db.R.GetContext(ctx, &n, `SELECT count(*) FROM pins WHERE product_id=?
		AND state IN ('available', 'in_transit', 'at_node') AND ifnull(expires_at, '`+noExpiry+`') > ?`,
		productID, sqlitedb.FormatTime(s.now()))
	return n, err
}

// SoldSince counts the PINs of product a node sold since t, for sales-rate targets.
func (s *Store) SoldSince(ctx context.Context, nodeID, productID string, t time.Time) (int, error) {
	var n int
	err := s.db.R.GetContext(ctx, &n, `SELECT count(*) FROM pins WHERE node_id=? AND product_id=? AND state='sold' AND sold_at >= ?`,
		nodeID, productID, sqlitedb.FormatTime(t))
	return n, err
}

// --- the server's side ---

// ApplyHandoff books PINs handed over by the hub into this node's stock, once: a handoff
// applied before is skipped. The record of it is kept for the acknowledgement.
func (s *Store) ApplyHandoff(ctx context.Context, nodeID string, h Handoff) error {
	now := s.now()
	stamp := sqlitedb.FormatTime(now)
	return s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		var done int
		if err := tx.GetContext(ctx, &done, `SELECT count(*) FROM applied_handoffs WHERE id=?`, h.ID); err != nil || done > 0 {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO pin_batches(id, product_id, node_id, count, status, created_at)
			VALUES (?,?,?,?,'active',?)`, h.ID, h.ProductID, nodeID, len(h.PINs), stamp); err != nil {
			return err
		}
		for _, p := range h.PINs {
			var exp any
			if p.ExpiresAt != nil {
				exp = sqlitedb.FormatTime(*p.ExpiresAt)
			}
			sealed := s.keys.Seal([]byte(p.PIN), []byte(p.Serial))
			// A PIN this node handed back before comes home to its old row.
			res, err := tx.ExecContext(ctx, `UPDATE pins SET state='available', pin_sealed=?, expires_at=?, batch_id=?, handoff_id=?, updated_at=?
				WHERE serial=? AND node_id=? AND state='handed_back'`, sealed, exp, h.ID, h.ID, stamp, p.Serial, nodeID)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO pins(product_id, serial, pin_sealed, pin_digest, expires_at, node_id, state, batch_id, handoff_id, updated_at)
				VALUES (?,?,?,?,?,?,'available',?,?,?)`, h.ProductID, p.Serial, sealed,
				s.digest(p.PIN), exp, nodeID, h.ID, h.ID, stamp); err != nil {
				return fmt.Errorf("handoff %s, PIN %s: %w", h.ID, p.Serial, err)
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO applied_handoffs(id, direction, product_id, applied_at) VALUES (?,'to_node',?,?)`,
			h.ID, h.ProductID, stamp)
		return err
	})
}

// ApplyRecall takes up to h.Count available PINs of the product out of this node's stock for
// the hub, latest expiry first (the hub can place them best), once per recall.
func (s *Store) ApplyRecall(ctx context.Context, nodeID string, h Handoff) error {
	now := sqlitedb.FormatTime(s.now())
	return s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		var done int
		if err := tx.GetContext(ctx, &done, `SELECT count(*) FROM applied_handoffs WHERE id=?`, h.ID); err != nil || done > 0 {
			return err
		}
		var serials []string
		if err := tx.SelectContext(ctx, &serials, `UPDATE pins SET state='handed_back', handoff_id=?, updated_at=?
			WHERE id IN (SELECT id FROM pins WHERE product_id=? AND node_id=? AND state='available'
				ORDER BY ifnull(expires_at, '`+noExpiry+`') DESC, id DESC LIMIT ?) RETURNING serial`,
			h.ID, now, h.ProductID, nodeID, h.Count); err != nil {
			return err
		}
		js, _ := json.Marshal(serials)
		_, err := tx.ExecContext(ctx, `INSERT INTO applied_handoffs(id, direction, product_id, serials, applied_at) VALUES (?,'to_hub',?,?,?)`,
			h.ID, h.ProductID, string(js), now)
		return err
	})
}

// PendingAcks lists the handoffs applied here that the hub has not confirmed hearing of.
func (s *Store) PendingAcks(ctx context.Context) ([]Ack, error) {
	var rows []struct {
		ID        string `db:"id"`
		Direction string `db:"direction"`
		Serials   string `db:"serials"`
	}
	if err := s.db.R.SelectContext(ctx, &rows, `SELECT id, direction, serials FROM applied_handoffs WHERE confirmed=0 ORDER BY id`); err != nil {
		return nil, err
	}
	out := make([]Ack, 0, len(rows))
	for _, r := range rows {
		a := Ack{ID: r.ID, Direction: r.Direction}
		if err := json.Unmarshal([]byte(r.Serials), &a.Serials); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// ConfirmAcks records that the hub heard of these handoffs.
func (s *Store) ConfirmAcks(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	return s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		q, args, err := sqlx.In(`UPDATE applied_handoffs SET confirmed=1 WHERE id IN (?)`, ids)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, q, args...)
		return err
	})
}

package conduit

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/internal/sqlitedb"
)

// EnableOutbox makes a server node report every transaction state to its hub, written in the
// same commit as the state itself.
func (s *Service) EnableOutbox() { s.outbox = true }

func (s *Service) report(ctx context.Context, tx *sqlx.Tx, txnID string) error {
	if !s.outbox {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO txn_outbox(txn_id) VALUES (?)`, txnID)
	return err
}

// Report is a transaction's latest state as a server sends it to its hub, PIN masked.
type Report struct {
	Seq         int64       `json:"seq"`
	Transaction Transaction `json:"transaction"`
}

// Reports returns the states not yet acknowledged by the hub, oldest first.
func (s *Service) Reports(ctx context.Context, limit int) ([]Report, error) {
	var rows []struct {
		Seq   int64  `db:"seq"`
		TxnID string `db:"txn_id"`
	}
	if err := s.db.R.SelectContext(ctx, &rows, `SELECT seq, txn_id FROM txn_outbox ORDER BY seq LIMIT ?`, limit); err != nil {
		return nil, err
	}
	out := make([]Report, 0, len(rows))
	for _, r := range rows {
		t, err := s.Get(ctx, r.TxnID)
		if err != nil {
			return nil, err
		}
		out = append(out, Report{Seq: r.Seq, Transaction: t.Masked()})
	}
	return out, nil
}

// TrimReports forgets the reports the hub has applied.
func (s *Service) TrimReports(ctx context.Context, through int64) error {
	return s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM txn_outbox WHERE seq <= ?`, through)
		return err
	})
}

// ApplyReports records, at a hub, the transactions a server node made, once each: reports at
// or below the last sequence applied for the node are skipped. It returns the sequence now
// applied through. The hub never inquires, voids or replays them; it keeps them for support.
func (s *Service) ApplyReports(ctx context.Context, nodeID string, reports []Report) (int64, error) {
	var last int64
	err := s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &last, `SELECT ifnull((SELECT last_seq FROM txn_reports WHERE node_id=?), 0)`, nodeID); err != nil {
			return err
		}
		for _, r := range reports {
			if r.Seq <= last {
				continue
			}
			t := r.Transaction
			if t.NodeID != nodeID {
				return &catalog.ValidationError{Fields: []catalog.FieldError{{Field: fmt.Sprintf("transactions[seq %d].transaction.node_id", r.Seq),
					Message: "must be the reporting node"}}}
			}
			if err := s.upsertReported(ctx, tx, nodeID, t); err != nil {
				return err
			}
			last = r.Seq
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO txn_reports(node_id, last_seq) VALUES (?,?)
			ON CONFLICT(node_id) DO UPDATE SET last_seq=excluded.last_seq`, nodeID, last)
		return err
	})
	return last, err
}

func (s *Service) upsertReported(ctx context.Context, tx *sqlx.Tx, nodeID string, t Transaction) error {
	msisdn, last4, serial, code, msg := "", "", "", "", ""
	var pinSealed []byte
	var pinExpires any
	if t.Recipient != nil {
		msisdn = t.Recipient.MSISDN
	}
	if t.Card != nil {
		last4 = t.Card.Last4
	}
	if t.PIN != nil {
		serial = t.PIN.Serial
		pinSealed = s.keys.Seal([]byte(MaskPIN(t.PIN.Code)), aad(t.ID, "pin"))
		if t.PIN.ExpiresAt != nil {
			pinExpires = sqlitedb.FormatTime(*t.PIN.ExpiresAt)
		}
	}
	if t.Error != nil {
		code, msg = t.Error.Code, t.Error.Message
	}
	body, _ := json.Marshal(t)
	_, err := tx.ExecContext(ctx, `INSERT INTO transactions(id, terminal_id, merchant_id, node_id, idempotency_key, request_hash,
		type, product_id, suppliers, amount, currency, status, reference, msisdn, card_last4, pin_serial, pin_sealed,
		pin_expires_at, supplier, supplier_ref, error_code, error_message, reply, origin, created_at, updated_at)
		VALUES (?,?,?,?,?,'',?,?,'[]',?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(id) DO UPDATE SET status=excluded.status, pin_serial=excluded.pin_serial, pin_sealed=excluded.pin_sealed,
		pin_expires_at=excluded.pin_expires_at, supplier=excluded.supplier, supplier_ref=excluded.supplier_ref,
		error_code=excluded.error_code, error_message=excluded.error_message, updated_at=excluded.updated_at`,
		t.ID, t.TerminalID, t.MerchantID, nodeID, "reported:"+t.ID, t.Type, t.ProductID, t.Amount, t.Currency, t.Status,
		t.Reference, msisdn, last4, serial, pinSealed, pinExpires, t.Supplier, t.SupplierRef, code, msg,
		s.keys.Seal(body, aad(t.ID, "reply")), nodeID, sqlitedb.FormatTime(t.CreatedAt), sqlitedb.FormatTime(t.UpdatedAt))
	return err
}

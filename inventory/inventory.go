// Package inventory owns PIN stock: sealed PINs, their import, and their sale, first expiry
// first out, one PIN to one transaction, never twice.
package inventory

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/oklog/ulid/v2"

	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/internal/sqlitedb"
	"github.com/prepaidgw/gateway/secret"
)

//go:embed migrations/*.sql
var migrations embed.FS

// noExpiry sorts after every real expiry, so FEFO sends PINs without one last.
const noExpiry = "9999"

// ErrDuplicatePIN means a serial or PIN is already in stock (or twice in one import).
var ErrDuplicatePIN = errors.New("inventory: serial or PIN already known")

// Store is the PIN stock of one database.
type Store struct {
	db      *sqlitedb.DB
	keys    *secret.Keyring
	digestK []byte
	now     func() time.Time
}

// NewStore migrates the inventory tables.
func NewStore(ctx context.Context, db *sqlitedb.DB, keys *secret.Keyring, digestKey []byte) (*Store, error) {
	sub, _ := fs.Sub(migrations, "migrations")
	if err := db.Migrate(ctx, "inventory", sub); err != nil {
		return nil, err
	}
	return &Store{db: db, keys: keys, digestK: digestKey, now: time.Now}, nil
}

func (s *Store) digest(pin string) string {
	m := hmac.New(sha256.New, s.digestK)
	m.Write([]byte(pin))
	return hex.EncodeToString(m.Sum(nil))
}

// Row is one PIN to import.
type Row struct {
	Line      int // for error messages
	Serial    string
	PIN       string
	ExpiresAt *time.Time
}

// Batch is the result of an import.
type Batch struct {
	ID        string `json:"batch_id"`
	ProductID string `json:"product_id"`
	Count     int    `json:"count"`
}

// Import adds rows to the stock of product at node, all or nothing, in one database
// transaction. next returns io.EOF after the last row; rows are read one at a time, so an
// import needs memory for one row, not for the file.
func (s *Store) Import(ctx context.Context, productID, nodeID string, next func() (Row, error)) (Batch, error) {
	b := Batch{ID: "bat_" + ulid.Make().String(), ProductID: productID}
	now := sqlitedb.FormatTime(s.now())
	err := s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO pin_batches(id, product_id, node_id, count, created_at) VALUES (?,?,?,0,?)`,
			b.ID, productID, nodeID, now); err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO pins(product_id, serial, pin_sealed, pin_digest, expires_at, node_id, state, batch_id, updated_at)
			VALUES (?,?,?,?,?,?,'available',?,?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for {
			r, err := next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			var exp any
			if r.ExpiresAt != nil {
				exp = sqlitedb.FormatTime(*r.ExpiresAt)
			}
			sealed := s.keys.Seal([]byte(r.PIN), []byte(r.Serial))
			if _, err := stmt.ExecContext(ctx, productID, r.Serial, sealed, s.digest(r.PIN), exp, nodeID, b.ID, now); err != nil {
				if sqlitedb.IsUniqueViolation(err) {
					return fmt.Errorf("%w: line %d (serial %s)", ErrDuplicatePIN, r.Line, r.Serial)
				}
				return err
			}
			b.Count++
		}
		_, err = tx.ExecContext(ctx, `UPDATE pin_batches SET count=? WHERE id=?`, b.Count, b.ID)
		return err
	})
	if err != nil {
		return Batch{}, err
	}
	return b, nil
}

type pinRow struct {
	Serial    string         `db:"serial"`
	Sealed    []byte         `db:"pin_sealed"`
	ExpiresAt sql.NullString `db:"expires_at"`
}

func (s *Store) open(r pinRow) (drivers.PIN, error) {
	code, err := s.keys.Open(r.Sealed, []byte(r.Serial))
	if err != nil {
		return drivers.PIN{}, fmt.Errorf("inventory: PIN %s: %w", r.Serial, err)
	}
	p := drivers.PIN{Serial: r.Serial, Code: string(code)}
	if r.ExpiresAt.Valid {
		t, err := time.Parse(time.RFC3339Nano, r.ExpiresAt.String)
		if err == nil {
			p.ExpiresAt = &t
		}
	}
	return p, nil
}

// Claim implements drivers.Stock: one statement picks the PIN of the product at the node that
// expires first (never an expired one) and marks it sold to txnID, so two sales can never get
// the same PIN and the record of the sale is written with the claim.
func (s *Store) Claim(ctx context.Context, productID, nodeID, txnID string) (drivers.PIN, error) {
	now := sqlitedb.FormatTime(s.now())
	var r pinRow
	err := s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		return tx.GetContext(ctx, &r, `UPDATE pins SET state='sold', txn_id=?, sold_at=?, updated_at=?
			WHERE id = (SELECT id FROM pins WHERE product_id=? AND node_id=? AND state='available'
				AND ifnull(expires_at, '`+noExpiry+`') > ?
				ORDER BY ifnull(expires_at, '`+noExpiry+`'), id LIMIT 1)
			RETURNING serial, pin_sealed, expires_at`, txnID, now, now, productID, nodeID, now)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return drivers.PIN{}, drivers.Declined(drivers.DeclineCodeOutOfStock, "no PIN of this product is in stock")
	}
	if err != nil {
		return drivers.PIN{}, err
	}
	return s.open(r)
}

// ClaimedBy implements drivers.Stock.
func (s *Store) ClaimedBy(ctx context.Context, txnID string) (drivers.PIN, bool, error) {
	var r pinRow
	err := s.db.R.GetContext(ctx, &r, `SELECT serial, pin_sealed, expires_at FROM pins WHERE txn_id=?`, txnID)
	if errors.Is(err, sql.ErrNoRows) {
		return drivers.PIN{}, false, nil
	}
	if err != nil {
		return drivers.PIN{}, false, err
	}
	p, err := s.open(r)
	return p, err == nil, err
}

// Void implements drivers.Stock: the PIN sold to txnID is quarantined for good.
func (s *Store) Void(ctx context.Context, txnID string) error {
	return s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE pins SET state='voided', updated_at=? WHERE txn_id=? AND state='sold'`,
			sqlitedb.FormatTime(s.now()), txnID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("inventory: no sold PIN for transaction %s", txnID)
		}
		return nil
	})
}

// Available counts the PINs of product at node that can be sold now.
func (s *Store) Available(ctx context.Context, productID, nodeID string) (int, error) {
	var n int
	err := s.db.R.GetContext(ctx, &n, `SELECT count(*) FROM pins WHERE product_id=? AND node_id=? AND state='available'
		AND ifnull(expires_at, '`+noExpiry+`') > ?`, productID, nodeID, sqlitedb.FormatTime(s.now()))
	return n, err
}

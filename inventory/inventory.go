// Package inventory owns PIN stock: sealed PINs, their import, their sale first expiry first
// out (one PIN to one transaction, never twice), void quarantine, stock levels and
// replenishment orders.
package inventory

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/internal/sqlitedb"
	"github.com/prepaidgw/gateway/secret"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the inventory's tables, for callers that must look at the stock before
// they can build a Store (to know whether a PIN key must already exist).
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrations, "migrations")
	return sub
}

// noExpiry sorts after every real expiry, so FEFO sends PINs without one last.
const noExpiry = "9999"

// Store is the PIN stock of one database.
type Store struct {
	db      *sqlitedb.DB
	keys    *secret.Keyring
	digestK []byte
	log     *slog.Logger
	now     func() time.Time
	sold    chan struct{} // poked after each sale, so replenishment and sync look at once
	outbox  bool          // a server: sales and voids also go to the hub's outbox
	owner   string        // marks the batches this store writes
}

// ErrWrongKey means the PIN key given is not the one the stock was sealed with.
var ErrWrongKey = errors.New("the PIN key does not open this database's PIN stock")

// HasSealedStock reports whether db already holds data sealed under some PIN key, so that a
// missing key is an error rather than a reason to make a new one.
func HasSealedStock(ctx context.Context, db *sqlitedb.DB) bool {
	var n int
	err := db.R.GetContext(ctx, &n, `SELECT count(*) FROM inventory_meta WHERE name='digest_key'`)
	return err == nil && n > 0
}

// NewStore migrates the inventory tables and checks that keys opens the stock: the digest key
// is kept sealed in the database, so a wrong key is caught here, at start, not at a sale.
func NewStore(ctx context.Context, db *sqlitedb.DB, keys *secret.Keyring, log *slog.Logger) (*Store, error) {
	if err := db.Migrate(ctx, "inventory", Migrations()); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Store{db: db, keys: keys, log: log, now: time.Now, sold: make(chan struct{}, 1), owner: newOwner()}
	var sealed []byte
	err := db.R.GetContext(ctx, &sealed, `SELECT value FROM inventory_meta WHERE name='digest_key'`)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		s.digestK = secret.NewKey()
		if err := db.Tx(ctx, func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO inventory_meta(name, value) VALUES ('digest_key', ?)`,
				keys.Seal(s.digestK, []byte("digest_key")))
			return err
		}); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		if s.digestK, err = keys.Open(sealed, []byte("digest_key")); err != nil {
			id, _ := secret.SealedKeyID(sealed)
			return nil, fmt.Errorf("%w: the stock is sealed under key %s, the key given is %s", ErrWrongKey, id, keys.CurrentID())
		}
	}
	return s, nil
}

// digest is a keyed hash of a PIN, 128 bits: plenty to find duplicates, and small enough that
// the unique index over a million PINs stays in the page cache during an import.
func (s *Store) digest(pin string) []byte {
	m := hmac.New(sha256.New, s.digestK)
	m.Write([]byte(pin))
	return m.Sum(nil)[:16]
}

// DeriveKey derives a key for purpose from the inventory's digest key, which is kept sealed in
// the database and survives key rotation unchanged.
func (s *Store) DeriveKey(purpose string) []byte {
	m := hmac.New(sha256.New, s.digestK)
	m.Write([]byte("derive:" + purpose))
	return m.Sum(nil)
}

// Sold is poked (without blocking) after each sale.
func (s *Store) Sold() <-chan struct{} { return s.sold }

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
		if t, err := time.Parse(time.RFC3339Nano, r.ExpiresAt.String); err == nil {
			p.ExpiresAt = &t
		}
	}
	return p, nil
}

// pickQuery finds the PIN to sell next (product, node, now): it walks the pins_pick index.
const pickQuery = `SELECT id FROM pins WHERE product_id=? AND node_id=? AND state='available'
	AND ifnull(expires_at, '` + noExpiry + `') > ? ORDER BY ifnull(expires_at, '` + noExpiry + `'), id LIMIT 1`

// Claim implements drivers.Stock: one statement picks the PIN of the product at the node that
// expires first (never an expired one) and marks it sold to txnID, so two sales can never get
// the same PIN and the record of the sale is written with the claim.
func (s *Store) Claim(ctx context.Context, productID, nodeID, txnID string) (drivers.PIN, error) {
	now := sqlitedb.FormatTime(s.now())
	var pin drivers.PIN
	err := s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		var r pinRow
		if err := tx.GetContext(ctx, &r, `UPDATE pins SET state='sold', txn_id=?, sold_at=?, updated_at=?
			WHERE id = (`+pickQuery+`) RETURNING serial, pin_sealed, expires_at`, txnID, now, now, productID, nodeID, now); err != nil {
			return err
		}
		// Opened before the commit: a PIN that cannot be read is never marked sold.
		var err error
		if pin, err = s.open(r); err != nil {
			s.log.Error("a PIN in stock cannot be opened with the loaded keys; the sale is refused", "serial", r.Serial, "err", err)
			return drivers.NotSent(err)
		}
		return s.writeEvent(ctx, tx, r.Serial, "sold", txnID, now)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return drivers.PIN{}, drivers.Declined(drivers.DeclineCodeOutOfStock, "no PIN of this product is in stock")
	}
	if err != nil {
		return drivers.PIN{}, err
	}
	select {
	case s.sold <- struct{}{}:
	default:
	}
	return pin, nil
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

// Void implements drivers.Stock: the PIN sold to txnID is quarantined for good. Voiding it
// again succeeds and changes nothing.
func (s *Store) Void(ctx context.Context, txnID string) error {
	now := sqlitedb.FormatTime(s.now())
	return s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		var serial string
		err := tx.GetContext(ctx, &serial, `UPDATE pins SET state='voided', updated_at=? WHERE txn_id=? AND state='sold' RETURNING serial`, now, txnID)
		if errors.Is(err, sql.ErrNoRows) {
			// Voided already (a retry after a stop between this and the transaction's update)?
			var n int
			if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM pins WHERE txn_id=? AND state='voided'`, txnID); err != nil || n > 0 {
				return err
			}
			return fmt.Errorf("inventory: no sold PIN for transaction %s", txnID)
		}
		if err != nil {
			return err
		}
		return s.writeEvent(ctx, tx, serial, "voided", txnID, now)
	})
}

// Available counts the PINs of product at node that can be sold now.
func (s *Store) Available(ctx context.Context, productID, nodeID string) (int, error) {
	var n int
	err := s.db.R.GetContext(ctx, &n, `SELECT count(*) FROM pins WHERE product_id=? AND node_id=? AND state='available'
		AND ifnull(expires_at, '`+noExpiry+`') > ?`, productID, nodeID, sqlitedb.FormatTime(s.now()))
	return n, err
}

// Reseal re-encrypts every PIN and the digest key under keys' current key, a few hundred rows
// per commit so that sales go on. It returns how many values changed.
func Reseal(ctx context.Context, db *sqlitedb.DB, keys *secret.Keyring) (int, error) {
	n, err := db.ResealColumn(ctx, "pins", "id", "pin_sealed", "serial", func(serial string) []byte { return []byte(serial) }, keys.Reseal)
	if err != nil {
		return n, err
	}
	m, err := db.ResealColumn(ctx, "inventory_meta", "rowid", "value", "name", func(name string) []byte { return []byte(name) }, keys.Reseal)
	return n + m, err
}

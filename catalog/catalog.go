// Package catalog holds the products a lane can sell: their type, denomination and the ordered
// list of suppliers that serve them.
package catalog

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/prepaidgw/gateway/internal/sqlitedb"
)

// Type is the kind of prepaid product; it decides how a request is validated and routed.
type Type string

// The product types.
const (
	TypePIN      Type = "pin"
	TypeTopUp    Type = "topup"
	TypeGiftCard Type = "giftcard"
)

// Types lists every product type.
var Types = []Type{TypePIN, TypeTopUp, TypeGiftCard}

// Valid reports whether t is a known type.
func (t Type) Valid() bool {
	for _, x := range Types {
		if x == t {
			return true
		}
	}
	return false
}

// Product is a sellable item. Exactly one of Amount (fixed denomination) or MinAmount and
// MaxAmount (a range the lane chooses within) is set.
type Product struct {
	ID        string   `json:"id"`
	Type      Type     `json:"type"`
	Name      string   `json:"name"`
	Currency  string   `json:"currency"`
	Amount    *int64   `json:"amount,omitempty"`
	MinAmount *int64   `json:"min_amount,omitempty"`
	MaxAmount *int64   `json:"max_amount,omitempty"`
	Suppliers []string `json:"suppliers"`
	Active    bool     `json:"active"`
}

// IsRange reports whether the lane chooses the amount.
func (p Product) IsRange() bool { return p.Amount == nil }

// ErrNotFound means no product has that id.
var ErrNotFound = errors.New("catalog: product not found")

// FieldError names one bad field of a product or request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every bad field found.
type ValidationError struct{ Fields []FieldError }

func (e *ValidationError) Error() string {
	if len(e.Fields) == 0 {
		return "validation failed"
	}
	return fmt.Sprintf("validation failed: %s: %s", e.Fields[0].Field, e.Fields[0].Message)
}

// Add records a bad field.
func (e *ValidationError) Add(field, format string, args ...any) {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns e as an error, or nil when nothing was added.
func (e *ValidationError) Err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// SupplierTypes tells which product types a named supplier serves; ok is false for a name
// that is not configured.
type SupplierTypes func(name string) (types []Type, ok bool)

var (
	idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// ValidID reports whether s may name a product, terminal or node.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// Validate checks p as a whole, including that every supplier exists and serves its type.
func (p Product) Validate(suppliers SupplierTypes) error {
	var ve ValidationError
	if !ValidID(p.ID) {
		ve.Add("id", "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	if !p.Type.Valid() {
		ve.Add("type", "must be one of pin, topup, giftcard")
	}
	if p.Name == "" || len(p.Name) > 200 {
		ve.Add("name", "is required, at most 200 characters")
	}
	if !IsCurrency(p.Currency) {
		ve.Add("currency", "must be an ISO 4217 code such as USD")
	}
	switch {
	case p.Amount != nil && (p.MinAmount != nil || p.MaxAmount != nil):
		ve.Add("amount", "give either amount (fixed) or min_amount and max_amount (range), not both")
	case p.Amount != nil:
		if *p.Amount <= 0 {
			ve.Add("amount", "must be a positive number of minor units")
		}
	case p.MinAmount == nil || p.MaxAmount == nil:
		ve.Add("amount", "give amount (fixed) or both min_amount and max_amount (range)")
	default:
		if *p.MinAmount <= 0 {
			ve.Add("min_amount", "must be a positive number of minor units")
		}
		if *p.MaxAmount < *p.MinAmount {
			ve.Add("max_amount", "must not be below min_amount")
		}
	}
	if p.Type == TypePIN && p.IsRange() && p.MinAmount != nil {
		ve.Add("amount", "a pin product has a fixed denomination")
	}
	if len(p.Suppliers) == 0 {
		ve.Add("suppliers", "name at least one supplier")
	}
	seen := map[string]bool{}
	for i, s := range p.Suppliers {
		field := fmt.Sprintf("suppliers[%d]", i)
		types, ok := suppliers(s)
		switch {
		case seen[s]:
			ve.Add(field, "supplier %q is named twice", s)
		case !ok:
			ve.Add(field, "unknown supplier %q", s)
		case p.Type.Valid() && !containsType(types, p.Type):
			ve.Add(field, "supplier %q does not serve %s products", s, p.Type)
		}
		seen[s] = true
	}
	return ve.Err()
}

func containsType(ts []Type, t Type) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

//go:embed migrations/*.sql
var migrations embed.FS

// Store keeps products in SQLite.
type Store struct{ db *sqlitedb.DB }

// NewStore migrates the catalog's tables and returns its store.
func NewStore(ctx context.Context, db *sqlitedb.DB) (*Store, error) {
	sub, _ := fs.Sub(migrations, "migrations")
	if err := db.Migrate(ctx, "catalog", sub); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

type productRow struct {
	ID        string        `db:"id"`
	Type      string        `db:"type"`
	Name      string        `db:"name"`
	Currency  string        `db:"currency"`
	Amount    sql.NullInt64 `db:"amount"`
	MinAmount sql.NullInt64 `db:"min_amount"`
	MaxAmount sql.NullInt64 `db:"max_amount"`
	Suppliers string        `db:"suppliers"`
	Active    bool          `db:"active"`
	UpdatedAt string        `db:"updated_at"`
}

func (r productRow) product() Product {
	p := Product{ID: r.ID, Type: Type(r.Type), Name: r.Name, Currency: r.Currency, Active: r.Active}
	p.Amount = nullInt(r.Amount)
	p.MinAmount = nullInt(r.MinAmount)
	p.MaxAmount = nullInt(r.MaxAmount)
	_ = json.Unmarshal([]byte(r.Suppliers), &p.Suppliers)
	return p
}

func nullInt(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	v := n.Int64
	return &v
}

// Put creates or replaces p; created says it did not exist before. Validate first.
func (s *Store) Put(ctx context.Context, p Product) (created bool, err error) {
	err = s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		var n int
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM products WHERE id=?`, p.ID); err != nil {
			return err
		}
		created = n == 0
		return upsert(ctx, tx, p, sqlitedb.FormatTime(time.Now()))
	})
	return created, err
}

func upsert(ctx context.Context, tx *sqlx.Tx, p Product, now string) error {
	sup, _ := json.Marshal(p.Suppliers)
	_, err := tx.ExecContext(ctx, `INSERT INTO products(id,type,name,currency,amount,min_amount,max_amount,suppliers,active,updated_at)
		VALUES (?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(id) DO UPDATE SET type=excluded.type, name=excluded.name, currency=excluded.currency,
		amount=excluded.amount, min_amount=excluded.min_amount, max_amount=excluded.max_amount,
		suppliers=excluded.suppliers, active=excluded.active, updated_at=excluded.updated_at`,
		p.ID, p.Type, p.Name, p.Currency, p.Amount, p.MinAmount, p.MaxAmount, string(sup), p.Active, now)
	return err
}

// Get returns the product with id, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Product, error) {
	var r productRow
	err := s.db.R.GetContext(ctx, &r, `SELECT * FROM products WHERE id=?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Product{}, ErrNotFound
	}
	if err != nil {
		return Product{}, err
	}
	return r.product(), nil
}

// List returns the products ordered by id, of type t when t is not empty.
func (s *Store) List(ctx context.Context, t Type) ([]Product, error) {
	var rows []productRow
	var err error
	if t == "" {
		err = s.db.R.SelectContext(ctx, &rows, `SELECT * FROM products ORDER BY id`)
	} else {
		err = s.db.R.SelectContext(ctx, &rows, `SELECT * FROM products WHERE type=? ORDER BY id`, t)
	}
	if err != nil {
		return nil, err
	}
	out := make([]Product, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.product())
	}
	return out, nil
}

// ApplyProducts makes this server's catalog what its hub sent: listed products are written
// as they are, and any product the hub no longer lists is deactivated.
func (s *Store) ApplyProducts(ctx context.Context, ps []Product) error {
	now := sqlitedb.FormatTime(time.Now())
	return s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE products SET active=0, updated_at=?`, now); err != nil {
			return err
		}
		for _, p := range ps {
			if err := upsert(ctx, tx, p, now); err != nil {
				return err
			}
		}
		return nil
	})
}

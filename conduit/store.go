package conduit

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/drivers"
	"github.com/prepaidgw/gateway/internal/sqlitedb"
	"github.com/prepaidgw/gateway/secret"
)

type txnRow struct {
	Seq            int64          `db:"seq"`
	ID             string         `db:"id"`
	TerminalID     string         `db:"terminal_id"`
	MerchantID     string         `db:"merchant_id"`
	NodeID         string         `db:"node_id"`
	IdempotencyKey string         `db:"idempotency_key"`
	RequestHash    string         `db:"request_hash"`
	Type           string         `db:"type"`
	ProductID      string         `db:"product_id"`
	Suppliers      string         `db:"suppliers"`
	Amount         int64          `db:"amount"`
	Currency       string         `db:"currency"`
	Status         string         `db:"status"`
	Reference      string         `db:"reference"`
	MSISDN         string         `db:"msisdn"`
	CardLast4      string         `db:"card_last4"`
	CardSealed     []byte         `db:"card_sealed"`
	PINSerial      string         `db:"pin_serial"`
	PINSealed      []byte         `db:"pin_sealed"`
	PINExpiresAt   sql.NullString `db:"pin_expires_at"`
	Supplier       string         `db:"supplier"`
	SupplierRef    string         `db:"supplier_ref"`
	ErrorCode      string         `db:"error_code"`
	ErrorMessage   string         `db:"error_message"`
	Reply          []byte         `db:"reply"`
	Inquiries      int            `db:"inquiries"`
	NextInquiryAt  sql.NullString `db:"next_inquiry_at"`
	Origin         string         `db:"origin"`
	CreatedAt      string         `db:"created_at"`
	UpdatedAt      string         `db:"updated_at"`
}

// Sealed values are bound to their transaction and column, so none can be moved elsewhere.
func aad(txnID, what string) []byte { return []byte(txnID + "/" + what) }

func (s *Service) insert(ctx context.Context, t Transaction, idemKey, hash string, suppliers []string, cardNumber string) error {
	sup, _ := json.Marshal(suppliers)
	var cardSealed []byte
	if cardNumber != "" {
		cardSealed = s.keys.Seal([]byte(cardNumber), aad(t.ID, "card"))
	}
	msisdn := ""
	if t.Recipient != nil {
		msisdn = t.Recipient.MSISDN
	}
	last4 := ""
	if t.Card != nil {
		last4 = t.Card.Last4
	}
	return s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO transactions(id, terminal_id, merchant_id, node_id, idempotency_key,
			request_hash, type, product_id, suppliers, amount, currency, status, reference, msisdn, card_last4,
			card_sealed, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			t.ID, t.TerminalID, t.MerchantID, t.NodeID, idemKey, hash, t.Type, t.ProductID, string(sup), t.Amount,
			t.Currency, t.Status, t.Reference, msisdn, last4, cardSealed,
			sqlitedb.FormatTime(t.CreatedAt), sqlitedb.FormatTime(t.UpdatedAt))
		return err
	})
}

// finish records t's outcome; with firstAnswer it also keeps t, sealed, as the answer every
// replay of the request gets, in the same commit.
func (s *Service) finish(ctx context.Context, t Transaction, firstAnswer bool) error {
	var pinSerial string
	var pinSealed []byte
	var pinExpires any
	if t.PIN != nil {
		pinSerial = t.PIN.Serial
		pinSealed = s.keys.Seal([]byte(t.PIN.Code), aad(t.ID, "pin"))
		if t.PIN.ExpiresAt != nil {
			pinExpires = sqlitedb.FormatTime(*t.PIN.ExpiresAt)
		}
	}
	code, msg := "", ""
	if t.Error != nil {
		code, msg = t.Error.Code, t.Error.Message
	}
	return s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE transactions SET status=?, pin_serial=?, pin_sealed=?, pin_expires_at=?,
			supplier=?, supplier_ref=?, error_code=?, error_message=?, updated_at=? WHERE id=?`,
			t.Status, pinSerial, pinSealed, pinExpires, t.Supplier, t.SupplierRef, code, msg,
			sqlitedb.FormatTime(t.UpdatedAt), t.ID)
		if err == nil {
			err = s.report(ctx, tx, t.ID)
		}
		if err != nil || !firstAnswer {
			return err
		}
		reply := s.keys.Seal(s.replyJSON(t), aad(t.ID, "reply"))
		// A supplier that timed out may still be working: the first inquiry waits a little.
		_, err = tx.ExecContext(ctx, `UPDATE transactions SET reply=?, next_inquiry_at=? WHERE id=? AND reply IS NULL`,
			reply, sqlitedb.FormatTime(s.now().Add(s.cfg.InquiryBackoff)), t.ID)
		return err
	})
}

func (s *Service) byKey(ctx context.Context, terminalID, key string) (txnRow, bool, error) {
	var r txnRow
	err := s.db.R.GetContext(ctx, &r, `SELECT * FROM transactions WHERE terminal_id=? AND idempotency_key=?`, terminalID, key)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	return r, err == nil, err
}

func (s *Service) byID(ctx context.Context, q sqlx.QueryerContext, id string) (txnRow, error) {
	var r txnRow
	err := sqlx.GetContext(ctx, q, &r, `SELECT * FROM transactions WHERE id=?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	return r, err
}

func (s *Service) openReply(r txnRow) (Transaction, error) {
	b, err := s.keys.Open(r.Reply, aad(r.ID, "reply"))
	if err != nil {
		return Transaction{}, err
	}
	return decodeReply(b)
}

func parseTime(v string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, v)
	return t.UTC()
}

func (s *Service) transaction(r txnRow) (Transaction, error) {
	t := Transaction{
		ID: r.ID, Status: Status(r.Status), Type: catalog.Type(r.Type), ProductID: r.ProductID, Amount: r.Amount,
		Currency: r.Currency, TerminalID: r.TerminalID, MerchantID: r.MerchantID, NodeID: r.NodeID,
		Reference: r.Reference, Supplier: r.Supplier, SupplierRef: r.SupplierRef,
		CreatedAt: parseTime(r.CreatedAt), UpdatedAt: parseTime(r.UpdatedAt),
	}
	if r.MSISDN != "" {
		t.Recipient = &Recipient{MSISDN: r.MSISDN}
	}
	if r.CardLast4 != "" {
		t.Card = &CardView{Last4: r.CardLast4}
	}
	if r.PINSealed != nil {
		code, err := s.keys.Open(r.PINSealed, aad(r.ID, "pin"))
		if err != nil {
			return Transaction{}, err
		}
		t.PIN = &PINView{Serial: r.PINSerial, Code: string(code)}
		if r.PINExpiresAt.Valid {
			e := parseTime(r.PINExpiresAt.String)
			t.PIN.ExpiresAt = &e
		}
	}
	if r.ErrorCode != "" {
		t.Error = &Error{Code: r.ErrorCode, Message: r.ErrorMessage}
	}
	return t, nil
}

// driverRequest rebuilds what the driver was sent, for inquiry and void.
func (s *Service) driverRequest(r txnRow) (drivers.Request, drivers.Result, error) {
	req := drivers.Request{TransactionID: r.ID, Type: catalog.Type(r.Type), ProductID: r.ProductID, Amount: r.Amount,
		Currency: r.Currency, MSISDN: r.MSISDN, Reference: r.Reference, NodeID: r.NodeID, CreatedAt: parseTime(r.CreatedAt)}
	if r.CardSealed != nil {
		card, err := s.keys.Open(r.CardSealed, aad(r.ID, "card"))
		if err != nil {
			return req, drivers.Result{}, err
		}
		req.CardNumber = string(card)
	}
	return req, drivers.Result{SupplierRef: r.SupplierRef}, nil
}

func encodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("s" + strconv.FormatInt(seq, 10)))
}

func decodeCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), "s") {
		return 0, ErrBadCursor
	}
	n, err := strconv.ParseInt(string(b[1:]), 10, 64)
	if err != nil || n <= 0 {
		return 0, ErrBadCursor
	}
	return n, nil
}

func (s *Service) list(ctx context.Context, f Filter) ([]txnRow, string, error) {
	where := []string{"1=1"}
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if f.Cursor != "" {
		seq, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		add("seq < ?", seq)
	}
	if f.Status != "" {
		add("status = ?", f.Status)
	}
	if f.Type != "" {
		add("type = ?", f.Type)
	}
	if f.TerminalID != "" {
		add("terminal_id = ?", f.TerminalID)
	}
	if f.MerchantID != "" {
		add("merchant_id = ?", f.MerchantID)
	}
	if f.From != nil {
		add("created_at >= ?", sqlitedb.FormatTime(*f.From))
	}
	if f.To != nil {
		add("created_at < ?", sqlitedb.FormatTime(*f.To))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	args = append(args, limit+1)
	var rows []txnRow
	err := s.db.R.SelectContext(ctx, &rows, `SELECT * FROM transactions WHERE `+strings.Join(where, " AND ")+
		` ORDER BY seq DESC LIMIT ?`, args...)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		next = encodeCursor(rows[len(rows)-1].Seq)
	}
	return rows, next, nil
}

// Reseal re-encrypts every sealed value of the transactions (PINs, card numbers, first
// answers) under keys' current key, a few hundred rows per commit. It returns how many changed.
func Reseal(ctx context.Context, db *sqlitedb.DB, keys *secret.Keyring) (int, error) {
	total := 0
	for _, col := range []struct{ column, what string }{{"pin_sealed", "pin"}, {"card_sealed", "card"}, {"reply", "reply"}} {
		n, err := db.ResealColumn(ctx, "transactions", "seq", col.column, "id",
			func(id string) []byte { return aad(id, col.what) }, keys.Reseal)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

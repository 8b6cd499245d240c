package inventory

import (
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/oklog/ulid/v2"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/internal/sqlitedb"
)

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

// ImportError lists what was wrong with an import that was rolled back. Duplicate says every
// problem was a serial or PIN already known (in stock or earlier in the file).
type ImportError struct {
	Duplicate bool
	Lines     []catalog.FieldError // field "line N"
	More      bool                 // more problems than were listed
}

func (e *ImportError) Error() string {
	msg := fmt.Sprintf("import rejected, nothing imported: %d problem(s)", len(e.Lines))
	if e.More {
		msg = fmt.Sprintf("import rejected, nothing imported: more than %d problems", len(e.Lines))
	}
	if len(e.Lines) > 0 {
		msg += "; first: " + e.Lines[0].Field + ": " + e.Lines[0].Message
	}
	return msg
}

// MaxImportErrors is how many problems an import reports before it stops reading.
const MaxImportErrors = 100

// importChunk is how many rows one write transaction holds, so that sales keep going
// between the chunks of a large import.
const importChunk = 10000

var (
	serialPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	pinPattern    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 -]{2,62}[A-Za-z0-9]$`)
)

// Import adds rows to the stock of product at node, all or nothing. next returns io.EOF after
// the last row. Rows are written in chunks as 'importing', invisible to sales, and made
// available only when every row has passed, so memory holds one chunk, not the file.
func (s *Store) Import(ctx context.Context, productID, nodeID string, next func() (Row, error)) (Batch, error) {
	return s.importRows(ctx, productID, nodeID, "", next)
}

func (s *Store) importRows(ctx context.Context, productID, nodeID, orderID string, next func() (Row, error)) (Batch, error) {
	b := Batch{ID: "bat_" + ulid.Make().String(), ProductID: productID}
	now := s.now()
	stamp := sqlitedb.FormatTime(now)
	var order any
	if orderID != "" {
		order = orderID
	}
	if err := s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO pin_batches(id, product_id, node_id, count, status, order_id, owner, created_at)
			VALUES (?,?,?,0,'importing',?,?,?)`, b.ID, productID, nodeID, order, s.owner, stamp)
		return err
	}); err != nil {
		return Batch{}, err
	}
	ie := &ImportError{Duplicate: true}
	problem := func(line int, dup bool, format string, args ...any) {
		if len(ie.Lines) == MaxImportErrors {
			ie.More = true
			return
		}
		ie.Duplicate = ie.Duplicate && dup
		ie.Lines = append(ie.Lines, catalog.FieldError{Field: fmt.Sprintf("line %d", line), Message: fmt.Sprintf(format, args...)})
	}
	var chunk []Row
	var firstID, lastID int64
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		// A key rotation may have begun: seal with the newest key in the key file.
		if err := s.keys.Reload(); err != nil {
			return err
		}
		err := s.db.Tx(ctx, func(tx *sqlx.Tx) error {
			stmt, err := tx.PrepareContext(ctx, `INSERT INTO pins(product_id, serial, pin_sealed, pin_digest, expires_at, node_id, state, batch_id, updated_at)
				VALUES (?,?,?,?,?,?,'importing',?,?)`)
			if err != nil {
				return err
			}
			defer stmt.Close()
			for _, r := range chunk {
				var exp any
				if r.ExpiresAt != nil {
					exp = sqlitedb.FormatTime(*r.ExpiresAt)
				}
				sealed := s.keys.Seal([]byte(r.PIN), []byte(r.Serial))
				res, err := stmt.ExecContext(ctx, productID, r.Serial, sealed, s.digest(r.PIN), exp, nodeID, b.ID, stamp)
				if err != nil {
					if !sqlitedb.IsUniqueViolation(err) {
						return err
					}
					// SQLite undoes just the failed statement; keep going to report more lines.
					problem(r.Line, true, "the serial or the PIN is already in stock or earlier in the file")
					continue
				}
				id, _ := res.LastInsertId()
				if firstID == 0 {
					firstID = id
				}
				lastID = id
				b.Count++
			}
			_, err = tx.ExecContext(ctx, `UPDATE pin_batches SET first_id=?, last_id=? WHERE id=?`, nullID(firstID), nullID(lastID), b.ID)
			return err
		})
		chunk = chunk[:0]
		return err
	}
	var err error
	for !ie.More {
		var r Row
		r, err = next()
		if errors.Is(err, io.EOF) {
			err = nil
			break
		}
		if err != nil {
			var le *lineError
			if !errors.As(err, &le) {
				break
			}
			problem(le.line, false, "%s", le.msg)
			err = nil
			continue
		}
		if msg := checkRow(r, now); msg != "" {
			problem(r.Line, false, "%s", msg)
			continue
		}
		if chunk = append(chunk, r); len(chunk) == importChunk {
			if err = flush(); err != nil {
				break
			}
		}
	}
	if err == nil {
		err = flush()
	}
	if err == nil && len(ie.Lines) == 0 && b.Count == 0 {
		problem(1, false, "the file holds no PIN rows")
	}
	if err == nil && len(ie.Lines) > 0 {
		err = ie
	}
	if err != nil {
		if derr := s.discardBatch(context.WithoutCancel(ctx), b.ID); derr != nil {
			s.log.Error("discarding a failed import", "batch", b.ID, "err", derr)
		}
		return Batch{}, err
	}
	// Past this point the import has succeeded: finish it even if the caller has gone.
	return b, s.activateBatch(context.WithoutCancel(ctx), b.ID, b.Count)
}

func checkRow(r Row, now time.Time) string {
	switch {
	case !serialPattern.MatchString(r.Serial):
		return "serial: 1-64 letters, digits, '.', '_' or '-'"
	case !pinPattern.MatchString(r.PIN):
		return "pin: 4-64 letters, digits, spaces or dashes, starting and ending with a letter or digit"
	case r.ExpiresAt != nil && !r.ExpiresAt.After(now):
		return "expires_at: the date has passed"
	}
	return ""
}

// activateBatch makes a checked batch's PINs available. Once the batch is 'committing' the
// import has succeeded; a crash in the middle is finished at the next start.
func (s *Store) activateBatch(ctx context.Context, batchID string, count int) error {
	if err := s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE pin_batches SET status='committing', count=? WHERE id=?`, count, batchID)
		return err
	}); err != nil {
		return err
	}
	return s.overBatch(ctx, `UPDATE pins SET state='available' WHERE id BETWEEN ? AND ? AND batch_id=? AND state='importing'`,
		batchID, func(tx *sqlx.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE pin_batches SET status='active' WHERE id=?`, batchID); err != nil {
				return err
			}
			// A delivered order is booked in with its batch, in one commit.
			_, err := tx.ExecContext(ctx, `UPDATE replenishment_orders SET status='received', received=?, updated_at=?
				WHERE id=(SELECT order_id FROM pin_batches WHERE id=?)`, count, sqlitedb.FormatTime(s.now()), batchID)
			return err
		})
}

// discardBatch removes a failed import's rows.
func (s *Store) discardBatch(ctx context.Context, batchID string) error {
	return s.overBatch(ctx, `DELETE FROM pins WHERE id BETWEEN ? AND ? AND batch_id=? AND state='importing'`,
		batchID, func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE pin_batches SET status='failed', count=0 WHERE id=?`, batchID)
			return err
		})
}

// overBatch runs stmt(from, to, batchID) over the batch's id range a chunk per commit, so
// that sales go on in between, and runs finish in the commit of the last chunk.
func (s *Store) overBatch(ctx context.Context, stmt, batchID string, finish func(tx *sqlx.Tx) error) error {
	var r struct {
		First sql.NullInt64 `db:"first_id"`
		Last  sql.NullInt64 `db:"last_id"`
	}
	if err := s.db.R.GetContext(ctx, &r, `SELECT first_id, last_id FROM pin_batches WHERE id=?`, batchID); err != nil {
		return err
	}
	from, last := r.First.Int64, r.Last.Int64
	for {
		to := from + importChunk - 1
		done := !r.First.Valid || to >= last
		err := s.db.Tx(ctx, func(tx *sqlx.Tx) error {
			if r.First.Valid {
				if _, err := tx.ExecContext(ctx, stmt, from, to, batchID); err != nil {
					return err
				}
			}
			if done {
				return finish(tx)
			}
			return nil
		})
		if err != nil || done {
			return err
		}
		from = to + 1
	}
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// RecoverImports finishes what a stop interrupted: a checked batch is made available, an
// unchecked one is discarded. Batches whose writer is still running, in this process or
// another (a `gateway import` beside `serve`), are left alone.
func (s *Store) RecoverImports(ctx context.Context) error {
	var batches []struct {
		ID     string `db:"id"`
		Status string `db:"status"`
		Count  int    `db:"count"`
		Owner  string `db:"owner"`
	}
	if err := s.db.R.SelectContext(ctx, &batches, `SELECT id, status, count, owner FROM pin_batches WHERE status IN ('importing','committing')`); err != nil {
		return err
	}
	for _, b := range batches {
		if ownerAlive(b.Owner) {
			continue
		}
		var err error
		if b.Status == "committing" {
			err = s.activateBatch(ctx, b.ID, b.Count)
		} else {
			err = s.discardBatch(ctx, b.ID)
		}
		if err != nil {
			return err
		}
		s.log.Warn("finished an import interrupted by a stop", "batch", b.ID, "was", b.Status)
	}
	return nil
}

type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// CSVRows reads `serial,pin,expires_at` CSV (a header line first; expires_at may be empty,
// an RFC 3339 time or a date, meaning the end of that day in UTC) one row at a time.
func CSVRows(r io.Reader) (func() (Row, error), error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &ImportError{Lines: []catalog.FieldError{{Field: "line 1", Message: "the file is empty; the first line must be serial,pin,expires_at"}}}
	}
	if err != nil {
		return nil, &ImportError{Lines: []catalog.FieldError{{Field: "line 1", Message: err.Error()}}}
	}
	var got []string
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		got = append(got, h)
	}
	if strings.Join(got, ",") != "serial,pin,expires_at" {
		return nil, &ImportError{Lines: []catalog.FieldError{{Field: "line 1",
			Message: fmt.Sprintf("the first line must be the header serial,pin,expires_at; it has %d columns that are not that header", len(got))}}}
	}
	return func() (Row, error) {
		rec, err := cr.Read()
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return Row{}, &lineError{line: pe.Line, msg: pe.Err.Error()}
			}
			return Row{}, err
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != 3 {
			return Row{}, &lineError{line: line, msg: fmt.Sprintf("has %d columns; each row is serial,pin,expires_at", len(rec))}
		}
		row := Row{Line: line, Serial: strings.TrimSpace(rec[0]), PIN: strings.TrimSpace(rec[1])}
		if e := strings.TrimSpace(rec[2]); e != "" {
			t, err := parseExpiry(e)
			if err != nil {
				return Row{}, &lineError{line: line, msg: "expires_at: " + err.Error()}
			}
			row.ExpiresAt = &t
		}
		return row, nil
	}, nil
}

func parseExpiry(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	if d, err := time.Parse("2006-01-02", v); err == nil {
		return d.Add(24*time.Hour - time.Second), nil
	}
	return time.Time{}, errors.New("neither an RFC 3339 time nor a date such as 2027-12-31")
}

// ImportCSV imports a CSV stream (see CSVRows) into product's stock at node, all or nothing.
func (s *Store) ImportCSV(ctx context.Context, productID, nodeID string, r io.Reader) (Batch, error) {
	next, err := CSVRows(r)
	if err != nil {
		return Batch{}, err
	}
	return s.Import(ctx, productID, nodeID, next)
}

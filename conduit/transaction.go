package conduit

import (
	"time"

	"github.com/prepaidgw/gateway/catalog"
)

// Status is where a transaction stands.
type Status string

// Transaction statuses, as the contract names them.
const (
	StatusApproved Status = "approved"
	StatusPending  Status = "pending"
	StatusDeclined Status = "declined"
	StatusFailed   Status = "failed"
	StatusVoided   Status = "voided"
)

// Transaction is a recorded sale attempt, shaped as the API shows it.
type Transaction struct {
	ID          string       `json:"id"`
	Status      Status       `json:"status"`
	Type        catalog.Type `json:"type"`
	ProductID   string       `json:"product_id"`
	Amount      int64        `json:"amount"`
	Currency    string       `json:"currency"`
	TerminalID  string       `json:"terminal_id"`
	MerchantID  string       `json:"merchant_id"`
	NodeID      string       `json:"node_id"`
	Reference   string       `json:"reference,omitempty"`
	Recipient   *Recipient   `json:"recipient,omitempty"`
	Card        *CardView    `json:"card,omitempty"`
	PIN         *PINView     `json:"pin,omitempty"`
	Supplier    string       `json:"supplier,omitempty"`
	SupplierRef string       `json:"supplier_ref,omitempty"`
	Error       *Error       `json:"error,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
	UpdatedAt   time.Time    `json:"updated_at"`
}

// CardView is all that is ever shown of a card number.
type CardView struct {
	Last4 string `json:"last4"`
}

// PINView is the sold PIN.
type PINView struct {
	Serial    string     `json:"serial"`
	Code      string     `json:"code"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Error says why a transaction was declined or failed.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Masked returns t as anyone but the buying lane may see it: the PIN code hidden but for its
// last four characters.
func (t Transaction) Masked() Transaction {
	if t.PIN != nil {
		p := *t.PIN
		p.Code = MaskPIN(p.Code)
		t.PIN = &p
	}
	return t
}

// MaskPIN hides all but the last four letters or digits of code.
func MaskPIN(code string) string {
	var tail []rune
	rs := []rune(code)
	for i := len(rs) - 1; i >= 0 && len(tail) < 4; i-- {
		if r := rs[i]; r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' {
			tail = append([]rune{r}, tail...)
		}
	}
	return "****" + string(tail)
}

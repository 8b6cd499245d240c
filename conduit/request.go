package conduit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/go-playground/validator/v10"
	"github.com/nyaruka/phonenumbers"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/drivers"
)

// Request is a service request as a POS lane sends it.
type Request struct {
	ProductID string     `json:"product_id" validate:"required,max=64"`
	Amount    *int64     `json:"amount,omitempty" validate:"omitempty,gt=0,lte=100000000"`
	Currency  string     `json:"currency" validate:"required,iso4217"`
	Recipient *Recipient `json:"recipient,omitempty"`
	Card      *Card      `json:"card,omitempty"`
	Reference string     `json:"reference,omitempty" validate:"omitempty,max=128,printascii"`
}

// Recipient is whom a top-up recharges.
type Recipient struct {
	MSISDN string `json:"msisdn" validate:"required,max=32"`
}

// Card is the gift card to activate.
type Card struct {
	Number string `json:"number" validate:"required,max=32"`
}

// Hash identifies the request's content for idempotency: the same JSON content gives the same
// hash whatever its whitespace or key order. It is keyed, because the request holds a full
// card number that a plain hash next to the card's last four digits would give away.
func (r Request) Hash(key []byte) string {
	b, _ := json.Marshal(r)
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil))
}

// Typed is a normalised request of one product type: PINSale, TopUp or GiftCardActivation.
type Typed interface {
	Type() catalog.Type
	fill(req *drivers.Request)
}

// PINSale sells one PIN from stock.
type PINSale struct{ Amount int64 }

// TopUp recharges a phone number.
type TopUp struct {
	MSISDN string // E.164
	Amount int64
}

// GiftCardActivation loads a gift card.
type GiftCardActivation struct {
	CardNumber string // digits only
	Amount     int64
}

// Type implements Typed.
func (PINSale) Type() catalog.Type { return catalog.TypePIN }

// Type implements Typed.
func (TopUp) Type() catalog.Type { return catalog.TypeTopUp }

// Type implements Typed.
func (GiftCardActivation) Type() catalog.Type { return catalog.TypeGiftCard }

func (s PINSale) fill(r *drivers.Request) { r.Amount = s.Amount }
func (t TopUp) fill(r *drivers.Request)   { r.Amount, r.MSISDN = t.Amount, t.MSISDN }
func (g GiftCardActivation) fill(r *drivers.Request) {
	r.Amount, r.CardNumber = g.Amount, g.CardNumber
}

var validate = func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		return name
	})
	return v
}()

var tagMessages = map[string]string{
	"required":   "is required",
	"iso4217":    "must be an ISO 4217 currency code such as USD",
	"gt":         "must be greater than %s",
	"lte":        "must be at most %s",
	"max":        "must be at most %s characters",
	"printascii": "must be printable ASCII",
}

// fieldErrors turns validator errors into contract field errors ("recipient.msisdn").
func fieldErrors(err error, ve *catalog.ValidationError) {
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		ve.Add("", "%v", err)
		return
	}
	for _, fe := range verrs {
		ns := fe.Namespace()
		if _, rest, ok := strings.Cut(ns, "."); ok {
			ns = rest
		}
		msg, ok := tagMessages[fe.Tag()]
		if !ok {
			msg = "is not valid (" + fe.Tag() + ")"
		}
		if strings.Contains(msg, "%s") {
			msg = fmt.Sprintf(msg, fe.Param())
		}
		ve.Add(ns, "%s", msg)
	}
}

// Normalize validates req against product p and returns the typed transaction it asks for.
// Every problem found is reported at once, each naming its field.
func Normalize(req Request, p catalog.Product) (Typed, error) {
	var ve catalog.ValidationError
	if err := validate.Struct(req); err != nil {
		fieldErrors(err, &ve)
	}
	if req.Currency != "" && req.Currency != p.Currency {
		ve.Add("currency", "product %s is sold in %s", p.ID, p.Currency)
	}
	var amount int64
	switch {
	case req.Amount == nil && p.IsRange():
		ve.Add("amount", "is required for product %s (%d to %d)", p.ID, *p.MinAmount, *p.MaxAmount)
	case req.Amount == nil:
		amount = *p.Amount
	case p.IsRange():
		amount = *req.Amount
		if amount > 0 && (amount < *p.MinAmount || amount > *p.MaxAmount) {
			ve.Add("amount", "must be between %d and %d", *p.MinAmount, *p.MaxAmount)
		}
	default:
		amount = *req.Amount
		if amount > 0 && amount != *p.Amount {
			ve.Add("amount", "product %s has the fixed amount %d", p.ID, *p.Amount)
		}
	}
	unused := func(field string, present bool) {
		if present {
			ve.Add(field, "is not used by %s products", p.Type)
		}
	}
	var t Typed
	switch p.Type {
	case catalog.TypePIN:
		unused("recipient", req.Recipient != nil)
		unused("card", req.Card != nil)
		t = PINSale{Amount: amount}
	case catalog.TypeTopUp:
		unused("card", req.Card != nil)
		var msisdn string
		if req.Recipient == nil {
			ve.Add("recipient.msisdn", "is required for topup products")
		} else if req.Recipient.MSISDN != "" {
			var err error
			if msisdn, err = NormalizeMSISDN(req.Recipient.MSISDN); err != nil {
				ve.Add("recipient.msisdn", "%v", err)
			}
		}
		t = TopUp{MSISDN: msisdn, Amount: amount}
	case catalog.TypeGiftCard:
		unused("recipient", req.Recipient != nil)
		var number string
		if req.Card == nil {
			ve.Add("card.number", "is required for giftcard products")
		} else if req.Card.Number != "" {
			var err error
			if number, err = NormalizeCardNumber(req.Card.Number); err != nil {
				ve.Add("card.number", "%v", err)
			}
		}
		t = GiftCardActivation{CardNumber: number, Amount: amount}
	default:
		ve.Add("product_id", "product %s has an unknown type", p.ID)
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

// NormalizeMSISDN returns a phone number in E.164, accepting the usual spaces, dashes and
// brackets, but insisting on the country code.
func NormalizeMSISDN(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	if !strings.HasPrefix(s, "+") {
		return "", errors.New("must be an international number starting with + and the country code, e.g. +15551234567")
	}
	num, err := phonenumbers.Parse(s, "ZZ")
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return "", errors.New("is not a possible phone number (E.164, e.g. +15551234567)")
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// NormalizeCardNumber strips spaces and dashes and checks that 12 to 19 digits remain.
func NormalizeCardNumber(s string) (string, error) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-':
		default:
			return "", errors.New("must contain only digits, spaces and dashes")
		}
	}
	if n := b.Len(); n < 12 || n > 19 {
		return "", errors.New("must have 12 to 19 digits")
	}
	return b.String(), nil
}

package conduit

import (
	"errors"
	"testing"

	"github.com/prepaidgw/gateway/catalog"
)

func i64(v int64) *int64 { return &v }

func TestNormalize(t *testing.T) {
	topup := catalog.Product{ID: "t", Type: catalog.TypeTopUp, Currency: "USD", MinAmount: i64(500), MaxAmount: i64(10000)}
	pin := catalog.Product{ID: "p", Type: catalog.TypePIN, Currency: "USD", Amount: i64(1000)}
	gift := catalog.Product{ID: "g", Type: catalog.TypeGiftCard, Currency: "EUR", MinAmount: i64(1000), MaxAmount: i64(5000)}

	got, err := Normalize(Request{ProductID: "t", Amount: i64(1500), Currency: "USD", Recipient: &Recipient{MSISDN: "0044 20 7946 0958"}}, topup)
	if err != nil || got != (TopUp{MSISDN: "+442079460958", Amount: 1500}) {
		t.Fatalf("topup: %#v %v", got, err)
	}
	got, err = Normalize(Request{ProductID: "p", Currency: "USD"}, pin)
	if err != nil || got != (PINSale{Amount: 1000}) {
		t.Fatalf("pin: %#v %v", got, err)
	}
	got, err = Normalize(Request{ProductID: "g", Amount: i64(2000), Currency: "EUR", Card: &Card{Number: "6006-4912-3456-7890"}}, gift)
	if err != nil || got != (GiftCardActivation{CardNumber: "6006491234567890", Amount: 2000}) {
		t.Fatalf("gift: %#v %v", got, err)
	}
	for _, c := range []struct {
		req   Request
		p     catalog.Product
		field string
	}{
		{Request{ProductID: "t", Currency: "USD", Recipient: &Recipient{MSISDN: "+15551234567"}}, topup, "amount"},
		{Request{ProductID: "t", Amount: i64(1500), Currency: "USD", Recipient: &Recipient{MSISDN: "+1555"}}, topup, "recipient.msisdn"},
		{Request{ProductID: "t", Amount: i64(0), Currency: "USD", Recipient: &Recipient{MSISDN: "+15551234567"}}, topup, "amount"},
		{Request{ProductID: "p", Currency: "USD", Card: &Card{Number: "6006491234567890"}}, pin, "card"},
		{Request{ProductID: "g", Amount: i64(2000), Currency: "EUR", Card: &Card{Number: "123"}}, gift, "card.number"},
		{Request{ProductID: "g", Amount: i64(2000), Currency: "EUR", Recipient: &Recipient{MSISDN: "+15551234567"}, Card: &Card{Number: "6006491234567890"}}, gift, "recipient"},
		{Request{ProductID: "p", Currency: "USD", Reference: "tab\there"}, pin, "reference"},
	} {
		_, err := Normalize(c.req, c.p)
		var ve *catalog.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("%+v accepted", c.req)
		}
		found := false
		for _, f := range ve.Fields {
			found = found || f.Field == c.field
		}
		if !found {
			t.Errorf("%+v: errors %v do not name %s", c.req, ve.Fields, c.field)
		}
	}
}

func TestMaskPIN(t *testing.T) {
	for in, want := range map[string]string{"1234-5678-9012": "****9012", "AB12": "****AB12", "12": "****12"} {
		if got := MaskPIN(in); got != want {
			t.Errorf("MaskPIN(%q) = %q, want %q", in, got, want)
		}
	}
}

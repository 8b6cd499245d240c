package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/prepaidgw/gateway/catalog"
)

// productView is a product as the API shows it, with the stock at this node for PINs.
type productView struct {
	catalog.Product
	Stock *stockView `json:"stock,omitempty"`
}

type stockView struct {
	Available int `json:"available"`
}

func (s *Server) productView(r *http.Request, p catalog.Product) (productView, error) {
	v := productView{Product: p}
	if p.Type == catalog.TypePIN {
		n, err := s.Inventory.Available(r.Context(), p.ID, s.NodeID)
		if err != nil {
			return v, err
		}
		v.Stock = &stockView{Available: n}
	}
	return v, nil
}

func (s *Server) listProducts(w http.ResponseWriter, r *http.Request) {
	t := catalog.Type(r.URL.Query().Get("type"))
	if t != "" && !t.Valid() {
		var ve catalog.ValidationError
		ve.Add("type", "must be one of pin, topup, giftcard")
		s.failErr(w, r, &ve)
		return
	}
	ps, err := s.Catalog.List(r.Context(), t)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	items := make([]productView, 0, len(ps))
	for _, p := range ps {
		v, err := s.productView(r, p)
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		items = append(items, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (s *Server) getProduct(w http.ResponseWriter, r *http.Request) {
	p, err := s.Catalog.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	v, err := s.productView(r, p)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// productInput is the body of PUT /v1/products/{id}; the id comes from the path.
type productInput struct {
	Type      catalog.Type `json:"type"`
	Name      string       `json:"name"`
	Currency  string       `json:"currency"`
	Amount    *int64       `json:"amount"`
	MinAmount *int64       `json:"min_amount"`
	MaxAmount *int64       `json:"max_amount"`
	Suppliers []string     `json:"suppliers"`
	Active    *bool        `json:"active"`
}

func (s *Server) putProduct(w http.ResponseWriter, r *http.Request) {
	var in productInput
	if !s.decodeJSON(w, r, &in) {
		return
	}
	p := catalog.Product{ID: chi.URLParam(r, "id"), Type: in.Type, Name: in.Name, Currency: in.Currency,
		Amount: in.Amount, MinAmount: in.MinAmount, MaxAmount: in.MaxAmount, Suppliers: in.Suppliers, Active: true}
	if in.Active != nil {
		p.Active = *in.Active
	}
	if err := p.Validate(s.Router.Types); err != nil {
		s.failErr(w, r, err)
		return
	}
	created, err := s.Catalog.Put(r.Context(), p)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	v, err := s.productView(r, p)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, v)
}

func (s *Server) listSuppliers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"items": s.Router.Stats()})
}

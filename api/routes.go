package api

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/prepaidgw/gateway/auth"
)

const (
	admin    = auth.RoleAdmin
	support  = auth.RoleSupport
	terminal = auth.RoleTerminal
	node     = auth.RoleNode
)

// routes is every endpoint and the roles that may call it; openapi.yaml documents exactly
// these (a test checks).
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.RequestID, s.recoverer, s.observe, middleware.GetHead)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { s.fail(w, r, codeNotFound, "no such endpoint") })
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		var allowed []string
		for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
			if r.Match(chi.NewRouteContext(), m, req.URL.Path) {
				allowed = append(allowed, m)
				if m == "GET" { // answered by GetHead
					allowed = append(allowed, "HEAD")
				}
			}
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		s.fail(w, req, codeMethodNotAllowed, req.Method+" is not allowed here; use "+strings.Join(allowed, " or "))
	})

	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Get("/metrics", s.metricsHandler)
	r.Get("/openapi.yaml", s.openapi)
	r.Get("/docs", s.docsIndex)
	r.Get("/docs/{asset}", s.docsAsset)

	r.Route("/v1", func(r chi.Router) {
		r.Use(s.authenticate, s.rateLimit)
		r.With(s.allow(admin, support, terminal, node)).Get("/products", s.listProducts)
		r.With(s.allow(admin, support, terminal, node)).Get("/products/{id}", s.getProduct)
		r.With(s.allow(admin), s.hubOnly).Put("/products/{id}", s.putProduct)

		r.With(s.allow(admin), s.hubOnly).Put("/terminals/{id}", s.putTerminal)
		r.With(s.allow(admin), s.hubOnly).Delete("/terminals/{id}", s.deleteTerminal)

		r.With(s.allow(terminal)).Post("/transactions", s.createTransaction)
		r.With(s.allow(admin, support, terminal)).Get("/transactions", s.listTransactions)
		r.With(s.allow(admin, support, terminal)).Get("/transactions/{id}", s.getTransaction)
		r.With(s.allow(admin, terminal)).Post("/transactions/{id}/void", s.voidTransaction)

		r.With(s.allow(admin, support)).Get("/suppliers", s.listSuppliers)

		r.With(s.allow(admin), s.hubOnly).Post("/inventory/batches", s.importBatch)
		r.With(s.allow(admin, support)).Get("/inventory", s.getInventory)
		r.With(s.allow(admin), s.hubOnly).Put("/inventory/levels", s.putLevels)
		r.With(s.allow(admin, support)).Get("/inventory/orders", s.listOrders)

		r.With(s.allow(admin), s.hubOnly).Put("/nodes/{id}", s.putNode)
		r.With(s.allow(admin, support), s.hubOnly).Get("/nodes", s.listNodes)
		r.With(s.allow(node), s.hubOnly).Post("/sync", s.sync)
	})
	return r
}

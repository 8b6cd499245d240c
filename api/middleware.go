package api

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"

	"github.com/prepaidgw/gateway/auth"
)

type principalKey struct{}

// seenKey holds a slot where authenticate leaves the principal for the request log.
type seenKey struct{}

func principal(r *http.Request) auth.Principal {
	p, _ := r.Context().Value(principalKey{}).(auth.Principal)
	return p
}

// authenticate turns the bearer key into a principal, or answers 401.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(key) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gateway"`)
			s.fail(w, r, codeUnauthorized, "send Authorization: Bearer <api key>")
			return
		}
		p, err := s.Auth.Authenticate(r.Context(), strings.TrimSpace(key))
		if err == auth.ErrUnauthenticated {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gateway", error="invalid_token"`)
			s.fail(w, r, codeUnauthorized, "the API key is unknown or revoked")
			return
		}
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		if seen, ok := r.Context().Value(seenKey{}).(*auth.Principal); ok {
			*seen = p
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// allow answers 403 to any role not listed.
func (s *Server) allow(roles ...auth.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := principal(r)
			for _, role := range roles {
				if p.Role == role {
					next.ServeHTTP(w, r)
					return
				}
			}
			s.fail(w, r, codeForbidden, fmt.Sprintf("a %s key may not call %s %s", p.Role, r.Method, r.URL.Path))
		})
	}
}

// rateLimit bounds each key's request rate, so one runaway lane cannot starve the others.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	return httprate.LimitBy(s.RateLimit, time.Second,
		func(r *http.Request) (string, error) {
			p := principal(r)
			return string(p.Role) + "/" + p.TerminalID + "/" + p.NodeID, nil
		},
		httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
			s.fail(w, r, codeRateLimited, fmt.Sprintf("at most %d requests per second per key", s.RateLimit))
		}),
	)(next)
}

// recoverer turns a panic into a 500 problem and a log line with the stack.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				s.fail(w, r, codeInternal, "the gateway hit an internal error; it has been logged")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// observe logs each request (never its body) and counts it for /metrics.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		var p auth.Principal
		r = r.WithContext(context.WithValue(r.Context(), seenKey{}, &p))
		next.ServeHTTP(ww, r)
		route := chi.RouteContext(r.Context()).RoutePattern()
		if route == "" {
			route = "unmatched"
		}
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		d := time.Since(start)
		s.metrics.observeRequest(r.Method, route, status, d)
		s.Log.Info("request", "method", r.Method, "route", route, "status", status,
			"ms", float64(d.Microseconds())/1000, "role", string(p.Role), "terminal", p.TerminalID,
			"request_id", middleware.GetReqID(r.Context()))
	})
}

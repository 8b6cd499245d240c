package api

import (
	"context"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	swaggerfiles "github.com/swaggo/files/v2"
)

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	rd := readiness{Status: "ready", Checks: map[string]string{"database": "ok"}}
	status := http.StatusOK
	if err := s.DB.Ping(ctx); err != nil {
		rd.Status, rd.Checks["database"] = "not ready", "unreachable or not migrated"
		status = http.StatusServiceUnavailable
	}
	// A server node sells from its own stock without its hub: say so, but stay ready.
	if s.HubStatus != nil {
		switch hs := s.HubStatus(); {
		case hs.Reachable:
			rd.Checks["hub"] = "reachable, last sync " + time.Since(hs.LastSync).Round(time.Millisecond).String() + " ago"
		case hs.Unreachable.IsZero():
			rd.Checks["hub"] = "not synced yet"
		default:
			rd.Checks["hub"] = "unreachable since " + hs.Unreachable.UTC().Format(time.RFC3339) + "; selling from own stock"
		}
	}
	writeJSON(w, status, rd)
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(s.OpenAPI)
}

// The explorer is Swagger UI from an embedded Go module: nothing is loaded from the internet.
const docsInitializer = `window.onload = function() {
  window.ui = SwaggerUIBundle({
    url: "/openapi.yaml",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout"
  });
};
`

func (s *Server) docsIndex(w http.ResponseWriter, r *http.Request) {
	page, err := fs.ReadFile(swaggerfiles.FS, "index.html")
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	// The page links its assets relatively; served at /docs they must resolve under /docs/.
	html := strings.Replace(string(page), "<head>", `<head><base href="/docs/">`, 1)
	html = strings.Replace(html, "<title>Swagger UI</title>", "<title>Prepaid gateway API explorer</title>", 1)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(html))
}

func (s *Server) docsAsset(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "asset")
	switch {
	case name == "swagger-initializer.js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write([]byte(docsInitializer))
		return
	case name == "index.html":
		s.docsIndex(w, r)
		return
	case strings.HasSuffix(name, ".map") || name != path.Base(name):
		s.fail(w, r, codeNotFound, "no such asset")
		return
	}
	if _, err := fs.Stat(swaggerfiles.FS, name); err != nil {
		s.fail(w, r, codeNotFound, "no such asset")
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=86400")
	http.ServeFileFS(w, r, swaggerfiles.FS, name)
}

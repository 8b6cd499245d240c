// Package gateway wires the prepaid-products gateway together: it opens the embedded
// database, loads keys, builds the supply router from configuration, and serves the API. A
// partner's own main can call Main after importing its driver packages, to build a gateway
// binary with its drivers without editing this code.
package gateway

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prepaidgw/gateway/api"
	"github.com/prepaidgw/gateway/auth"
	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/conduit"
	"github.com/prepaidgw/gateway/drivers"
	// The built-in drivers are always there; partners add theirs by importing them beside this.
	_ "github.com/prepaidgw/gateway/drivers/dtone"
	_ "github.com/prepaidgw/gateway/drivers/pinstock"
	_ "github.com/prepaidgw/gateway/drivers/reloadly"
	_ "github.com/prepaidgw/gateway/drivers/sim"
	_ "github.com/prepaidgw/gateway/drivers/simpin"
	"github.com/prepaidgw/gateway/internal/sqlitedb"
	"github.com/prepaidgw/gateway/inventory"
	"github.com/prepaidgw/gateway/network"
	"github.com/prepaidgw/gateway/secret"
	"github.com/prepaidgw/gateway/supply"
)

// OpenAPI is the REST contract served at /openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Config is the gateway's configuration file (JSON).
type Config struct {
	NodeID     string                  `json:"node_id,omitempty"`
	Suppliers  []supply.SupplierConfig `json:"suppliers"`
	VoidWindow drivers.Duration        `json:"void_window,omitempty"`
	RateLimit  int                     `json:"rate_limit,omitempty"` // requests per second per key
	// PendingCeiling is how long a transaction may stay pending before it fails; default 24h.
	PendingCeiling drivers.Duration `json:"pending_ceiling,omitempty"`
	// InquiryBackoff is the first wait between status inquiries; it doubles up to 5m. Default 2s.
	InquiryBackoff drivers.Duration `json:"inquiry_backoff,omitempty"`
	// DuplicateWait is how long a duplicate request waits for the first before it is told
	// 409 idempotency_in_progress; default 15s.
	DuplicateWait drivers.Duration `json:"duplicate_wait,omitempty"`
}

// Options are what `gateway serve` is started with.
type Options struct {
	DataDir string
	Demo    bool
	Config  Config
	Env     func(string) string // GATEWAY_ADMIN_KEY, GATEWAY_SUPPORT_KEY, GATEWAY_PIN_KEY
	Log     *slog.Logger
	Out     io.Writer // where first-start keys are printed, once
	// ResolveEvery is how often pending transactions are inquired; default 5s.
	ResolveEvery time.Duration
	// ReplenishEvery is how often stock levels are checked besides after each sale; default 5s.
	ReplenishEvery time.Duration
	// Mode is "" for `serve` (hub and one server in one process), ModeHub or ModeServer.
	Mode string
	// HubURL and NodeKey connect a server node (Config.NodeID) to its hub.
	HubURL  string
	NodeKey string
	// SyncEvery is a server node's sync interval; default 2s.
	SyncEvery time.Duration
	// Fault, for tests, is called at each step of a handoff on a server node.
	Fault func(step string)
}

// Gateway is one running gateway node with everything it owns.
type Gateway struct {
	DB        *sqlitedb.DB
	Auth      *auth.Store
	Catalog   *catalog.Store
	Inventory *inventory.Store
	Router    *supply.Router
	Conduit   *conduit.Service
	API       *api.Server
	// Replenisher keeps PIN stock at its levels (not on a server node: its hub does).
	Replenisher *inventory.Replenisher
	// Sync is a server node's link to its hub.
	Sync     *network.Server
	NodeID   string
	AdminKey string

	handler http.Handler
	log     *slog.Logger
	closers []func()
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// DefaultNodeID names the one local node of `gateway serve`.
const DefaultNodeID = "local"

// The modes of a gateway process.
const (
	ModeHub    = "hub"
	ModeServer = "server"
)

// Open builds a gateway on the database in opts.DataDir and starts its background work.
func Open(ctx context.Context, opts Options) (*Gateway, error) {
	if opts.Env == nil {
		opts.Env = os.Getenv
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	cfg := opts.Config
	switch opts.Mode {
	case ModeHub:
		cfg.NodeID = inventory.HubNode
	case ModeServer:
		if cfg.NodeID == "" || opts.HubURL == "" || opts.NodeKey == "" {
			return nil, errors.New("a server node needs --hub, --node-id and --node-key")
		}
		if opts.Demo {
			return nil, errors.New("a server node takes its catalog from its hub: run the demo at the hub")
		}
	case "":
		if cfg.NodeID == "" {
			cfg.NodeID = DefaultNodeID
		}
	default:
		return nil, fmt.Errorf("unknown mode %q", opts.Mode)
	}
	var closers []func()
	opened := false
	defer func() {
		if !opened {
			for _, c := range closers {
				c()
			}
		}
	}()
	if opts.Demo {
		upstreams, closeUpstreams, err := startDemoUpstreams()
		if err != nil {
			return nil, err
		}
		closers = append(closers, closeUpstreams)
		cfg.Suppliers = append(demoSuppliers(upstreams), cfg.Suppliers...)
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, err
	}
	adminKey, err := staticKey(opts, "GATEWAY_ADMIN_KEY", "admin.key", "gwa_", "admin")
	if err != nil {
		return nil, err
	}
	supportKey, err := staticKey(opts, "GATEWAY_SUPPORT_KEY", "support.key", "gws_", "support")
	if err != nil {
		return nil, err
	}

	db, err := sqlitedb.Open(filepath.Join(opts.DataDir, "gateway.db"))
	if err != nil {
		return nil, err
	}
	keys, err := loadPINKeys(ctx, db, opts)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	g := &Gateway{DB: db, NodeID: cfg.NodeID, AdminKey: adminKey, log: opts.Log, closers: closers}
	if err := g.build(ctx, opts, cfg, keys, supportKey); err != nil {
		_ = db.Close()
		return nil, err
	}
	opened = true
	return g, nil
}

// PINKeyFile is where the PIN keys are kept under the data directory.
func PINKeyFile(dataDir string) string { return filepath.Join(dataDir, "pin.key") }

// loadPINKeys reads the PIN key from GATEWAY_PIN_KEY or the key file, making a new key file
// only for a database that holds no sealed stock yet: a lost key must stop the start, not be
// quietly replaced.
func loadPINKeys(ctx context.Context, db *sqlitedb.DB, opts Options) (*secret.Keyring, error) {
	if err := db.Migrate(ctx, "inventory", inventory.Migrations()); err != nil {
		return nil, err
	}
	file := PINKeyFile(opts.DataDir)
	keys, created, err := secret.LoadKeyring(opts.Env("GATEWAY_PIN_KEY"), file, !inventory.HasSealedStock(ctx, db))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no PIN key: this database holds sealed PIN stock but %s is missing and GATEWAY_PIN_KEY is not set; restore the key", file)
	}
	if err != nil {
		return nil, fmt.Errorf("PIN key: %w", err)
	}
	if created {
		opts.Log.Warn("generated a new PIN encryption key; back it up, stock cannot be read without it", "file", file)
	}
	return keys, nil
}

func (g *Gateway) build(ctx context.Context, opts Options, cfg Config, keys *secret.Keyring, supportKey string) error {
	var err error
	if g.Auth, err = auth.NewStore(ctx, g.DB, map[string]auth.Role{g.AdminKey: auth.RoleAdmin, supportKey: auth.RoleSupport}); err != nil {
		return err
	}
	if g.Catalog, err = catalog.NewStore(ctx, g.DB); err != nil {
		return err
	}
	if g.Inventory, err = inventory.NewStore(ctx, g.DB, keys, opts.Log); err != nil {
		return err
	}
	if err := g.Inventory.RecoverImports(ctx); err != nil {
		return err
	}
	if opts.Mode == ModeServer {
		g.Inventory.EnableOutbox()
	}
	if g.Router, err = supply.New(cfg.Suppliers, drivers.Env{Stock: g.Inventory, Logger: opts.Log}); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	g.Conduit, err = conduit.New(ctx, g.DB, keys, g.Catalog, g.Router,
		conduit.Config{VoidWindow: time.Duration(cfg.VoidWindow), PendingCeiling: time.Duration(cfg.PendingCeiling),
			InquiryBackoff: time.Duration(cfg.InquiryBackoff), DuplicateWait: time.Duration(cfg.DuplicateWait),
			RequestHashKey: g.Inventory.DeriveKey("request-hash")}, opts.Log)
	if err != nil {
		return err
	}
	if opts.Mode == ModeServer {
		g.Conduit.EnableOutbox()
	}
	if opts.Demo {
		if err := seedDemo(ctx, g); err != nil {
			return fmt.Errorf("demo catalog: %w", err)
		}
	}
	if opts.Mode != ModeServer {
		g.warnUnservedProducts(ctx)
	}
	if n, err := g.Conduit.Recover(ctx); err != nil {
		return err
	} else if n > 0 {
		opts.Log.Warn("found transactions left unanswered by a stop; they are pending until resolved", "count", n)
	}
	g.API = &api.Server{Auth: g.Auth, Catalog: g.Catalog, Conduit: g.Conduit, Router: g.Router, Inventory: g.Inventory,
		DB: g.DB, NodeID: cfg.NodeID, OpenAPI: OpenAPI, Log: opts.Log, RateLimit: cfg.RateLimit}
	if opts.Mode == ModeServer {
		g.Sync = &network.Server{HubURL: strings.TrimSuffix(opts.HubURL, "/"), NodeID: cfg.NodeID, NodeKey: opts.NodeKey,
			Auth: g.Auth, Catalog: g.Catalog, Inventory: g.Inventory, Conduit: g.Conduit, ApplySuppliers: g.Router.Replace,
			Every: opts.SyncEvery, Log: opts.Log, Fault: opts.Fault}
		g.API.HubURL, g.API.HubStatus = g.Sync.HubURL, g.Sync.Status
	} else {
		g.API.Hub = &network.Hub{Auth: g.Auth, Catalog: g.Catalog, Inventory: g.Inventory, Conduit: g.Conduit,
			Suppliers: cfg.Suppliers, Log: opts.Log}
		g.API.SalesElsewhere = opts.Mode == ModeHub
	}
	g.handler = g.API.Handler()

	every := opts.ResolveEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	bg, stop := context.WithCancel(context.Background())
	g.stop = stop
	g.goBackground(func() { g.resolveLoop(bg, every) })
	if g.Sync != nil {
		// Replenishment runs at the hub, on the whole network's stock.
		g.goBackground(func() { g.Sync.Run(bg) })
	} else {
		g.Replenisher = &inventory.Replenisher{Store: g.Inventory, Find: g.findOrderer, Every: opts.ReplenishEvery, Log: opts.Log}
		if opts.Mode == ModeHub {
			g.Replenisher.Available, g.Replenisher.Node = g.Inventory.NetworkAvailable, inventory.HubNode
		}
		g.goBackground(func() { g.Replenisher.Run(bg) })
	}
	g.goBackground(func() { watchKeyFile(bg, keys, PINKeyFile(opts.DataDir), time.Second) })
	return nil
}

func (g *Gateway) goBackground(f func()) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f()
	}()
}

// warnUnservedProducts says at start which active products name a supplier that is not
// configured (the demo's, after a start without --demo): their sales would fail.
func (g *Gateway) warnUnservedProducts(ctx context.Context) {
	products, err := g.Catalog.List(ctx, "")
	if err != nil {
		return
	}
	for _, p := range products {
		for _, name := range p.Suppliers {
			if _, ok := g.Router.Types(name); !ok && p.Active {
				g.log.Warn("a product names a supplier that is not configured; its sales fail until it is (demo products need --demo)",
					"product", p.ID, "supplier", name)
			}
		}
	}
}

// findOrderer returns the first supplier of product whose driver takes PIN orders.
func (g *Gateway) findOrderer(ctx context.Context, productID string) (string, drivers.Orderer, bool) {
	p, err := g.Catalog.Get(ctx, productID)
	if err != nil {
		return "", nil, false
	}
	for _, name := range p.Suppliers {
		if d, ok := g.Router.Driver(name); ok {
			if o, ok := d.(drivers.Orderer); ok {
				return name, o, true
			}
		}
	}
	return "", nil, false
}

// watchKeyFile rereads the key file when it changes, so that a rotation's new key seals new
// stock within a second.
func watchKeyFile(ctx context.Context, keys *secret.Keyring, file string, every time.Duration) {
	var last time.Time
	if st, err := os.Stat(file); err == nil {
		last = st.ModTime()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := os.Stat(file)
		if err != nil || st.ModTime().Equal(last) {
			continue
		}
		last = st.ModTime()
		_ = keys.Reload()
	}
}

func (g *Gateway) resolveLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := g.Conduit.ResolvePending(ctx); err != nil && !errors.Is(err, context.Canceled) {
				g.log.Error("resolving pending transactions", "err", err)
			}
		}
	}
}

// Handler is the gateway's HTTP API.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Close stops background work and closes the database.
func (g *Gateway) Close() error {
	if g.stop != nil {
		g.stop()
	}
	g.wg.Wait()
	for _, c := range g.closers {
		c()
	}
	if g.Inventory != nil {
		g.Inventory.Close()
	}
	return g.DB.Close()
}

// staticKey returns the key in the environment variable, else the one in the data file,
// creating it (0600) and printing it once on first start.
func staticKey(opts Options, envVar, file, prefix, role string) (string, error) {
	if v := opts.Env(envVar); v != "" {
		return v, nil
	}
	path := filepath.Join(opts.DataDir, file)
	raw, err := os.ReadFile(path)
	if err == nil {
		return string(trimSpace(raw)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	key := auth.NewKey(prefix)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", err
	}
	fmt.Fprintf(opts.Out, "Generated the %s API key (shown once, kept in %s):\n  %s\n", role, path, key)
	return key, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// LoadConfig reads a JSON configuration file, rejecting unknown fields.
func LoadConfig(path string) (Config, error) {
	var c Config
	f, err := os.Open(path)
	if err != nil {
		return c, err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

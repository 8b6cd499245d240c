package gateway

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const usage = `gateway: a prepaid-products gateway

usage:
  gateway serve [--demo] [--data DIR] [--listen ADDR] [--config FILE]
  gateway hub [--demo] [--data DIR] [--listen ADDR] [--config FILE]
  gateway server --hub URL --node-id ID --node-key KEY [--data DIR] [--listen ADDR] [--sync-every 2s]
  gateway import --product ID [--data DIR] [--node ID] FILE
  gateway keys rotate-pin-key [--data DIR] [--grace 3s]
  gateway simulate --api reloadly|dtone [--listen ADDR] [--latency D] [--error-rate R]
                   [--decline-rate R] [--hang-rate R] [--reset-rate R]

commands:
  serve    run the gateway (a hub and one server node) on embedded SQLite
  hub      run a hub: the configuration, the unallocated stock, allocation and replenishment
  server   run a server node under a hub: it sells from its own stock and syncs with the hub
  import   import a serial,pin,expires_at CSV file into a PIN product's stock, all or nothing
  keys     rotate-pin-key: seal all PIN stock under a new key, while the gateway keeps selling
  simulate serve a simulated supplier API (Reloadly- or DT One-style) for demos and tests
`

// Main runs the gateway command line: args without the program name, env for variables,
// stdout and stderr for output. It returns when the command ends (serve: on SIGINT/SIGTERM or
// when ctx is cancelled).
func Main(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	err := run(ctx, args, env, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // the flags' help was printed
	}
	return err
}

func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve", ModeHub, ModeServer:
		mode := args[0]
		if mode == "serve" {
			mode = ""
		}
		return serve(ctx, mode, args[1:], env, stdout, stderr)
	case "import":
		return importCmd(ctx, args[1:], env, stdout, stderr)
	case "simulate":
		return simulate(ctx, args[1:], stdout, stderr)
	case "keys":
		if len(args) < 2 || args[1] != "rotate-pin-key" {
			fmt.Fprint(stderr, usage)
			return errors.New("keys: the only subcommand is rotate-pin-key")
		}
		return rotatePINKey(ctx, args[2:], env, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func serve(ctx context.Context, mode string, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(firstNonEmpty(mode, "serve"), flag.ContinueOnError)
	fs.SetOutput(stderr)
	demo := fs.Bool("demo", false, "add the demo catalog, simulated suppliers and PIN stock")
	data := fs.String("data", "./data", "directory of the database and keys")
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	configFile := fs.String("config", "", "JSON configuration file (suppliers, node id, void window)")
	hubURL := fs.String("hub", "", "server: the hub's URL")
	nodeID := fs.String("node-id", "", "server: this node's id, as registered at the hub")
	nodeKey := fs.String("node-key", "", "server: this node's key, as the hub gave it (or GATEWAY_NODE_KEY)")
	syncEvery := fs.Duration("sync-every", 2*time.Second, "server: how often to sync with the hub")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nodeKey == "" {
		*nodeKey = env("GATEWAY_NODE_KEY")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	var cfg Config
	if *configFile != "" {
		var err error
		if cfg, err = LoadConfig(*configFile); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *nodeID != "" {
		cfg.NodeID = *nodeID
	}
	g, err := Open(ctx, Options{DataDir: *data, Demo: *demo, Config: cfg, Env: env, Log: log, Out: stdout,
		Mode: mode, HubURL: *hubURL, NodeKey: *nodeKey, SyncEvery: *syncEvery, Fault: faultHook(env("GATEWAY_FAULT"))})
	if err != nil {
		return err
	}
	defer g.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           g.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	log.Info("gateway listening", "mode", firstNonEmpty(mode, "serve"), "addr", ln.Addr().String(), "data", *data, "demo", *demo, "node", g.NodeID,
		"docs", "http://"+ln.Addr().String()+"/docs")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// faultHook, for the crash tests, kills this process the moment a handoff reaches step (the
// GATEWAY_FAULT variable), as a power cut would.
func faultHook(step string) func(string) {
	if step == "" {
		return nil
	}
	return func(at string) {
		if at == step {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
}

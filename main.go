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
  gateway import --product ID [--data DIR] [--node ID] FILE
  gateway keys rotate-pin-key [--data DIR] [--grace 3s]
  gateway simulate --api reloadly|dtone [--listen ADDR] [--latency D] [--error-rate R]
                   [--decline-rate R] [--hang-rate R] [--reset-rate R]

commands:
  serve    run the gateway (a hub and one server node) on embedded SQLite
  import   import a serial,pin,expires_at CSV file into a PIN product's stock, all or nothing
  keys     rotate-pin-key: seal all PIN stock under a new key, while the gateway keeps selling
  simulate serve a simulated supplier API (Reloadly- or DT One-style) for demos and tests
`

// Main runs the gateway command line: args without the program name, env for variables,
// stdout and stderr for output. It returns when the command ends (serve: on SIGINT/SIGTERM or
// when ctx is cancelled).
func Main(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], env, stdout, stderr)
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

func serve(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	demo := fs.Bool("demo", false, "add the demo catalog, simulated suppliers and PIN stock")
	data := fs.String("data", "./data", "directory of the database and keys")
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	configFile := fs.String("config", "", "JSON configuration file (suppliers, node id, void window)")
	if err := fs.Parse(args); err != nil {
		return err
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
	g, err := Open(ctx, Options{DataDir: *data, Demo: *demo, Config: cfg, Env: env, Log: log, Out: stdout})
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
	log.Info("gateway listening", "addr", ln.Addr().String(), "data", *data, "demo", *demo, "node", g.NodeID,
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

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
	"path/filepath"
	"syscall"
	"time"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/conduit"
	"github.com/prepaidgw/gateway/drivers/dtone/dtonesim"
	"github.com/prepaidgw/gateway/drivers/reloadly/reloadlysim"
	"github.com/prepaidgw/gateway/drivers/upstreamsim"
	"github.com/prepaidgw/gateway/internal/sqlitedb"
	"github.com/prepaidgw/gateway/inventory"
	"github.com/prepaidgw/gateway/secret"
)

// importCmd imports a CSV file from the shell, the same way as POST /v1/inventory/batches.
func importCmd(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	product := fs.String("product", "", "the PIN product to import into")
	data := fs.String("data", "./data", "directory of the database and keys")
	node := fs.String("node", DefaultNodeID, "the node whose stock receives the PINs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *product == "" || fs.NArg() != 1 {
		return errors.New("usage: gateway import --product ID [--data DIR] FILE")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	db, err := sqlitedb.Open(filepath.Join(*data, "gateway.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	keys, err := loadPINKeys(ctx, db, Options{DataDir: *data, Env: env, Log: log})
	if err != nil {
		return err
	}
	cat, err := catalog.NewStore(ctx, db)
	if err != nil {
		return err
	}
	if p, err := cat.Get(ctx, *product); err != nil || p.Type != catalog.TypePIN {
		return fmt.Errorf("--product %s: not a pin product of this gateway", *product)
	}
	inv, err := inventory.NewStore(ctx, db, keys, log)
	if err != nil {
		return err
	}
	start := time.Now()
	b, err := inv.ImportCSV(ctx, *product, *node, f)
	var ie *inventory.ImportError
	if errors.As(err, &ie) {
		for _, l := range ie.Lines {
			fmt.Fprintf(stderr, "%s: %s\n", l.Field, l.Message)
		}
		return ie
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported %d PINs into %s as batch %s in %s\n", b.Count, b.ProductID, b.ID, time.Since(start).Round(time.Millisecond))
	return nil
}

// rotatePINKey seals every PIN, card number and stored answer under a new key. A running
// gateway keeps selling: it rereads the key file within a second of the change (and at once
// when it meets a value under a key it does not hold), and values are resealed a few hundred
// per commit. The old key is dropped from the file only once nothing needs it.
func rotatePINKey(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys rotate-pin-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./data", "directory of the database and keys")
	grace := fs.Duration("grace", 3*time.Second, "time for running gateways to pick up the new key before resealing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if env("GATEWAY_PIN_KEY") != "" {
		return errors.New("the PIN key comes from GATEWAY_PIN_KEY; rotation works on the key file: move the key into " +
			PINKeyFile(*data) + " and unset the variable first")
	}
	file := PINKeyFile(*data)
	old, err := secret.ReadKeyFile(file)
	if err != nil {
		return err
	}
	db, err := sqlitedb.Open(filepath.Join(*data, "gateway.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	// Check that the file's keys open this stock before changing anything.
	oldRing, err := secret.NewKeyring(old[0], old[1:]...)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if _, err := inventory.NewStore(ctx, db, oldRing, log); err != nil {
		return err
	}
	fresh := secret.NewKey()
	if err := secret.WriteKeyFile(file, append([][]byte{fresh}, old...)...); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "new PIN key %s written to %s; waiting %s for running gateways to read it\n", secret.KeyID(fresh), file, *grace)
	select {
	case <-time.After(*grace):
	case <-ctx.Done():
		return ctx.Err()
	}
	// Both keys, held in memory: they open whatever a gateway sealed before it read the file.
	keys, err := secret.NewKeyring(fresh, old...)
	if err != nil {
		return err
	}
	total := 0
	resealAll := func() error {
		// Until a pass finds nothing under an old key.
		for pass := 0; pass < 20; pass++ {
			n, err := inventory.Reseal(ctx, db, keys)
			if err != nil {
				return err
			}
			m, err := conduit.Reseal(ctx, db, keys)
			if err != nil {
				return err
			}
			total += n + m
			if n+m == 0 {
				return nil
			}
		}
		return errors.New("values kept appearing under the old key; the old key is kept in the file, run the rotation again")
	}
	if err := resealAll(); err != nil {
		return err
	}
	if err := secret.WriteKeyFile(file, fresh); err != nil {
		return err
	}
	// A writer that sealed a chunk just before it reread the file is caught by one more round.
	select {
	case <-time.After(*grace):
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := resealAll(); err != nil {
		_ = secret.WriteKeyFile(file, append([][]byte{fresh}, old...)...)
		return err
	}
	fmt.Fprintf(stdout, "resealed %d values under key %s; the old key is no longer needed\n", total, secret.KeyID(fresh))
	return nil
}

// simulate serves a simulated supplier API, for demos and for testing a driver by hand.
func simulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	apiName := fs.String("api", "", "the API to simulate: reloadly or dtone")
	listen := fs.String("listen", "127.0.0.1:9090", "address to listen on")
	var k upstreamsim.Knobs
	fs.DurationVar(&k.Latency, "latency", 0, "delay before each answer")
	fs.Float64Var(&k.ErrorRate, "error-rate", 0, "share of requests answered 500 before processing")
	fs.Float64Var(&k.DeclineRate, "decline-rate", 0, "share of requests declined")
	fs.Float64Var(&k.HangRate, "hang-rate", 0, "share of requests processed but never answered")
	fs.Float64Var(&k.ResetRate, "reset-rate", 0, "share of requests processed, then the connection cut")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var h interface {
		http.Handler
		Close()
	}
	var creds string
	switch *apiName {
	case "reloadly":
		h = reloadlysim.New(k)
		creds = fmt.Sprintf("client_id %s, client_secret %s", reloadlysim.ClientID, reloadlysim.ClientSecret)
	case "dtone":
		h = dtonesim.New(k)
		creds = fmt.Sprintf("api_key %s, api_secret %s", dtonesim.APIKey, dtonesim.APISecret)
	default:
		return fmt.Errorf("--api must be reloadly or dtone, not %q", *apiName)
	}
	defer h.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stdout, "simulating the %s API at http://%s (%s)\n"+
		"numbers ending 0000 decline, 0001 hang, 0002 reset, 0003 error 500, 0004 empty body, "+
		"0005 HTML error, 0006 wrong types, 0007 error inside a 200\n", *apiName, ln.Addr(), creds)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		h.Close()
		return srv.Close()
	}
}

package gateway

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prepaidgw/gateway/catalog"
	"github.com/prepaidgw/gateway/conduit"
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
	keys, err := secret.OpenKeyFile(file)
	if err != nil {
		return err
	}
	total := 0
	// The second pass finds what a gateway sealed under the old key before it saw the new one.
	for pass := 0; pass < 2; pass++ {
		n, err := inventory.Reseal(ctx, db, keys)
		if err != nil {
			return err
		}
		m, err := conduit.Reseal(ctx, db, keys)
		if err != nil {
			return err
		}
		total += n + m
	}
	if err := secret.WriteKeyFile(file, fresh); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "resealed %d values under key %s; the old key is no longer needed\n", total, secret.KeyID(fresh))
	return nil
}

// Command gateway-acme is the gateway with the ACME partner driver compiled in: the gateway
// is imported as a library, the driver registers itself by being imported, and the gateway's
// own command line does the rest. Configure a supplier with "driver": "acme".
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/prepaidgw/gateway"
	_ "github.com/prepaidgw/gateway/examples/acmetopup"
)

func main() {
	if err := gateway.Main(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

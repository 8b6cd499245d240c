// Command gateway runs the prepaid-products gateway with the built-in supplier drivers.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/prepaidgw/gateway"
)

func main() {
	if err := gateway.Main(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run the real binary: a hub and server nodes as separate processes on loopback,
// each with its own database, killed with SIGKILL as a power cut would.

const adminKey = "gwa_network_test_admin_key_0001"

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

func gatewayBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gateway-bin")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "gateway")
		out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

type proc struct {
	t    *testing.T
	args []string
	env  []string
	url  string
	cmd  *exec.Cmd
	log  *bytes.Buffer
	done chan struct{}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the binary with args plus --listen, and waits until it answers /healthz unless
// it is set to die on a fault.
func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	addr := freeAddr(t)
	p := &proc{t: t, args: append(args, "--listen", addr), env: env, url: "http://" + addr}
	p.run(len(env) == 0)
	t.Cleanup(p.kill)
	return p
}

func (p *proc) run(wait bool) {
	p.t.Helper()
	p.cmd = exec.Command(gatewayBinary(p.t), p.args...)
	p.cmd.Env = append(os.Environ(), append([]string{"GATEWAY_ADMIN_KEY=" + adminKey}, p.env...)...)
	p.log = &bytes.Buffer{}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	if !wait {
		return
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get(p.url + "/healthz"); err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-p.done:
			p.t.Fatalf("%v exited: %s", p.args, p.log)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%v did not start: %s", p.args, p.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *proc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

func (p *proc) call(method, path, key string, body any, headers ...string) (int, map[string]any) {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func (p *proc) must(status int, method, path, key string, body any) map[string]any {
	p.t.Helper()
	got, m := p.call(method, path, key, body)
	if got != status {
		p.t.Fatalf("%s %s: %d %v", method, path, got, m)
	}
	return m
}

// counts returns the inventory rows of the test's PIN product by node.
func (p *proc) counts() map[string]map[string]float64 {
	p.t.Helper()
	m := p.must(200, "GET", "/v1/inventory", adminKey, nil)
	out := map[string]map[string]float64{}
	for _, it := range m["items"].([]any) {
		row := it.(map[string]any)
		if row["product_id"] != product {
			continue
		}
		c := map[string]float64{}
		for k, v := range row {
			if f, ok := v.(float64); ok {
				c[k] = f
			}
		}
		out[row["node_id"].(string)] = c
	}
	return out
}

func eventually(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// product is the PIN product the network tests import at the hub and sell at the servers.
const product = "net-card"

// startHub starts a demo hub, adds a PIN product and imports 500 PINs of it at the hub.
func startHub(t *testing.T) *proc {
	hub := start(t, nil, "hub", "--demo", "--data", filepath.Join(t.TempDir(), "hub"))
	hub.must(201, "PUT", "/v1/products/"+product, adminKey, map[string]any{"type": "pin", "name": "Network card",
		"currency": "USD", "amount": 500, "suppliers": []string{"sim-pin"}})
	var csv strings.Builder
	csv.WriteString("serial,pin,expires_at\n")
	for i := range 500 {
		fmt.Fprintf(&csv, "NET-%04d,7000-%04d-%04d,\n", i, i, i*3)
	}
	req, _ := http.NewRequest("POST", hub.url+"/v1/inventory/batches?product_id="+product, strings.NewReader(csv.String()))
	req.Header.Set("Authorization", "Bearer "+adminKey)
	req.Header.Set("Content-Type", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("import at the hub: %v %v", err, resp)
	}
	resp.Body.Close()
	return hub
}

// addServer registers a node with a target level and a lane, and starts its server process.
func addServer(t *testing.T, hub *proc, node string, target int, env ...string) (*proc, string) {
	key := hub.must(201, "PUT", "/v1/nodes/"+node, adminKey, map[string]any{})["api_key"].(string)
	hub.must(200, "PUT", "/v1/inventory/levels", adminKey, map[string]any{"node_id": node, "product_id": product, "target_level": target, "reorder_level": 0})
	lane := hub.must(201, "PUT", "/v1/terminals/lane-"+node, adminKey, map[string]any{"merchant_id": "m-1", "node_id": node})["api_key"].(string)
	srv := start(t, env, "server", "--hub", hub.url, "--node-id", node, "--node-key", key,
		"--data", filepath.Join(t.TempDir(), node), "--sync-every", "200ms")
	return srv, lane
}

func (p *proc) available() float64 {
	_, m := p.call("GET", "/v1/products/"+product, adminKey, nil)
	if st, ok := m["stock"].(map[string]any); ok {
		return st["available"].(float64)
	}
	return -1
}

func (p *proc) sell(lane, key string) (int, string) {
	st, m := p.call("POST", "/v1/transactions", lane, map[string]any{"product_id": product, "currency": "USD"}, "Idempotency-Key", key)
	if st != 201 {
		return st, ""
	}
	return st, m["pin"].(map[string]any)["serial"].(string)
}

func TestNetworkKeepsSellingThroughAHubKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	hub := startHub(t)
	a, laneA := addServer(t, hub, "store-a", 40)
	b, laneB := addServer(t, hub, "store-b", 40)
	for _, s := range []*proc{a, b} {
		eventually(t, "stock reaches the server", 15*time.Second, func() bool { return s.available() == 40 })
	}
	serials := map[string]string{}
	sell := func(s *proc, lane, prefix string, n int) {
		t.Helper()
		for i := range n {
			st, serial := s.sell(lane, fmt.Sprintf("%s-%d", prefix, i))
			if st != 201 {
				t.Fatalf("%s sale %d: %d", prefix, i, st)
			}
			if prev, dup := serials[serial]; dup {
				t.Fatalf("PIN %s sold twice (%s and %s)", serial, prev, prefix)
			}
			serials[serial] = prefix
		}
	}
	sell(a, laneA, "a1", 15)
	sell(b, laneB, "b1", 15)

	hub.kill()
	sell(a, laneA, "a2", 10)
	sell(b, laneB, "b2", 10)
	for _, s := range []*proc{a, b} {
		_, ready := s.call("GET", "/readyz", "", nil)
		if hubCheck, _ := ready["checks"].(map[string]any)["hub"].(string); !strings.Contains(hubCheck, "unreachable") {
			t.Fatalf("readyz while the hub is down: %v", ready)
		}
	}

	hub.run(true)
	eventually(t, "the hub catches up with both servers' sales", 20*time.Second, func() bool {
		c := hub.counts()
		return c["store-a"]["sold"] == 25 && c["store-b"]["sold"] == 25 &&
			c["store-a"]["available"] == 40 && c["store-b"]["available"] == 40 &&
			c["store-a"]["reserved"] == 0 && c["store-b"]["reserved"] == 0
	})
	c := hub.counts()
	total := 0.0
	for _, row := range c {
		total += row["available"] + row["reserved"] + row["sold"] + row["voided"] + row["expired"]
	}
	if total != 500 {
		t.Fatalf("the hub's counts add up to %v of 500: %v", total, c)
	}
	if len(serials) != 50 {
		t.Fatalf("%d distinct PINs sold in 50 sales", len(serials))
	}
	for _, s := range []*proc{a, b} {
		if got := s.available(); got != 40 {
			t.Fatalf("a server holds %v, the hub thinks 40", got)
		}
	}
	// The hub holds every node's transactions, PINs masked.
	eventually(t, "the hub lists both servers' sales", 10*time.Second, func() bool {
		found := map[string]int{}
		_, m := hub.call("GET", "/v1/transactions?status=approved&limit=200", adminKey, nil)
		items, _ := m["items"].([]any)
		for _, it := range items {
			tx := it.(map[string]any)
			if code := tx["pin"].(map[string]any)["code"].(string); !strings.HasPrefix(code, "****") {
				t.Fatalf("the hub shows a full PIN: %v", tx)
			}
			found[tx["node_id"].(string)]++
		}
		return found["store-a"] == 25 && found["store-b"] == 25
	})
	// The hub masters configuration: a server refuses changes, and a revocation at the hub
	// reaches the server within a sync interval or so.
	if st, _ := a.call("PUT", "/v1/terminals/lane-x", adminKey, map[string]any{"merchant_id": "m-1"}); st != 403 {
		t.Fatalf("a server accepted a terminal: %d", st)
	}
	hub.must(204, "DELETE", "/v1/terminals/lane-store-a", adminKey, nil)
	revoked := time.Now()
	eventually(t, "the revocation reaches the server", 5*time.Second, func() bool {
		st, _ := a.sell(laneA, fmt.Sprint("after-revoke-", time.Now().UnixNano()))
		return st == 401
	})
	t.Logf("revocation reached the server in %s (sync interval 200ms)", time.Since(revoked).Round(time.Millisecond))
}

func TestHandoffSurvivesAServerKillAtEachStep(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	hub := startHub(t)
	for i, step := range []string{"handoff-received", "handoff-applied", "ack-sent"} {
		node := fmt.Sprintf("store-%d", i)
		srv, _ := addServer(t, hub, node, 20, "GATEWAY_FAULT="+step)
		select {
		case <-srv.done:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the fault at %s never fired: %s", node, step, srv.log)
		}
		if ws, ok := srv.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("%s: the server did not die by SIGKILL at %s: %v", node, step, srv.cmd.ProcessState)
		}
		srv.env = nil // restart without the fault
		srv.run(true)
		eventually(t, step+": the handoff completes after the restart", 20*time.Second, func() bool {
			c := hub.counts()[node]
			return c["available"] == 20 && c["reserved"] == 0 && srv.available() == 20
		})
	}
	c := hub.counts()
	held := 0.0
	for node, row := range c {
		if node != "hub" {
			held += row["available"] + row["reserved"]
		}
	}
	if hubLeft := c["hub"]["available"]; hubLeft+held != 500 || held != 60 {
		t.Fatalf("after crashes at every step: hub %v + nodes %v, want 440 + 60: %v", hubLeft, held, c)
	}
}

package inventory_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prepaidgw/gateway/internal/sqlitedb"
	"github.com/prepaidgw/gateway/inventory"
	"github.com/prepaidgw/gateway/secret"
)

// csvStream generates n rows of CSV as they are read, so the file itself takes no memory.
func csvStream(n int) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriter(pw)
		fmt.Fprintln(w, "serial,pin,expires_at")
		exp := time.Now().AddDate(1, 0, 0).Format("2006-01-02")
		for i := range n {
			fmt.Fprintf(w, "SER%09d,%04d-%04d-%04d,%s\n", i, i%10000, (i/10000)%10000, i/100000000+1000, exp)
		}
		w.Flush()
		pw.Close()
	}()
	return pr
}

func newStore(tb testing.TB) *inventory.Store {
	tb.Helper()
	db, err := sqlitedb.Open(filepath.Join(tb.TempDir(), "inv.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	keys, _ := secret.NewKeyring(secret.NewKey())
	s, err := inventory.NewStore(context.Background(), db, keys, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// peakRSSMB is the process's high-water resident memory.
func peakRSSMB() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

// BenchmarkImportMillion imports 1,000,000 generated PINs (run with -benchtime 1x):
//
//	go test -run X -bench ImportMillion -benchtime 1x ./inventory
func BenchmarkImportMillion(b *testing.B) {
	const rows = 1_000_000
	for range b.N {
		s := newStore(b)
		runtime.GC()
		start := time.Now()
		batch, err := s.ImportCSV(context.Background(), "p", "local", csvStream(rows))
		if err != nil || batch.Count != rows {
			b.Fatalf("import: %v (%d rows)", err, batch.Count)
		}
		b.ReportMetric(rows/time.Since(start).Seconds(), "rows/s")
		b.ReportMetric(time.Since(start).Seconds(), "s/import")
	}
	b.ReportMetric(peakRSSMB(), "peakRSS-MB")
}

// An import interrupted by a stop is finished or undone at the next start, never left half.
func TestInterruptedImportIsUndoneAtStart(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlitedb.Open(filepath.Join(dir, "inv.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys, _ := secret.NewKeyring(secret.NewKey())
	s, err := inventory.NewStore(context.Background(), db, keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A reader that fails after 12,000 rows stands in for a stop mid-import: two chunks are
	// written as 'importing', then the import ends before it is checked.
	ctx, cancel := context.WithCancel(context.Background())
	r := &cutReader{r: csvStream(20_000), cancel: cancel, after: 12_000 * 30}
	_, err = s.ImportCSV(ctx, "p", "local", r)
	if err == nil {
		t.Fatal("a cut import succeeded")
	}
	counts, err := s.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 0 {
		t.Fatalf("a cut import left stock: %+v", counts)
	}
	var leftover int
	if err := db.R.Get(&leftover, `SELECT count(*) FROM pins`); err != nil || leftover != 0 {
		t.Fatalf("%d rows left behind (%v)", leftover, err)
	}
}

type cutReader struct {
	r      io.Reader
	n      int
	after  int
	cancel func()
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n >= c.after {
		return 0, io.ErrUnexpectedEOF
	}
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

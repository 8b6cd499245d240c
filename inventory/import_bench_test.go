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

// An import whose writer died is undone at the next start, never left half; one whose writer
// is still running (another process's `gateway import`) is left alone.
func TestInterruptedImportIsUndoneAtStart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "inv.db")
	open := func() (*sqlitedb.DB, *inventory.Store) {
		db, err := sqlitedb.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := inventory.NewStore(context.Background(), db, keys, nil)
		if err != nil {
			t.Fatal(err)
		}
		return db, s
	}
	db, writer := open()
	// The writer stops after two chunks are written as 'importing': its "power" goes.
	paused, resume := make(chan struct{}), make(chan struct{})
	rows := csvStream(30_000)
	done := make(chan error, 1)
	go func() {
		_, err := writer.ImportCSV(context.Background(), "p", "local", &pausingReader{r: rows, after: 25_000 * 30, paused: paused, resume: resume})
		done <- err
	}()
	<-paused
	staged := func() int {
		var n int
		if err := db.R.Get(&n, `SELECT count(*) FROM pins WHERE state='importing'`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if staged() == 0 {
		t.Fatal("nothing staged before the pause")
	}
	// Another process starting now leaves the live import alone.
	_, other := open()
	if err := other.RecoverImports(context.Background()); err != nil {
		t.Fatal(err)
	}
	if staged() == 0 {
		t.Fatal("a start undid an import that was still running")
	}
	// The writer dies; the next start undoes its half.
	writer.Close()
	_, next := open()
	if err := next.RecoverImports(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := staged(); n != 0 {
		t.Fatalf("%d staged rows left after recovery", n)
	}
	if counts, _ := next.Counts(context.Background()); len(counts) != 0 {
		t.Fatalf("a dead import left stock: %+v", counts)
	}
	close(resume)
	<-done
}

var keys, _ = secret.NewKeyring(secret.NewKey())

type pausingReader struct {
	r      io.Reader
	n      int
	after  int
	paused chan struct{}
	resume chan struct{}
	once   bool
}

func (p *pausingReader) Read(b []byte) (int, error) {
	if p.n >= p.after {
		if !p.once {
			p.once = true
			close(p.paused)
			<-p.resume
		}
		return 0, io.ErrUnexpectedEOF
	}
	n, err := p.r.Read(b)
	p.n += n
	return n, err
}

package supply

import (
	"sort"
	"time"
)

// latencyWindow keeps the last calls' latencies, enough for a support engineer's p50 and p99.
type latencyWindow struct {
	buf  [256]time.Duration
	n    int
	next int
}

func (w *latencyWindow) add(d time.Duration) {
	w.buf[w.next] = d
	w.next = (w.next + 1) % len(w.buf)
	if w.n < len(w.buf) {
		w.n++
	}
}

func (w *latencyWindow) quantile(q float64) float64 {
	if w.n == 0 {
		return 0
	}
	s := make([]time.Duration, w.n)
	copy(s, w.buf[:w.n])
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[int(q*float64(w.n-1))].Microseconds()) / 1000
}

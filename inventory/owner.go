package inventory

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Batch owners are "pid/token": the pid says whether the writing process still runs; the
// token tells this process's own live stores from a store it lost (a test's "crash").
var (
	ownersMu sync.Mutex
	owners   = map[string]bool{}
)

func newOwner() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	o := strconv.Itoa(os.Getpid()) + "/" + hex.EncodeToString(b)
	ownersMu.Lock()
	owners[o] = true
	ownersMu.Unlock()
	return o
}

// Close marks the store's imports as abandoned: a later start may recover them.
func (s *Store) Close() {
	ownersMu.Lock()
	delete(owners, s.owner)
	ownersMu.Unlock()
}

func ownerAlive(owner string) bool {
	pidText, _, ok := strings.Cut(owner, "/")
	pid, err := strconv.Atoi(pidText)
	if !ok || err != nil {
		return false
	}
	if pid == os.Getpid() {
		ownersMu.Lock()
		defer ownersMu.Unlock()
		return owners[owner]
	}
	// Signal 0 checks that the process exists without touching it.
	return syscall.Kill(pid, 0) == nil
}

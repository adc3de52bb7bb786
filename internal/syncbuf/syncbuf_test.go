package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

// TestConcurrentWrites runs under -race: writers and a reader at once, and
// every byte written arrives.
func TestConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("x"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := b.String(); got != strings.Repeat("x", 800) {
		t.Errorf("buffer holds %d bytes, want 800", len(got))
	}
}

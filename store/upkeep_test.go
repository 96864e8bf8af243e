package store

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/store/storetest"
)

// TestUpkeep checks that commits reach the database file without the
// writer's help: the writer's own automatic checkpoint waits for a log far
// longer than these commits make, so only the upkeep can have copied them,
// and it does so with no further commit to prompt it. It indexes the jobs
// for search as well.
func TestUpkeep(t *testing.T) {
	db, path := openSQLite(t)
	ctx := t.Context()
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	for i := range 200 {
		if err := db.Create(ctx, []*faxbridge.Job{storetest.FullJob(fmt.Sprintf("ckpt-%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for size() <= before {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes 10 s after 200 commits: nothing checkpointed the log", before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The upkeep indexed them for search too.
	deadline = time.Now().Add(10 * time.Second)
	for {
		n := countRows(t, db, "search_pending")
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs still wait for the search index 10 s after their commits", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Everything in the log is in the file now, or soon: what remains is
	// what the last checkpoint had not yet seen.
	deadline = time.Now().Add(10 * time.Second)
	for {
		logPages, copied, err := db.upkeep.checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if logPages == copied {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log of %d pages, %d copied", logPages, copied)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Closing stops the upkeep; the store still closes cleanly.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// The upkeep merges the search index only in a pause of accepted mail.
func TestUpkeepMergesInPauses(t *testing.T) {
	db, _ := openSQLite(t)
	ctx := t.Context()
	pages := func() int { t.Helper(); return countRows(t, db, "jobs_search_data") }
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() { // mail arriving all the while
		defer close(stopped)
		for {
			db.upkeep.accepting()
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	for i := range 40 {
		j := storetest.FullJob(fmt.Sprintf("u%d", i))
		if err := db.Create(ctx, []*faxbridge.Job{j}); err != nil {
			t.Fatal(err)
		}
		if err := db.indexPending(ctx, 1); err != nil { // a segment each
			t.Fatal(err)
		}
	}
	before := pages()
	time.Sleep(3 * upkeepDelay) // rounds come and go
	if got := pages(); got != before {
		t.Fatalf("index pages %d, then %d while mail was arriving: the upkeep merged", before, got)
	}
	close(stop)
	<-stopped
	deadline := time.Now().Add(10 * time.Second)
	for pages() >= before {
		if time.Now().After(deadline) {
			t.Fatalf("index pages still %d 10 s after the mail paused: nothing merged", before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

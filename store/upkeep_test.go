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
		var n int
		if err := db.rd.QueryRowContext(ctx, `SELECT count(*) FROM search_pending`).Scan(&n); err != nil {
			t.Fatal(err)
		}
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

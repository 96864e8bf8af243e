package store

import (
	"context"
	"database/sql"
	"fmt"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"
)

// The SQLite store does two kinds of work after commits that no caller
// should wait for: it brings the console's search index up to date with
// the jobs that changed (see indexPending in search.go), and it copies the
// write-ahead log into the database file (a checkpoint). Both used to run
// inside commits, and both cost more the more jobs the database holds:
// the search index merges its segments as it grows, and on a file with
// years of jobs a commit dirties pages all over the random-keyed indexes
// (job IDs, fax SIDs), so the log fills sooner and each checkpoint copies
// more distinct pages. Whoever was in that commit waited, an accepted
// message's 250 included.
//
// So a goroutine does both, a short while after commits, so that the work
// of many commits is done once: a job indexed after its fax SID arrived is
// indexed once, and a page written by many commits is copied once.
//
// Checkpoints are PASSIVE, on a connection of their own: they never wait
// for or block a writer or a reader. The writer keeps an automatic
// checkpoint at a much longer log, a backstop should this one fall behind
// (readers holding old snapshots, a slow disk).

const (
	// upkeepDelay is how long commits gather before the upkeep runs.
	upkeepDelay = 500 * time.Millisecond
	// backstopPages is the writer's own automatic checkpoint (4 KiB pages).
	backstopPages = "10000"
	// mergeIdle is how long no mail must have been accepted before the
	// upkeep merges the search index; mergeAtLeast, how long merging
	// waits for such a pause at most, so that an index under mail that
	// never pauses is still merged (a round of mergeBudget each time).
	mergeIdle    = 300 * time.Millisecond
	mergeAtLeast = 30 * time.Second
)

type upkeep struct {
	ckpt *sql.DB       // the checkpoint's own connection
	kick chan struct{} // a commit happened; capacity 1
	// lastAccept is when mail was last being accepted (Unix ns): merges
	// of the search index wait for a pause (see mergeIdle).
	lastAccept atomic.Int64
	stop       chan struct{}
	wg         sync.WaitGroup
	once       sync.Once
	err        error // of closing ckpt
}

// startUpkeep opens the checkpoint's connection to the database at path
// (already in WAL mode) and starts the upkeep, which looks at once for
// jobs left unindexed by the last run.
func (db *DB) startUpkeep(ctx context.Context, path, params string) error {
	conn, err := sql.Open("sqlite", path+"?"+params)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	conn.SetMaxOpenConns(1)
	conn.SetMaxIdleConns(1)
	conn.SetConnMaxLifetime(0)
	conn.SetConnMaxIdleTime(0)
	if err := conn.PingContext(ctx); err != nil {
		conn.Close()
		return fmt.Errorf("open %s: %w", path, err)
	}
	u := &upkeep{ckpt: conn, kick: make(chan struct{}, 1), stop: make(chan struct{})}
	db.upkeep = u
	u.kick <- struct{}{}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("work", "upkeep")))
		db.runUpkeep(u)
	}()
	return nil
}

// accepting tells the upkeep that a message's jobs are being committed.
func (u *upkeep) accepting() {
	if u != nil {
		u.lastAccept.Store(time.Now().UnixNano())
	}
}

// committed tells the upkeep that the log has grown. It never blocks.
func (u *upkeep) committed() {
	if u == nil {
		return
	}
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

func (db *DB) runUpkeep(u *upkeep) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-u.stop
		cancel()
	}()
	delay := time.NewTimer(upkeepDelay)
	delay.Stop()
	lastMerge := time.Now()
	for {
		select {
		case <-u.stop:
			return
		case <-u.kick:
		}
		delay.Reset(upkeepDelay)
		select {
		case <-u.stop:
			delay.Stop()
			return
		case <-delay.C:
		}
		// Either may fail (a busy or failing disk): what is left is
		// done next time, and until then search still finds the jobs
		// not yet indexed (see sqliteMatch) and the writer's backstop
		// checkpoints. A disk that fails these fails commits too, and
		// those are answered to their callers.
		if db.indexPending(ctx, IndexBatch) == nil {
			// A merge step holds the writer for up to ~15 ms on a big
			// index, and a 250 in the same group waits for it: merge
			// in a pause of the mail, unless merging has waited for
			// one for mergeAtLeast.
			idle := time.Since(time.Unix(0, u.lastAccept.Load())) >= mergeIdle
			if idle || time.Since(lastMerge) >= mergeAtLeast {
				lastMerge = time.Now()
				if more, err := db.mergeSearch(ctx, mergePages, mergeBudget); more && err == nil {
					u.committed() // another round, after the delay
				}
			} else {
				u.committed() // look again, after the delay
			}
		}
		_, _, _ = u.checkpoint(ctx)
	}
}

// checkpoint copies what it can of the log into the database file. It
// reports the pages in the log and how many of them are now in the file.
func (u *upkeep) checkpoint(ctx context.Context) (logPages, copied int, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var busy int
	err = u.ckpt.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logPages, &copied)
	return logPages, copied, err
}

func (u *upkeep) close() error {
	if u == nil {
		return nil
	}
	u.once.Do(func() {
		close(u.stop)
		u.wg.Wait()
		u.err = u.ckpt.Close()
	})
	return u.err
}

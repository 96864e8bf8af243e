package store

import (
	"context"
	"database/sql"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/faxbridge/faxbridge"
)

// SQLite has one writer and every commit waits for an fsync. A fax's life
// is a run of small writes (the accepted message's jobs, then one versioned
// update per step), and at any moment several are waiting: sessions
// committing their messages, worker steps and callbacks recording theirs. A
// group commit puts the writes that arrive while a commit is in progress
// into the next transaction and pays for one fsync.
//
// Each write still answers only for itself: it runs inside a savepoint of
// its own, so a write that fails (a job changed by someone else, a job ID
// taken) is rolled back alone and its caller gets its error, while the
// others commit. Its caller waits for the commit that holds it and gets
// that commit's error; a group whose transaction fails as a whole is
// retried one write at a time, so one bad write cannot fail the others.

// maxGroup bounds how many writes share one commit.
const maxGroup = 32

// writeReq is one write waiting for a group commit.
type writeReq struct {
	write func(ctx context.Context, tx *sql.Tx) error
	done  chan error
}

type grouper struct {
	mu     sync.RWMutex // held shared while queueing; exclusively to close
	closed bool
	reqs   chan *writeReq
	wg     sync.WaitGroup
}

func (db *DB) startGroupCommit() {
	g := &grouper{reqs: make(chan *writeReq, maxGroup)}
	db.group = g
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		// Its commits hold accepted mail and worker steps alike: profiles
		// count them on their own.
		pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("work", "commit")))
		for req := range g.reqs {
			batch := []*writeReq{req}
		more:
			for len(batch) < maxGroup {
				select {
				case r, ok := <-g.reqs:
					if !ok {
						break more
					}
					batch = append(batch, r)
				default:
					break more
				}
			}
			db.commitGroup(batch)
		}
	}()
}

// commitGroup commits a group. The commit runs on its own deadline, not on
// any caller's: once a write is queued, its caller waits for the truth
// about it, so that no 451 is said for a message that was committed.
func (db *DB) commitGroup(batch []*writeReq) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if len(batch) == 1 {
		batch[0].done <- db.tx(ctx, func(tx *sql.Tx) error { return batch[0].write(ctx, tx) })
		return
	}
	errs := make([]error, len(batch))
	err := db.tx(ctx, func(tx *sql.Tx) error {
		for i, r := range batch {
			if _, err := db.execTx(ctx, tx, savepoint); err != nil {
				return err
			}
			if errs[i] = r.write(ctx, tx); errs[i] != nil {
				if _, err := db.execTx(ctx, tx, rollbackTo); err != nil {
					return err
				}
			}
			if _, err := db.execTx(ctx, tx, release); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		for i, r := range batch {
			r.done <- errs[i]
		}
		return
	}
	for _, r := range batch {
		r.done <- db.tx(ctx, func(tx *sql.Tx) error { return r.write(ctx, tx) })
	}
}

// The savepoint around each write of a group.
const (
	savepoint  = `SAVEPOINT grouped`
	rollbackTo = `ROLLBACK TO grouped`
	release    = `RELEASE grouped`
)

// write runs fn in a write transaction: a group commit's (SQLite), or one
// of its own. Its error is fn's or the commit's, unmapped.
func (db *DB) write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if db.group != nil {
		if queued, err := db.group.enqueue(ctx, fn); queued || err != nil {
			return err
		}
	}
	return db.tx(ctx, func(tx *sql.Tx) error { return fn(ctx, tx) })
}

// enqueue hands a write to the group committer and waits for its commit.
// It reports queued false, and no error, when the committer is closed.
func (g *grouper) enqueue(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) (queued bool, err error) {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return false, nil
	}
	req := &writeReq{write: fn, done: make(chan error, 1)}
	select {
	case g.reqs <- req:
		g.mu.RUnlock()
	case <-ctx.Done():
		g.mu.RUnlock()
		return false, faxbridge.WrapError(faxbridge.EUnavailable, ctx.Err(), "the job database is busy")
	}
	return true, <-req.done
}

func (g *grouper) close() {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		close(g.reqs)
	}
	g.mu.Unlock()
	g.wg.Wait()
}

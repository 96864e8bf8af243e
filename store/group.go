package store

import (
	"context"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/faxbridge/faxbridge"
)

// SQLite has one writer and every commit waits for an fsync. When several
// SMTP sessions commit their messages at the same moment, a group commit
// puts them in one transaction and pays for one fsync: the messages that
// arrive while a commit is in progress go together in the next one.
//
// A message still answers only for itself: its caller waits for the commit
// that holds its rows and gets that commit's error, and a failed group is
// retried one message at a time so that one bad message cannot make the
// others fail.

// maxGroup bounds how many messages share one commit.
const maxGroup = 32

type createReq struct {
	rows []row
	done chan error
}

type grouper struct {
	mu     sync.RWMutex // held shared while queueing; exclusively to close
	closed bool
	reqs   chan *createReq
	wg     sync.WaitGroup
}

func (db *DB) startGroupCommit() {
	g := &grouper{reqs: make(chan *createReq, maxGroup)}
	db.group = g
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		// Its commits are those of accepted mail: profiles count them so.
		pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("work", "smtp")))
		for req := range g.reqs {
			batch := []*createReq{req}
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
// any caller's: once rows are queued, every caller waits for the truth
// about them, so that no 451 is said for a message that was committed.
func (db *DB) commitGroup(batch []*createReq) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if len(batch) == 1 {
		batch[0].done <- db.createRows(ctx, batch[0].rows)
		return
	}
	var all []row
	for _, r := range batch {
		all = append(all, r.rows...)
	}
	if err := db.createRows(ctx, all); err == nil {
		for _, r := range batch {
			r.done <- nil
		}
		return
	}
	for _, r := range batch {
		r.done <- db.createRows(ctx, r.rows)
	}
}

// enqueue hands rows to the group committer and waits for their commit.
// It reports queued false, and no error, when the committer is closed.
func (g *grouper) enqueue(ctx context.Context, rows []row) (queued bool, err error) {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return false, nil
	}
	req := &createReq{rows: rows, done: make(chan error, 1)}
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

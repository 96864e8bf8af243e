package store

import (
	"context"
	"database/sql"
	"fmt"
	"runtime/pprof"
	"sync"
	"time"
)

// In WAL mode a commit appends its pages to the -wal file, and SQLite's
// default is that the commit which takes the log past 1,000 pages copies
// the log back into the database file (a checkpoint) and fsyncs that file
// before it returns. Everyone in that commit's group waits for it: an
// accepted message's 250 included. On a database holding years of jobs a
// commit dirties pages all over the random-keyed indexes (job IDs, fax
// SIDs), so the log fills sooner, each checkpoint copies more distinct
// pages, and the wait showed in the slowest 250s.
//
// So the writer leaves checkpoints to a goroutine with a connection of its
// own. It runs PASSIVE checkpoints, which never wait for or block a writer
// or a reader, a short while after commits, so that a page written by many
// commits in that while is copied once. The writer keeps an automatic
// checkpoint at a much longer log, a backstop should this one fall behind
// (readers holding old snapshots, a slow disk).

const (
	// checkpointDelay is how long commits gather before a checkpoint.
	checkpointDelay = 200 * time.Millisecond
	// backstopPages is the writer's own automatic checkpoint (4 KiB pages).
	backstopPages = "10000"
)

type checkpointer struct {
	conn *sql.DB
	kick chan struct{} // a commit happened; capacity 1
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	err  error // of closing conn
}

// startCheckpointer opens the checkpointer's connection to the database at
// path (already in WAL mode) and starts it.
func (db *DB) startCheckpointer(ctx context.Context, path, params string) error {
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
	c := &checkpointer{conn: conn, kick: make(chan struct{}, 1), stop: make(chan struct{})}
	db.ckpt = c
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("work", "checkpoint")))
		c.run()
	}()
	return nil
}

// committed tells the checkpointer that the log has grown. It never blocks.
func (c *checkpointer) committed() {
	if c == nil {
		return
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	delay := time.NewTimer(checkpointDelay)
	delay.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		delay.Reset(checkpointDelay)
		select {
		case <-c.stop:
			delay.Stop()
			return
		case <-delay.C:
		}
		// A checkpoint that fails (the disk, say) is left to the next
		// one and to the writer's backstop; a disk that fails it fails
		// commits too, and those are answered to their callers.
		_, _, _ = c.checkpoint(context.Background())
	}
}

// checkpoint copies what it can of the log into the database file. It
// reports the pages in the log and how many of them are now in the file.
func (c *checkpointer) checkpoint(ctx context.Context) (logPages, copied int, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var busy int
	err = c.conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logPages, &copied)
	return logPages, copied, err
}

func (c *checkpointer) close() error {
	if c == nil {
		return nil
	}
	c.once.Do(func() {
		close(c.stop)
		c.wg.Wait()
		c.err = c.conn.Close()
	})
	return c.err
}

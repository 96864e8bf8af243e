package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/store/storetest"
)

// What one metrics scrape costs with a backlog of 5,000 active jobs:
// counting in SQL (CountActive, what the collector does) against reading
// every active job (List, what it did before).
func BenchmarkScrapeBacklog(b *testing.B) {
	db, err := OpenSQLite(b.Context(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var jobs []*faxbridge.Job
	for i := range 5000 {
		j := storetest.FullJob(fmt.Sprintf("job%05d", i))
		j.NextAt = time.Now().Add(time.Hour)
		jobs = append(jobs, j)
	}
	if err := db.Create(b.Context(), jobs); err != nil {
		b.Fatal(err)
	}
	b.Run("CountActive", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.CountActive(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ListActive", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.List(b.Context(), faxbridge.JobFilter{Active: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package main

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/config"
	"github.com/faxbridge/faxbridge/internal/testenv"
)

// Two instances behind one SMTP name share one PostgreSQL and one bucket,
// as they would behind a load balancer: mail taken by either is faxed once
// and reported once, whichever instance's worker picks it up.
func TestTwoInstancesShareDatabaseAndBucket(t *testing.T) {
	dsn := testenv.Postgres(t)
	minio := testenv.MinIO(t)
	shared := func(c *config.Config) {
		c.Database.Driver, c.Database.DSN = "postgres", dsn
		c.Storage.Backend = "s3"
		c.Storage.S3 = config.S3{Endpoint: minio.Endpoint, Bucket: "faxes", Region: "us-east-1",
			AccessKey: minio.AccessKey, SecretKey: minio.SecretKey, Prefix: "documents/", CreateBucket: true}
	}
	a := newHarness(t, shared)
	// The second instance talks to the same simulator and hands its
	// reports to the same recorder, so "exactly once" is checked across both.
	b := &harness{t: t, sim: a.sim, rec: a.rec}
	b.startWith(t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", shared)

	const n = 20
	msg := message("a@example.com", "s", attachment{"a.pdf", "application/pdf", "", pdf(t, "sample.pdf")})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		h := a
		if i%2 == 1 {
			h = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- h.send("a@example.com", []string{fmt.Sprintf("1555123%04d@fax.example.com", i)}, msg)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		j := a.waitReport().Job
		if seen[j.ID] || j.Outcome != "delivered" {
			t.Errorf("job %s: outcome %q, seen before %v", j.ID, j.Outcome, seen[j.ID])
		}
		seen[j.ID] = true
	}
	// Both instances stop before the count: neither may report more.
	b.shutdown()
	a.noMoreReports()
	if creates := a.sim.Creates(); len(creates) != n {
		t.Errorf("%d faxes for %d messages", len(creates), n)
	}
	db, err := openStore(context.Background(), a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	all, err := db.List(context.Background(), faxbridge.JobFilter{})
	if err != nil || len(all) != n {
		t.Fatalf("shared store holds %d jobs (%v), want %d", len(all), err, n)
	}
}

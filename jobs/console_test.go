package jobs

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/storage"
	"github.com/faxbridge/faxbridge/store"
)

// consoleService is a service over a real SQLite store and local storage,
// without a worker: what the console and `faxbridge send` drive.
func consoleService(t *testing.T) (*Service, *store.DB, *storage.Local) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.OpenSQLite(t.Context(), filepath.Join(dir, "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := storage.NewLocal(storage.LocalConfig{Dir: filepath.Join(dir, "docs"), PublicURL: "http://127.0.0.1", Secret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	svc := New(Config{SpoolDir: filepath.Join(dir, "spool"), MaxBuilds: 1}, db, blobs, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return svc, db, blobs
}

func testPDF(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../cmd/faxbridge/testdata/two-pages.pdf")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readBlob(t *testing.T, b faxbridge.BlobStore, key string) []byte {
	t.Helper()
	rc, err := b.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestSendFiles(t *testing.T) {
	svc, db, blobs := consoleService(t)
	ctx := t.Context()
	env := faxbridge.Envelope{
		Recipients: []faxbridge.Recipient{{Destination: faxbridge.Destination{To: "+15551234567"}}},
		Sender:     "user:alice",
		ReportTo:   "alice@example.com",
		MailFrom:   "alice@example.com",
	}
	got, err := svc.SendFiles(ctx, env, "Lease »draft«", "Please sign page 2.", []Upload{{Name: "lease.pdf", Data: testPDF(t)}})
	if err != nil {
		t.Fatalf("SendFiles: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("%d jobs, want 1", len(got))
	}
	j, err := db.Get(ctx, got[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.Pages != 3 || len(j.Documents) != 2 || j.Documents[0].Type != "text" || j.Documents[1].Name != "lease.pdf" {
		t.Errorf("pages %d, documents %+v; want a cover page and the 2-page lease.pdf", j.Pages, j.Documents)
	}
	if j.Sender != "user:alice" || j.ReportTo != "alice@example.com" || j.Subject != "Lease »draft«" || j.State != faxbridge.StateQueued {
		t.Errorf("job = sender %q report_to %q subject %q state %s", j.Sender, j.ReportTo, j.Subject, j.State)
	}
	if blob := readBlob(t, blobs, j.DocumentKey); !bytes.HasPrefix(blob, []byte("%PDF-")) {
		t.Error("stored document is not a PDF")
	}

	// The same document checks as mail: a text file is refused, and
	// nothing is left behind.
	_, err = svc.SendFiles(ctx, env, "", "", []Upload{{Name: "notes.txt", Data: []byte("just text")}})
	if faxbridge.ErrorCode(err) != faxbridge.EBadContent {
		t.Fatalf("text file: %v, want bad content", err)
	}
	if all, _ := db.Search(ctx, faxbridge.JobQuery{}); len(all) != 1 {
		t.Errorf("%d jobs after a refusal, want 1", len(all))
	}
}

func TestResend(t *testing.T) {
	svc, db, blobs := consoleService(t)
	ctx := t.Context()
	env := faxbridge.Envelope{Recipients: []faxbridge.Recipient{{Destination: faxbridge.Destination{To: "+15551234567"}}}}
	sent, err := svc.SendFiles(ctx, env, "s", "", []Upload{{Name: "a.pdf", Data: testPDF(t)}})
	if err != nil {
		t.Fatal(err)
	}
	orig := sent[0]

	other := &faxbridge.Recipient{Destination: faxbridge.Destination{To: "+4930123456"}}
	nj, err := svc.Resend(ctx, orig.ID, other, "user:bob")
	if err != nil {
		t.Fatalf("Resend: %v", err)
	}
	if nj.ID == orig.ID || nj.DocumentKey == orig.DocumentKey || nj.Destination.To != "+4930123456" || nj.Sender != "user:bob" {
		t.Errorf("resent job = %+v", nj)
	}
	if nj.DocumentSHA256 != orig.DocumentSHA256 || nj.Pages != orig.Pages || nj.State != faxbridge.StateQueued || nj.NextAt.IsZero() {
		t.Errorf("resent job lost the document or is not queued: %+v", nj)
	}
	if !bytes.Equal(readBlob(t, blobs, nj.DocumentKey), readBlob(t, blobs, orig.DocumentKey)) {
		t.Error("the resent job's document differs from the original")
	}
	same, err := svc.Resend(ctx, orig.ID, nil, "")
	if err != nil || same.Destination.To != "+15551234567" {
		t.Fatalf("resend to the same number: %v %+v", err, same)
	}
	if all, _ := db.Search(ctx, faxbridge.JobQuery{}); len(all) != 3 {
		t.Errorf("%d jobs, want 3", len(all))
	}

	// Once the original's document is cleaned up, there is nothing to resend.
	j, _ := db.Get(ctx, orig.ID)
	if err := blobs.Delete(ctx, j.DocumentKey); err != nil {
		t.Fatal(err)
	}
	j.State, j.Outcome, j.CleanedAt, j.NextAt = faxbridge.StateDone, faxbridge.OutcomeDelivered, time.Now(), time.Time{}
	if err := db.Update(ctx, j); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Resend(ctx, orig.ID, nil, ""); faxbridge.ErrorCode(err) != faxbridge.ENotFound {
		t.Fatalf("resend after cleanup: %v, want not found", err)
	}
	if _, _, err := svc.OpenDocument(ctx, orig.ID); faxbridge.ErrorCode(err) != faxbridge.ENotFound {
		t.Fatalf("download after cleanup: %v, want not found", err)
	}
	if _, err := svc.Resend(ctx, "nosuchjob", nil, ""); faxbridge.ErrorCode(err) != faxbridge.ENotFound {
		t.Fatalf("resend of an unknown job: %v", err)
	}

	// A received fax is refused as such, whether or not its document is
	// still kept: its number is our own.
	j.ID, j.Direction, j.Version = "in-FX1", faxbridge.Inbound, 0
	if err := db.Create(ctx, []*faxbridge.Job{j}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Resend(ctx, j.ID, nil, ""); faxbridge.ErrorCode(err) != faxbridge.EInvalid {
		t.Fatalf("resend of a received fax whose document is gone: %v, want invalid", err)
	}
}

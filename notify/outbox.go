package notify

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/faxbridge/faxbridge"
)

// Outbox writes each report as <job id>.eml into Dir, for another program to
// pick up or for a person to read when no relay is configured. A report
// written twice for the same job replaces the first, so retries never
// duplicate.
type Outbox struct{ Dir string }

// Notify writes the report atomically: a reader sees either no file or the
// whole message, never part of it, even across a crash.
func (o *Outbox) Notify(ctx context.Context, rep faxbridge.Report) error {
	msg, err := Compose(rep)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return outboxError(err)
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return outboxError(err)
	}
	// Compose accepted the ID, so it has no path separators and no leading dot.
	name := filepath.Join(o.Dir, rep.Job.ID+".eml")
	if err := writeFile(o.Dir, name, msg); err != nil {
		return outboxError(err)
	}
	return nil
}

// writeFile replaces name with data through a temporary file in the same
// directory, synced before and after the rename.
func writeFile(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, ".report-*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o640); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("rename to %s: %w", name, err)
	}
	// The rename is only durable once the directory itself is synced.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// outboxError reports a filesystem failure as temporary: a full disk or a
// missing mount may well be fixed before the report's retry window closes.
func outboxError(err error) error {
	return faxbridge.WrapError(faxbridge.EUnavailable, err, "the report outbox is unavailable")
}

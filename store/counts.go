package store

import (
	"context"
	"fmt"

	"github.com/faxbridge/faxbridge"
)

// CountActive counts active jobs by state, and the pending reports among
// them, in SQL: a metrics scrape must not read every job. The report state
// lives only in the job's JSON; encoding/json writes it without spaces, so
// the pattern below finds exactly the jobs whose report is pending.
func (db *DB) CountActive(ctx context.Context) (faxbridge.ActiveCounts, error) {
	out := faxbridge.ActiveCounts{ByState: map[faxbridge.State]int{}}
	rows, err := db.rd.QueryContext(ctx, `SELECT state, count(*),
		sum(CASE WHEN state = 'done' AND data LIKE '%"report_state":"pending"%' THEN 1 ELSE 0 END)
		FROM jobs WHERE next_at IS NOT NULL GROUP BY state`)
	if err != nil {
		return out, db.fail(fmt.Errorf("count active jobs: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		var state string
		var n, pending int
		if err := rows.Scan(&state, &n, &pending); err != nil {
			return out, db.fail(fmt.Errorf("count active jobs: %w", err))
		}
		out.ByState[faxbridge.State(state)] = n
		out.ReportsPending += pending
	}
	if err := rows.Err(); err != nil {
		return out, db.fail(fmt.Errorf("count active jobs: %w", err))
	}
	return out, nil
}

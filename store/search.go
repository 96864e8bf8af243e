package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// The console's text search is a substring test on jobs.search (already
// lowercased, as is the term, so the test is case-insensitive). Without an
// index it reads rows newest first until it has filled a page, which with a
// rare term means every row. With an index of the column's trigrams (every
// run of three characters) it reads only the jobs holding all of the term's
// trigrams, and each is checked exactly:
//
//   - SQLite: jobs_search, an FTS5 table with the trigram tokenizer, kept
//     in step with jobs by triggers. Its rows are keyed by search_keys.n, a
//     number of our own for each job: a jobs rowid may change on VACUUM, an
//     INTEGER PRIMARY KEY may not. The table holds no copy of the text
//     (contentless), only the index.
//   - PostgreSQL: a GIN index with pg_trgm's operator class on the column,
//     which serves LIKE '%term%'. pg_trgm is an extension: the migration
//     creates it where the database user may (it is "trusted" from
//     PostgreSQL 13: a user with CREATE on the database may), and otherwise
//     search goes on unindexed until an administrator runs CREATE EXTENSION
//     pg_trgm in the database; the next start then builds the index.
//
// A term shorter than three characters has no trigram, so neither index
// can serve it: it is matched by the unindexed walk. Such a term is in
// most jobs (every number has digits), so the walk fills a page soon.

// minIndexedTerm is the shortest term, in characters, an index serves.
const minIndexedTerm = 3

// textCondition returns the condition and arguments that match the term t
// (SearchTerm form) against jobs.search.
func (db *DB) textCondition(t string) (string, []any) {
	if db.indexed && utf8.RuneCountInString(t) >= minIndexedTerm {
		return db.d.textMatch, db.d.textArgs(t)
	}
	// A plain substring test: cheaper per row than LIKE's pattern
	// matcher, and nothing in the text needs escaping.
	if db.d.dollar {
		return `strpos(search, ?) > 0`, []any{t}
	}
	return `instr(search, ?) > 0`, []any{t}
}

// TextIndexed reports whether console text search has its index. Without
// it (PostgreSQL without pg_trgm) search still works, by reading rows.
func (db *DB) TextIndexed() bool { return db.indexed }

// sqliteSearchIndex builds the FTS5 index of jobs.search and the triggers
// that keep it in step with every insert, update and delete of a job,
// whoever makes them (the store, a retention purge, a bulk fill).
var sqliteSearchIndex = []string{
	`CREATE TABLE search_keys (
		n      INTEGER PRIMARY KEY,
		job_id TEXT NOT NULL UNIQUE
	)`,
	`CREATE VIRTUAL TABLE jobs_search USING fts5 (
		search, content = '', contentless_delete = 1,
		tokenize = 'trigram case_sensitive 1'
	)`,
	`INSERT INTO search_keys (job_id) SELECT id FROM jobs`,
	`INSERT INTO jobs_search (rowid, search) SELECT k.n, j.search FROM search_keys k JOIN jobs j ON j.id = k.job_id`,
	`CREATE TRIGGER jobs_search_insert AFTER INSERT ON jobs BEGIN
		INSERT INTO search_keys (job_id) VALUES (new.id);
		INSERT INTO jobs_search (rowid, search) SELECT n, new.search FROM search_keys WHERE job_id = new.id;
	END`,
	`CREATE TRIGGER jobs_search_update AFTER UPDATE OF search ON jobs WHEN old.search IS NOT new.search BEGIN
		DELETE FROM jobs_search WHERE rowid = (SELECT n FROM search_keys WHERE job_id = old.id);
		INSERT INTO jobs_search (rowid, search) SELECT n, new.search FROM search_keys WHERE job_id = new.id;
	END`,
	`CREATE TRIGGER jobs_search_delete AFTER DELETE ON jobs BEGIN
		DELETE FROM jobs_search WHERE rowid = (SELECT n FROM search_keys WHERE job_id = old.id);
		DELETE FROM search_keys WHERE job_id = old.id;
	END`,
}

func sqliteBuildSearchIndex(ctx context.Context, tx *sql.Tx) error {
	return execSearchIndex(ctx, tx, sqliteSearchIndex)
}

// execSearchIndex runs the statements of a change to the search index.
func execSearchIndex(ctx context.Context, tx *sql.Tx, stmts []string) error {
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("search index: %w", err)
		}
	}
	return nil
}

func sqliteHasSearchIndex(ctx context.Context, db *sql.DB) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'jobs_search'`).Scan(&n)
	return n > 0, err
}

// sqliteMatch finds the jobs whose search text holds the term: an FTS5
// phrase of one string is, with the trigram tokenizer, a substring test.
// Jobs in search_pending (new, or changed since they were indexed) are
// tested on their text instead, and their index entries, which may be of
// an older text, are passed over. Its arguments are the phrase and the
// term. (CROSS JOIN keeps SQLite's planner walking the short list of
// pending jobs, not every job.)
const sqliteMatch = `id IN (
	SELECT k.job_id FROM jobs_search f JOIN search_keys k ON k.n = f.rowid
	WHERE jobs_search MATCH ? AND k.job_id NOT IN (SELECT job_id FROM search_pending)
	UNION ALL
	SELECT p.job_id FROM search_pending p CROSS JOIN jobs j ON j.id = p.job_id WHERE instr(j.search, ?) > 0)`

// Since migration 10 a commit only notes, in search_pending, the jobs
// whose search text is new or changed; the upkeep (upkeep.go) indexes
// them a little later, many at a time. Indexing in the commit made every
// accepted message wait for the index's segment merges, which grow with
// the index: on a database of a million jobs a commit could spend
// milliseconds merging. Batches make smaller segments per job, and a job
// whose text changes before its batch (a fax SID arriving) is indexed
// once instead of indexed, deleted and indexed again.
var sqliteDeferredSearch = []string{
	`CREATE TABLE search_pending (job_id TEXT PRIMARY KEY) WITHOUT ROWID`,
	// FTS5 merges its segments inside whichever write added to it: the
	// upkeep merges instead, in short steps (see mergeSearch).
	`INSERT INTO jobs_search (jobs_search, rank) VALUES ('automerge', 0)`,
	`DROP TRIGGER jobs_search_insert`,
	`DROP TRIGGER jobs_search_update`,
	`DROP TRIGGER jobs_search_delete`,
	`CREATE TRIGGER jobs_search_insert AFTER INSERT ON jobs BEGIN
		INSERT OR IGNORE INTO search_pending (job_id) VALUES (new.id);
	END`,
	`CREATE TRIGGER jobs_search_update AFTER UPDATE OF search ON jobs WHEN old.search IS NOT new.search BEGIN
		INSERT OR IGNORE INTO search_pending (job_id) VALUES (new.id);
	END`,
	`CREATE TRIGGER jobs_search_delete AFTER DELETE ON jobs BEGIN
		DELETE FROM jobs_search WHERE rowid = (SELECT n FROM search_keys WHERE job_id = old.id);
		DELETE FROM search_keys WHERE job_id = old.id;
		DELETE FROM search_pending WHERE job_id = old.id;
	END`,
}

func sqliteDeferSearch(ctx context.Context, tx *sql.Tx) error {
	return execSearchIndex(ctx, tx, sqliteDeferredSearch)
}

// IndexBatch is how many jobs one write of the upkeep indexes: enough
// to share the index's work, few enough that a commit waiting behind it
// does not wait long.
const IndexBatch = 256

// The statements of indexPending. A batch is the first jobs of the list
// in key order, the same rows for each statement of one transaction. The
// texts are indexed by one statement: FTS5 writes what it has gathered at
// the end of each statement, so one statement per job would make a
// segment per job, the very work batching saves.
const (
	pickPending = `SELECT job_id FROM search_pending ORDER BY job_id LIMIT ?`
	// indexedKeys are the keys of the batch's jobs already indexed (with
	// an older text).
	indexedKeys = `SELECT k.n FROM (` + pickPending + `) p JOIN search_keys k ON k.job_id = p.job_id`
	unindexKey  = `DELETE FROM jobs_search WHERE rowid = ?`
	keyPending  = `INSERT OR IGNORE INTO search_keys (job_id) ` + pickPending
	indexBatchQ = `INSERT INTO jobs_search (rowid, search)
		SELECT k.n, j.search FROM (` + pickPending + `) p
		JOIN search_keys k ON k.job_id = p.job_id JOIN jobs j ON j.id = p.job_id`
	unlistBatch = `DELETE FROM search_pending WHERE job_id IN (` + pickPending + `)`
)

// IndexSearch indexes at once every job waiting for the search index, in
// writes of batch jobs, and merges the index's segments after each write,
// as the upkeep does (SQLite; elsewhere it does nothing). The store does
// this itself a little after commits; this is for tools that write jobs
// with SQL of their own. Merging after each write leaves the index shaped
// as the upkeep would have: FTS5 counts a segment's level in merges, not
// in size, so an index built in big batches, or merged only at the end,
// holds most of its entries in a segment of a low level, which the next
// few hundred writes' merges would rewrite whole.
func (db *DB) IndexSearch(ctx context.Context, batch int) error {
	if db.d.deferSearch == nil {
		return nil
	}
	batch = max(batch, 1)
	for {
		n, err := db.indexSome(ctx, batch)
		if err != nil {
			return err
		}
		if _, err := db.mergeSearch(ctx, bulkMergePages, 0); err != nil {
			return err
		}
		if n < int64(batch) {
			return nil
		}
	}
}

// An FTS5 index is a set of segments that must be merged as it grows, or
// every search reads more of them. FTS5 would merge inside the writes that
// add to it (automerge), and a merge step's size depends on what it meets:
// with a million jobs one write could spend milliseconds merging, while
// every commit in its group waited. So automerge is off (migration 10) and
// the upkeep merges in steps of mergePages pages, each its own short
// write, until a step finds nothing to do. Commits queue between steps,
// not behind the whole merge. (If the upkeep fell far behind, FTS5's
// crisis merge, at 16 segments of one size, would still merge in the
// write that adds the 16th.)
//
// Most merges are small, but now and then segments of a size near the
// whole index's meet (with a million jobs, seconds of CPU), and merging
// them flat out took half the machine from the mail it was accepting.
// So the upkeep merges in pauses of the mail (mergeIdle in upkeep.go), for
// at most mergeBudget a round, and leaves the rest to the next round, half
// a second on: as PostgreSQL's autovacuum paces itself, merging takes a
// bounded share of one core (about a sixth) for as long as it needs, in
// the idle time an office gateway has plenty of, and at least one round
// every mergeAtLeast when the mail never pauses. Search stays right
// throughout; only its speed depends on the merging. Its cost is about
// 0.1 ms of CPU per job on a database of a million (0.58 s for 6,000 new
// jobs, measured with the steps timed one by one).
const (
	mergePages     = 16
	mergeBudget    = 100 * time.Millisecond
	bulkMergePages = 2000
	mergeStep      = `INSERT INTO jobs_search (jobs_search, rank) VALUES ('merge', ?)`
	totalChanges   = `SELECT total_changes()`
)

// mergeSearch merges the search index's segments, pages per write, until
// a step does no work or, with a budget, the budget is spent. It reports
// whether there may be more to merge.
func (db *DB) mergeSearch(ctx context.Context, pages int, budget time.Duration) (more bool, err error) {
	start := time.Now()
	for ctx.Err() == nil {
		if budget > 0 && time.Since(start) >= budget {
			return true, nil
		}
		var worked bool
		err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			var before, after int64
			if err := tx.QueryRowContext(ctx, totalChanges).Scan(&before); err != nil {
				return err
			}
			if _, err := db.execTx(ctx, tx, mergeStep, pages); err != nil {
				return err
			}
			if err := tx.QueryRowContext(ctx, totalChanges).Scan(&after); err != nil {
				return err
			}
			// FTS5's own test: a step that wrote nothing changes the
			// count by less than 2.
			worked = after-before >= 2
			return nil
		})
		if err != nil {
			return true, db.fail(fmt.Errorf("merge the search index: %w", err))
		}
		if !worked {
			return false, nil
		}
	}
	return true, ctx.Err()
}

// indexPending indexes the jobs in search_pending, batch per write, until
// none is left. A write that fails leaves its jobs listed for the next
// call.
func (db *DB) indexPending(ctx context.Context, batch int) error {
	for {
		n, err := db.indexSome(ctx, batch)
		if err != nil || n < int64(batch) {
			return err
		}
	}
}

// indexSome indexes, in one write, the first batch jobs of search_pending
// and reports how many there were.
func (db *DB) indexSome(ctx context.Context, batch int) (int64, error) {
	var n int64
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		keys, err := indexedKeysOf(ctx, tx, batch)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if _, err := db.execTx(ctx, tx, unindexKey, k); err != nil {
				return fmt.Errorf("index jobs for search: %w", err)
			}
		}
		for _, q := range []string{keyPending, indexBatchQ} {
			if _, err := db.execTx(ctx, tx, q, batch); err != nil {
				return fmt.Errorf("index jobs for search: %w", err)
			}
		}
		res, err := db.execTx(ctx, tx, unlistBatch, batch)
		if err != nil {
			return fmt.Errorf("index jobs for search: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, db.fail(err)
	}
	return n, nil
}

func indexedKeysOf(ctx context.Context, tx *sql.Tx, batch int) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, indexedKeys, batch)
	if err != nil {
		return nil, fmt.Errorf("list jobs to index: %w", err)
	}
	defer rows.Close()
	var keys []int64
	for rows.Next() {
		var k int64
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("list jobs to index: %w", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list jobs to index: %w", err)
	}
	return keys, nil
}

// sqlitePhrase quotes a term as an FTS5 string, in which only the double
// quote is special.
func sqlitePhrase(t string) string { return `"` + strings.ReplaceAll(t, `"`, `""`) + `"` }

// postgresSearchIndex creates pg_trgm where the database user may, and the
// trigram index when pg_trgm is there, in whatever schema it was created
// (hence the qualified operator class). It is run by migration 9 and
// again at every open while the index is missing, so that an extension an
// administrator creates later is used from the next start. A refusal to
// create the extension is not an error: search works without the index.
var postgresSearchIndex = []string{
	`DO $$
	BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
			CREATE EXTENSION pg_trgm;
		END IF;
	EXCEPTION WHEN insufficient_privilege OR undefined_file OR undefined_object OR feature_not_supported THEN
		RAISE NOTICE 'pg_trgm is not available (%): console search is not indexed', SQLERRM;
	END $$`,
	`DO $$
	DECLARE s name;
	BEGIN
		SELECT n.nspname INTO s FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
		IF s IS NOT NULL AND to_regclass('jobs_search_trgm') IS NULL THEN
			EXECUTE format('CREATE INDEX jobs_search_trgm ON jobs USING gin (search %I.gin_trgm_ops)', s);
		END IF;
	END $$`,
}

func postgresBuildSearchIndex(ctx context.Context, tx *sql.Tx) error {
	return execSearchIndex(ctx, tx, postgresSearchIndex)
}

func postgresHasSearchIndex(ctx context.Context, db *sql.DB) (bool, error) {
	var ok bool
	err := db.QueryRowContext(ctx, `SELECT to_regclass('jobs_search_trgm') IS NOT NULL`).Scan(&ok)
	return ok, err
}

// postgresMatch is LIKE, which the trigram index serves; the column and
// the term are both lowercased, so it matches what strpos does.
const postgresMatch = `search LIKE ? ESCAPE '\'`

// likePattern is '%term%' with LIKE's own characters taken literally.
func likePattern(t string) string {
	return "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(t) + "%"
}

// openSearchIndex finds out, after the migrations, whether text search has
// its index, and on PostgreSQL tries once more to build a missing one.
func (db *DB) openSearchIndex(ctx context.Context) error {
	ok, err := db.d.hasSearchIndex(ctx, db.wr)
	if err != nil {
		return db.fail(fmt.Errorf("look for the search index: %w", err))
	}
	if !ok && db.d.dollar {
		err := db.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, db.d.migrateLock); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
			return db.d.searchIndex(ctx, tx)
		})
		if err != nil {
			return db.fail(err)
		}
		if ok, err = db.d.hasSearchIndex(ctx, db.wr); err != nil {
			return db.fail(fmt.Errorf("look for the search index: %w", err))
		}
	}
	db.indexed = ok
	return nil
}

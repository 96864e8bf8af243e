// Package bench holds faxbridge's benchmarks of what it promises: that it
// accepts fax mail durably about as fast as a mail server accepts the same
// mail, and that a document streams through without the daemon's memory
// growing with its size. It has no code of its own; run it with
//
//	go test -run '^$' -bench . -count 5 ./bench/
//
// BenchmarkAccept reports messages per second for a typical fax mail, next
// to a reference server that only fsyncs each message (the least a durable
// 250 costs); BenchmarkAcceptSizes reports MB/s, allocations and the rise of
// peak resident memory for 100 KB, 5 MB and 30 MB messages; BenchmarkAge
// compares the store's cost of one fax on a database of 1,000 finished jobs
// with one of many more (FAXBRIDGE_BENCH_FINISHED).
//
// Throughput on a shared machine is noisy: compare results of one run with
// each other (faxbridge against the reference) and take medians over -count
// runs. The shell script scripts/bench measures the built binary against
// Postfix on the same machine, with Postfix's own load generator.
package bench

package document

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func BenchmarkBuildMerge(b *testing.B) {
	dir := b.TempDir()
	var inputs []Input
	for i, pages := range []int{1, 2, 5} {
		p := filepath.Join(dir, string(rune('a'+i))+".pdf")
		writePDF(b, p, pages, 0)
		inputs = append(inputs, input(b, p))
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := Build(context.Background(), inputs, Options{TempDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		os.Remove(res.Path)
	}
}

// BenchmarkBuildLarge measures a scan-sized PDF (one 5500x5500 grey image,
// about 30 MB) alone (validation and copy) and merged with a 1-page PDF.
// It reports the peak heap over the run, which the allocation counts hide.
func BenchmarkBuildLarge(b *testing.B) {
	dir := b.TempDir()
	big, small := filepath.Join(dir, "big.pdf"), filepath.Join(dir, "small.pdf")
	writePDF(b, big, 1, 5500)
	writePDF(b, small, 1, 0)
	for _, bc := range []struct {
		name   string
		inputs []Input
	}{
		{"single", []Input{input(b, big)}},
		{"merge", []Input{input(b, small), input(b, big)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(bc.inputs[len(bc.inputs)-1].Size)
			var peak uint64
			for b.Loop() {
				runtime.GC()
				var base runtime.MemStats
				runtime.ReadMemStats(&base)
				stop := make(chan struct{})
				done := make(chan uint64)
				go func() { // samples the heap while Build runs
					var m runtime.MemStats
					var hi uint64
					for {
						runtime.ReadMemStats(&m)
						hi = max(hi, m.HeapInuse)
						select {
						case <-stop:
							done <- hi
							return
						default:
							runtime.Gosched()
						}
					}
				}()
				res, err := Build(context.Background(), bc.inputs, Options{TempDir: dir})
				close(stop)
				hi := <-done
				if err != nil {
					b.Fatal(err)
				}
				os.Remove(res.Path)
				if hi > base.HeapInuse {
					peak = max(peak, hi-base.HeapInuse)
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

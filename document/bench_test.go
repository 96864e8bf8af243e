package document

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
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

// BenchmarkValidate compares the structural check (what Build runs on
// every PDF) with pdfcpu's full read and validation (what it ran before)
// on the sizes of issue 12's measurements: an 85 KB one-page PDF, a 1 MB
// ten-page PDF and a 37 MB scan. It reports the peak heap of one run.
func BenchmarkValidate(b *testing.B) {
	dir := b.TempDir()
	files := []struct {
		name             string
		pages, imageSide int
	}{
		{"85KB-1page", 1, 290},
		{"1MB-10pages", 10, 1020},
		{"37MB-1page", 1, 6080},
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name+".pdf")
		writePDF(b, path, f.pages, f.imageSide)
		st, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range []struct {
			name string
			run  func() (int, error)
		}{
			{"structural", func() (int, error) { info, err := checkPDF(path); return info.pages, err }},
			{"pdfcpu", func() (int, error) {
				f, err := os.Open(path)
				if err != nil {
					return 0, err
				}
				defer f.Close()
				ctx, err := api.ReadAndValidate(f, config(model.VALIDATE))
				if err != nil {
					return 0, err
				}
				return ctx.PageCount, nil
			}},
		} {
			b.Run(f.name+"/"+m.name, func(b *testing.B) {
				b.SetBytes(st.Size())
				b.ReportAllocs()
				peak := peakHeap(b, func() {
					if n, err := m.run(); err != nil || n != f.pages {
						b.Fatalf("%d pages, %v", n, err)
					}
				})
				for b.Loop() {
					if n, err := m.run(); err != nil || n != f.pages {
						b.Fatalf("%d pages, %v", n, err)
					}
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			})
		}
	}
}

// peakHeap runs fn once and returns how far the heap in use rose above
// where it was, sampled while fn runs.
func peakHeap(b *testing.B, fn func()) uint64 {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	stop := make(chan struct{})
	done := make(chan uint64)
	go func() {
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
	fn()
	close(stop)
	hi := <-done
	if hi < base.HeapInuse {
		return 0
	}
	return hi - base.HeapInuse
}

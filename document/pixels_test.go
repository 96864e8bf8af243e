package document

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	faxbridge "github.com/faxbridge/faxbridge"
)

// TestMessagePixelBudget: ten blank Group 4 pages of 25 megapixels each
// (each page within MaxImagePixels, the file a few KB) are refused from
// their headers, before any costly conversion; a real fax's pages fit.
func TestMessagePixelBudget(t *testing.T) {
	dir := t.TempDir()
	var bomb []tiffPage
	for range 10 {
		bomb = append(bomb, tiffPage{w: 5000, h: 5000, xdpi: 400, ydpi: 400, g4: true})
	}
	bombPath := filepath.Join(dir, "bomb.tif")
	writeTIFF(t, bombPath, bomb, false)
	st, _ := os.Stat(bombPath)
	t.Logf("bomb: %d pages, %d bytes", len(bomb), st.Size())

	fine := tiffPage{w: 1728, h: 2200, xdpi: 204, ydpi: 196, g4: true}
	faxPath := filepath.Join(dir, "fax.tif")
	writeTIFF(t, faxPath, []tiffPage{fine, fine, fine}, false)
	tiff := func(path string) Input {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return Input{Name: filepath.Base(path), Kind: "tiff", Path: path, Size: st.Size()}
	}

	out := t.TempDir()
	res, err := Build(context.Background(), []Input{tiff(bombPath)}, Options{TempDir: out})
	want := "the images in this message have 250 megapixels in all; the limit is 200 megapixels per fax; send fewer pages, scan at a lower resolution, or send a PDF"
	if res != nil || faxbridge.ErrorCode(err) != faxbridge.ETooLarge || faxbridge.ErrorMessage(err) != want {
		t.Errorf("bomb: %+v, %v", res, err)
	}
	if left, _ := os.ReadDir(out); len(left) != 0 {
		t.Errorf("files left: %v", left)
	}

	// The budget is per message: pages of several images count together.
	res, err = Build(context.Background(), []Input{tiff(faxPath), tiff(faxPath)}, Options{TempDir: out, MaxMessagePixels: 20_000_000})
	if faxbridge.ErrorCode(err) != faxbridge.ETooLarge {
		t.Errorf("two 3-page faxes (22.8 megapixels) under a 20-megapixel budget: %+v, %v", res, err)
	}
	res, err = Build(context.Background(), []Input{tiff(faxPath)}, Options{TempDir: out})
	if err != nil || res.Pages != 3 {
		t.Fatalf("a 3-page fine fax: %+v, %v", res, err)
	}
	os.Remove(res.Path)
}

// A total just over the limit reads larger than the limit.
func TestMegapixels(t *testing.T) {
	for _, c := range []struct {
		n    int64
		up   bool
		want string
	}{
		{200_000_000, false, "200"}, {225_000_000, true, "225"}, {4_002_000, true, "4.1"},
		{4_000_001, true, "4.1"}, {4_099_999, false, "4"}, {2_500_000, false, "2.5"}, {0, true, "0"},
	} {
		if got := megapixels(c.n, c.up); got != c.want {
			t.Errorf("megapixels(%d, %v) = %q, want %q", c.n, c.up, got, c.want)
		}
	}
}

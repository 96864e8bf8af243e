package document

import (
	"os"
	"path/filepath"
	"testing"
)

func TestIsLogo(t *testing.T) {
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	writePNG(t, path("icon.png"), 96, 96, 0)
	writePNG(t, path("pixel.png"), 1, 1, 0)
	writeJPEG(t, path("logo.jpg"), 180, 150, 0, 0)
	writeJPEG(t, path("mid.jpg"), 300, 300, 0, 0)
	writeJPEG(t, path("photo.jpg"), 800, 600, 0, 0)
	writeJPEG(t, path("banner.jpg"), 1200, 150, 0, 0)
	writeJPEG(t, path("tall.jpg"), 100, 150, 0, 6) // shown 150 wide
	writeTIFF(t, path("fax.tif"), []tiffPage{{w: 1728, h: 2200, xdpi: 200, ydpi: 200, g4: true}}, false)
	writePDF(t, path("doc.pdf"), 1, 0)
	os.WriteFile(path("broken.png"), []byte("\x89PNG\r\n\x1a\nbroken"), 0o600)

	cases := []struct {
		file, kind        string
		inline, inRelated bool
		minPixels         int
		logo              bool
		why               string
	}{
		{"icon.png", "png", true, true, 0, true, "signature-size image (96×96)"},
		{"icon.png", "png", false, false, 0, true, "small image (96×96), probably a logo"},
		{"pixel.png", "png", false, false, 0, true, "small image (1×1), probably a logo"},
		{"logo.jpg", "jpeg", false, false, 0, true, "small image (180×150), probably a logo"},
		{"logo.jpg", "jpeg", false, false, 100 * 100, false, ""}, // threshold lowered
		{"mid.jpg", "jpeg", false, false, 0, false, ""},
		{"mid.jpg", "jpeg", true, false, 0, false, ""}, // inline alone: Apple Mail attaches so
		{"mid.jpg", "jpeg", true, true, 0, true, "signature-size image (300×300)"},
		{"photo.jpg", "jpeg", true, true, 0, false, ""},
		{"banner.jpg", "jpeg", true, true, 0, true, "banner image (1200×150) in the message body"},
		{"banner.jpg", "jpeg", false, false, 0, false, ""},
		{"tall.jpg", "jpeg", false, false, 0, true, "small image (150×100), probably a logo"},
		{"fax.tif", "tiff", true, true, 0, false, ""},
		{"doc.pdf", "pdf", true, true, 0, false, ""},
		{"doc.pdf", "png", true, true, 0, false, ""}, // a PDF, whatever the label
		{"broken.png", "png", false, false, 0, false, ""},
		{"broken.png", "png", true, true, 0, true, "image in the message body that cannot be read"},
	}
	for _, tc := range cases {
		logo, why := IsLogo(path(tc.file), tc.kind, tc.inline, tc.inRelated, tc.minPixels)
		if logo != tc.logo || why != tc.why {
			t.Errorf("IsLogo(%s, inline=%t, related=%t, %d) = %t %q, want %t %q",
				tc.file, tc.inline, tc.inRelated, tc.minPixels, logo, why, tc.logo, tc.why)
		}
	}
}

func TestSkipLogos(t *testing.T) {
	dir := t.TempDir()
	icon, photo, pdf := filepath.Join(dir, "icon.png"), filepath.Join(dir, "photo.jpg"), filepath.Join(dir, "doc.pdf")
	writePNG(t, icon, 50, 50, 0)
	writeJPEG(t, photo, 800, 600, 0, 0)
	writePDF(t, pdf, 1, 0)
	cand := func(path, kind string, related bool) Candidate {
		return Candidate{Input: imageInput(t, path, kind), Inline: related, InRelated: related}
	}
	cases := []struct {
		name  string
		cands []Candidate
		want  []string
	}{
		{"logo beside a document", []Candidate{cand(icon, "png", true), cand(pdf, "pdf", false)},
			[]string{"signature-size image (50×50)", ""}},
		{"logo beside a photo", []Candidate{cand(photo, "jpeg", false), cand(icon, "png", false)},
			[]string{"", "small image (50×50), probably a logo"}},
		// The only thing in the message: the sender meant it.
		{"logo alone", []Candidate{cand(icon, "png", false)}, []string{""}},
		// An image that only decorates the HTML body stays skipped even then.
		{"logos only", []Candidate{cand(icon, "png", true), cand(icon, "png", false)}, []string{"signature-size image (50×50)", ""}},
		{"html decoration only", []Candidate{cand(icon, "png", true)}, []string{"signature-size image (50×50)"}},
		{"nothing", nil, []string{}},
	}
	for _, tc := range cases {
		got := SkipLogos(tc.cands, 0)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
				break
			}
		}
	}
}

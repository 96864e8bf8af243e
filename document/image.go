package document

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"image/png"
	"os"
	"strings"

	faxbridge "github.com/faxbridge/faxbridge"
	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// PaperFor returns the paper size ("letter" or "a4") usual in a country,
// given as an ISO 3166-1 alpha-2 code such as the region of a phone number.
// An unknown or empty code gives "letter", the default of Options.Paper.
func PaperFor(region string) string {
	switch strings.ToUpper(strings.TrimSpace(region)) {
	case "", "US", "CA", "MX", "PR", "CL", "CO", "VE", "CR", "GT", "PA", "DO", "SV", "NI", "HN", "PH", "BZ":
		// The Americas (most of them) and the Philippines use Letter.
		return "letter"
	}
	return "a4"
}

// paper returns the portrait page size, in points, for an Options.Paper
// value.
func paper(name string) (types.Dim, error) {
	switch strings.ToLower(name) {
	case "", "letter":
		return types.Dim{Width: 612, Height: 792}, nil
	case "a4":
		return types.Dim{Width: 595.28, Height: 841.89}, nil
	}
	return types.Dim{}, fmt.Errorf("unknown paper size %q (want letter or a4)", name)
}

// Layout constants, in points.
const (
	// margin keeps fitted images clear of the edge strip that fax machines
	// do not print.
	margin = 18
	// pageSlack: an image whose physical size is within this factor of
	// the page is a page scan and fills the page edge to edge. A
	// 1728-pixel fax line at 200 dpi is 8.64 inches, a little wider than
	// Letter; A4 and Letter scans also land on each other's paper.
	pageSlack = 1.1
)

// place lays one picture out on paper: the page size (landscape when the
// image, as displayed, is wider than tall) and the matrix that draws the
// image's unit square on it.
//
// The physical size comes from the resolution when the file gives one;
// otherwise one pixel is one point (72 dpi), as pdfcpu and most viewers
// assume. A page-sized scan fills the page; anything larger is shrunk to
// fit inside the margins; anything smaller keeps its size. Images are
// never enlarged, so a small image is not blown up into a blur. The image
// is centred.
func place(p picture, paper types.Dim) (types.Dim, [6]float64) {
	xdpi, ydpi, known := p.dpi()
	w, h := float64(p.w)*72/xdpi, float64(p.h)*72/ydpi // stored, in points
	turned := p.orient >= 5                            // EXIF 5 to 8 swap the axes
	if turned {
		w, h = h, w
	}
	page := paper
	if w > h {
		page = types.Dim{Width: paper.Height, Height: paper.Width}
	}
	var s float64
	if known && w <= page.Width*pageSlack && h <= page.Height*pageSlack {
		s = min(1, page.Width/w, page.Height/h)
	} else {
		s = min(1, (page.Width-2*margin)/w, (page.Height-2*margin)/h)
	}
	dw, dh := w*s, h*s
	x, y := (page.Width-dw)/2, (page.Height-dh)/2
	return page, orientMatrix(p.orient, x, y, dw, dh)
}

// orientMatrix maps the image's unit square (stored pixels, first row at
// the top) onto the rectangle x, y, dw, dh as the orientation (EXIF or
// TIFF tag 274) says it is to be displayed.
func orientMatrix(o int, x, y, dw, dh float64) [6]float64 {
	switch o {
	case 2: // mirrored left to right
		return [6]float64{-dw, 0, 0, dh, x + dw, y}
	case 3: // upside down
		return [6]float64{-dw, 0, 0, -dh, x + dw, y + dh}
	case 4: // mirrored top to bottom
		return [6]float64{dw, 0, 0, -dh, x, y + dh}
	case 5: // first row is the left column, first column the top row
		return [6]float64{0, -dh, -dw, 0, x + dw, y + dh}
	case 6: // turned a quarter clockwise for display
		return [6]float64{0, -dh, dw, 0, x, y + dh}
	case 7: // first row is the right column, first column the bottom row
		return [6]float64{0, dh, dw, 0, x, y}
	case 8: // turned a quarter counter-clockwise for display
		return [6]float64{0, dh, -dw, 0, x + dw, y}
	}
	return [6]float64{dw, 0, 0, dh, x, y}
}

// convert writes a PDF with one page per picture of the image at in.Path.
// pdfcpu decodes the image (TIFF pages, PNG; Group 3 fax pages are decoded
// by imageResources) or embeds it as it is (JPEG) and writes the PDF; the page layout is ours, because pdfcpu's import
// places every image of a file alike and knows neither resolution nor
// orientation.
func convert(ctx context.Context, in Input, kind string, pics []picture, opt Options) (path string, err error) {
	dim, err := paper(opt.Paper)
	if err != nil {
		return "", err
	}
	if kind == "jpeg" {
		// pdfcpu embeds a JPEG's bytes without decoding them, so a
		// truncated photo would reach the fax provider; decode it once.
		if err := checkDecodes(in.Path, kind); err != nil {
			return "", err
		}
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: pdfcpu panic: %v", errUnreadable, p)
		}
	}()
	conf := config(model.IMPORTIMAGES)
	conf.Limits.MaxImagePixels = int64(opt.MaxImagePixels)
	pc, err := pdfcpu.CreateContextWithXRefTable(conf, &dim)
	if err != nil {
		return "", fmt.Errorf("create pdf: %w", err)
	}
	pagesRef, err := pc.Pages()
	if err != nil {
		return "", fmt.Errorf("create pdf: %w", err)
	}
	pages, err := pc.DereferenceDict(*pagesRef)
	if err != nil || pages == nil {
		return "", fmt.Errorf("create pdf: page tree: %v", err)
	}
	res, err := imageResources(pc, in.Path, pics)
	if err != nil {
		return "", err
	}
	if len(res) != len(pics) {
		return "", fmt.Errorf("%w: %d pages decoded, %d in the header", errUnreadable, len(res), len(pics))
	}
	for i, r := range res {
		p := pics[i]
		if r.Width != p.w || r.Height != p.h {
			return "", fmt.Errorf("%w: page %d is %dx%d, header says %dx%d", errUnreadable, i+1, r.Width, r.Height, p.w, p.h)
		}
		size, m := place(p, dim)
		content := fmt.Sprintf("q %.4f %.4f %.4f %.4f %.4f %.4f cm /%s Do Q", m[0], m[1], m[2], m[3], m[4], m[5], r.Res.ID)
		sd, err := pc.XRefTable.NewStreamDictForBuf([]byte(content))
		if err != nil {
			return "", err
		}
		if err := sd.Encode(); err != nil {
			return "", err
		}
		contentRef, err := pc.XRefTable.IndRefForNewObject(*sd)
		if err != nil {
			return "", err
		}
		page := types.Dict{
			"Type":     types.Name("Page"),
			"Parent":   *pagesRef,
			"MediaBox": types.RectForDim(size.Width, size.Height).Array(),
			"Resources": types.Dict{
				"XObject": types.Dict{r.Res.ID: *r.Res.IndRef},
			},
			"Contents": *contentRef,
		}
		if err := addPage(pc, pages, page); err != nil {
			return "", err
		}
	}
	return writeContext(pc, opt.TempDir, "image-*.pdf")
}

// addPage appends a page dictionary to the page tree of pc.
func addPage(pc *model.Context, pages types.Dict, page types.Dict) error {
	ref, err := pc.XRefTable.IndRefForNewObject(page)
	if err != nil {
		return err
	}
	if err := model.AppendPageTree(ref, 1, pages); err != nil {
		return err
	}
	pc.PageCount++
	return nil
}

// writeContext writes pc to a new temporary file and returns its path.
func writeContext(pc *model.Context, dir, pattern string) (string, error) {
	out, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	err = api.WriteContext(pc, out)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(out.Name())
		return "", fmt.Errorf("write pdf: %w", err)
	}
	return out.Name(), nil
}

// checkDecodes decodes the whole image and drops the pixels.
func checkDecodes(path, kind string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	switch kind {
	case "jpeg":
		_, err = jpeg.Decode(r)
	case "png":
		_, err = png.Decode(r)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", errUnreadable, err)
	}
	return nil
}

// imageError turns a probe or conversion failure into what the sender is
// told.
func imageError(name, kind string, err error) error {
	switch {
	case errors.Is(err, errUnsupported) && kind == "tiff":
		return faxbridge.WrapError(faxbridge.EBadContent, err,
			"attachment %q is a TIFF image in a compression that cannot be converted; send it as a PDF or as a Group 4 fax TIFF", name)
	case errors.Is(err, errUnreadable), errors.Is(err, errUnsupported):
		return faxbridge.WrapError(faxbridge.EBadContent, err,
			"attachment %q is not a readable image; export it again or send it as a PDF", name)
	}
	return err
}

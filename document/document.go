// Package document turns the documents found in a message into the one PDF
// a fax provider fetches: it validates each, converts images (TIFF, JPEG,
// PNG) to pages of the fax's paper size, renders a cover page from the
// message text, counts pages, refuses what cannot be faxed with a sentence
// the sender can act on, and merges everything into one file. PDF handling
// is pdfcpu's.
package document

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	faxbridge "github.com/faxbridge/faxbridge"
	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// Input is one document to fax, as the message walk found it.
type Input struct {
	Name   string // the attachment's file name, for messages to the sender
	Kind   string // "pdf", "tiff", "jpeg" or "png"; the bytes win when they disagree
	Path   string
	Size   int64
	SHA256 string // hex; checked against the bytes when set
}

// Result is the file to fax. Build creates it in Options.TempDir and the
// caller owns (and removes) it, also when it is a byte copy of one input.
type Result struct {
	Path       string
	Pages      int // all pages, the cover's included
	CoverPages int // pages of the cover, first in the file; 0 without one
	Bytes      int64
	SHA256     string
	Docs       []faxbridge.DocumentInfo // the inputs, in order; not the cover
}

// Defaults of Options.
const (
	DefaultMaxCoverPages  = 3
	DefaultMaxImagePixels = 25_000_000
	// DefaultMaxMessagePixels: 200 megapixels in all, about 50 fine-mode
	// fax pages or Letter pages scanned at 200 dpi, or 12 at 400 dpi.
	DefaultMaxMessagePixels = 200_000_000
)

// Options for Build (and Cover).
type Options struct {
	TempDir  string // "" for the system temp dir
	MaxPages int    // pages per fax, the cover's included; 0 = unlimited
	// MaxBytes limits the documents as sent (the sum of Input.Size) and
	// the file to fax; 0 = unlimited.
	MaxBytes int64
	// Paper is the page size for images and the cover: "letter" (the
	// default) or "a4". PaperFor picks one by country. PDFs keep theirs.
	Paper string
	// MaxImagePixels bounds one image (or TIFF page), because converting
	// holds its pixels in memory: measured peaks are about 13 bytes per
	// pixel for a colour PNG, 3 for a JPEG (decoded once to check it) and
	// a bilevel TIFF page. 0 for DefaultMaxImagePixels (25 megapixels:
	// 24-megapixel photos and 400-dpi page scans fit).
	MaxImagePixels int
	// MaxMessagePixels bounds the pixels of all images and TIFF pages
	// together, because converting costs CPU for every pixel (about 15 ms
	// a megapixel), and a TIFF of blank Group 4 pages codes 25 megapixels
	// in a few hundred bytes. 0 for DefaultMaxMessagePixels.
	MaxMessagePixels int64
	// Cover, when set, puts a cover page (see Cover) before the documents,
	// with CoverInfo.Pages set to their page count. Build renders it even
	// without inputs: a message of text alone faxes its cover.
	Cover         *CoverInfo
	MaxCoverPages int // 0 for DefaultMaxCoverPages
}

// doc is one input after inspection.
type doc struct {
	in        Input
	kind      string // from the bytes
	pages     int
	encrypted bool      // owner-password-only: opens without a password
	pics      []picture // images: one per page
	path      string    // the PDF to merge: in.Path, or a converted/decrypted copy
}

// Build validates the inputs, in order, and produces the file to fax:
// the cover (when Options.Cover is set), then every page of every input.
// One PDF alone is passed through byte for byte: the provider must fax
// exactly what the sender sent. Images become pages of Options.Paper (see
// place). Anything else is merged into a new PDF.
//
// Each input is identified by its bytes; Input.Kind only names what the
// message claimed. Limits are checked from headers before anything is
// converted: the bytes sent, the pixels of each image, the pages.
//
// A PDF with a user (open) password is refused: neither we nor the
// provider can render it. One encrypted with only an owner password opens
// without a password in every viewer, and pdfcpu reads it the same way, so
// it is accepted: passed through as sent, or decrypted for a merge (the
// owner password only restricts editing, which a fax does not need).
//
// Errors the sender can fix carry code EBadContent or ETooLarge and say
// which attachment and what to do; others are internal.
func Build(ctx context.Context, inputs []Input, opt Options) (res *Result, err error) {
	if len(inputs) == 0 && opt.Cover == nil {
		return nil, faxbridge.Errorf(faxbridge.EBadContent, "no PDF, TIFF or image attachment was found")
	}
	if _, err := paper(opt.Paper); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	if opt.MaxImagePixels <= 0 {
		opt.MaxImagePixels = DefaultMaxImagePixels
	}
	if opt.MaxMessagePixels <= 0 {
		opt.MaxMessagePixels = DefaultMaxMessagePixels
	}
	if opt.MaxBytes > 0 {
		var sent int64
		for _, in := range inputs {
			sent += in.Size
		}
		if sent > opt.MaxBytes {
			return nil, faxbridge.Errorf(faxbridge.ETooLarge,
				"the documents are %s; the limit is %s per fax", humanBytes(sent), humanBytes(opt.MaxBytes))
		}
	}
	var temps []string // intermediate files, removed on return
	defer func() {
		for _, p := range temps {
			_ = os.Remove(p)
		}
	}()
	docs := make([]doc, 0, len(inputs))
	total := 0
	for _, in := range inputs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
		d, err := identify(in, opt)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
		total += d.pages
	}
	if opt.MaxPages > 0 && total > opt.MaxPages {
		return nil, faxbridge.Errorf(faxbridge.ETooLarge,
			"the documents have %d pages; the limit is %d pages per fax", total, opt.MaxPages)
	}
	if err := checkPixels(docs, opt.MaxMessagePixels); err != nil {
		return nil, err
	}

	var cover string
	res = &Result{}
	if opt.Cover != nil {
		c := *opt.Cover
		c.Pages = total
		cover, res.CoverPages, err = Cover(c, opt)
		if err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
		temps = append(temps, cover)
		if opt.MaxPages > 0 && total+res.CoverPages > opt.MaxPages {
			return nil, faxbridge.Errorf(faxbridge.ETooLarge,
				"the fax would have %d pages with its cover page; the limit is %d pages per fax", total+res.CoverPages, opt.MaxPages)
		}
	}
	res.Pages = total + res.CoverPages
	for i := range docs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
		if docs[i].pics == nil {
			continue
		}
		p, err := convert(ctx, docs[i].in, docs[i].kind, docs[i].pics, opt)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("build: %w", ctx.Err())
			}
			return nil, imageError(docs[i].in.Name, docs[i].kind, err)
		}
		temps = append(temps, p)
		docs[i].path = p
	}

	for _, d := range docs {
		res.Docs = append(res.Docs, faxbridge.DocumentInfo{
			Name: d.in.Name, Type: d.kind, Bytes: d.in.Size, Pages: d.pages, SHA256: d.in.SHA256,
		})
	}
	if cover == "" && len(docs) == 1 && docs[0].path == docs[0].in.Path {
		return passThrough(docs[0].in, opt, res)
	}
	out, err := os.CreateTemp(opt.TempDir, "fax-*.pdf")
	if err != nil {
		return nil, fmt.Errorf("build: create output: %w", err)
	}
	defer func() {
		if err != nil {
			_ = out.Close()
			_ = os.Remove(out.Name())
		}
	}()

	for i := range docs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
		if docs[i].kind == "pdf" {
			// pdfcpu will hold all of it: bound what that costs.
			if err := checkMergeable(docs[i].path); errors.Is(err, errTooComplex) {
				return nil, tooComplex(docs[i].in.Name, err)
			} else if err != nil && !errors.Is(err, errDamaged) && !errors.Is(err, errPDFUnsupported) {
				return nil, fmt.Errorf("build: %w", err)
			}
		}
		if !docs[i].encrypted {
			continue
		}
		// pdfcpu refuses to merge an encrypted file, even one that opens
		// without a password; such a file may be rewritten without its
		// encryption (which is all its owner password protects).
		p, err := decrypt(docs[i].path, opt.TempDir)
		if err != nil {
			return nil, damaged(docs[i].in.Name, err)
		}
		temps = append(temps, p)
		docs[i].path = p
	}
	var paths []string
	if cover != "" {
		paths = append(paths, cover)
	}
	for _, d := range docs {
		paths = append(paths, d.path)
	}
	if len(paths) == 1 {
		// A converted image or a cover alone: already a PDF of our own.
		_, _, err = copyFile(out, paths[0])
	} else {
		err = merge(out, paths)
	}
	if err != nil {
		return nil, err
	}
	if err := out.Sync(); err != nil {
		return nil, fmt.Errorf("build: write output: %w", err)
	}
	if res.Bytes, res.SHA256, err = hashFile(out.Name()); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	// A merge that loses pages must not be faxed as if complete.
	if n, err := PageCount(out.Name()); err != nil || n != res.Pages {
		return nil, fmt.Errorf("build: merged PDF has %d pages, expected %d: %v", n, res.Pages, err)
	}
	for i := range res.Docs {
		if res.Docs[i].SHA256 == "" {
			if n, sum, err := hashFile(docs[i].in.Path); err == nil {
				res.Docs[i].Bytes, res.Docs[i].SHA256 = n, sum
			}
		}
	}
	if opt.MaxBytes > 0 && res.Bytes > opt.MaxBytes {
		// Images can grow in conversion (a PNG screenshot, a G4 fax page).
		return nil, faxbridge.Errorf(faxbridge.ETooLarge,
			"the fax document is %s after conversion; the limit is %s per fax; send fewer or smaller images",
			humanBytes(res.Bytes), humanBytes(opt.MaxBytes))
	}
	if err := out.Close(); err != nil {
		return nil, fmt.Errorf("build: close output: %w", err)
	}
	res.Path = out.Name()
	return res, nil
}

// identify reads an input's bytes to learn what it is, and its headers to
// count its pages and check its limits.
func identify(in Input, opt Options) (doc, error) {
	kind, err := sniffFile(in.Path)
	if err != nil {
		return doc{}, fmt.Errorf("build: %w", err)
	}
	if kind == "" {
		kind = in.Kind // damaged: let the claimed kind's reader say how
	}
	switch kind {
	case "pdf":
		d, err := inspect(in)
		d.kind = kind
		return d, err
	case "tiff", "jpeg", "png":
	default:
		return doc{}, faxbridge.Errorf(faxbridge.EBadContent,
			"attachment %q is not a PDF, TIFF, JPEG or PNG file; send it as a PDF", in.Name)
	}
	pics, err := probe(in.Path, kind)
	if err != nil {
		return doc{}, imageError(in.Name, kind, err)
	}
	for _, p := range pics {
		if px := int64(p.w) * int64(p.h); px > int64(opt.MaxImagePixels) {
			return doc{}, faxbridge.Errorf(faxbridge.ETooLarge,
				"attachment %q is an image of %d×%d pixels; the limit is %d megapixels; send a smaller image or a PDF",
				in.Name, p.w, p.h, opt.MaxImagePixels/1_000_000)
		}
	}
	return doc{in: in, kind: kind, pages: len(pics), pics: pics, path: in.Path}, nil
}

// checkPixels refuses images whose pixels together exceed limit, from
// their headers, before any is converted.
func checkPixels(docs []doc, limit int64) error {
	var px int64
	for _, d := range docs {
		for _, p := range d.pics {
			px += int64(p.w) * int64(p.h)
		}
	}
	if px > limit {
		return faxbridge.Errorf(faxbridge.ETooLarge,
			"the images in this message have %s megapixels in all; the limit is %s megapixels per fax; send fewer pages, scan at a lower resolution, or send a PDF",
			megapixels(px, true), megapixels(limit, false))
	}
	return nil
}

// megapixels says n pixels in megapixels to a tenth, rounded up or down,
// without a trailing ".0". A total over a limit is rounded up and the
// limit down, so that the sender never reads "4 megapixels; the limit is 4
// megapixels".
func megapixels(n int64, up bool) string {
	tenths := n / 100_000
	if up && n%100_000 != 0 {
		tenths++
	}
	if tenths%10 == 0 {
		return fmt.Sprint(tenths / 10)
	}
	return fmt.Sprintf("%d.%d", tenths/10, tenths%10)
}

// PageCount reads and validates the PDF at path and returns its pages. A
// PDF that cannot be read is an EBadContent error naming the file.
func PageCount(path string) (int, error) {
	d, err := inspect(Input{Name: baseName(path), Kind: "pdf", Path: path})
	return d.pages, err
}

// config is pdfcpu's default configuration, built here because
// model.NewDefaultConfiguration installs a configuration directory (fonts,
// certificates) under the user's home on first use.
func config(cmd model.CommandMode) *model.Configuration {
	return &model.Configuration{
		Cmd:                       cmd,
		Version:                   model.VersionStr,
		Reader15:                  true,
		ValidationMode:            model.ValidationRelaxed,
		UnsupportedResourcePolicy: model.UnsupportedResourceSkip,
		Eol:                       types.EolLF,
		WriteObjectStream:         true,
		WriteXRefStream:           true,
		EncryptUsingAES:           true,
		EncryptKeyLength:          256,
		Permissions:               model.PermissionsPrint,
		TimestampFormat:           "2006-01-02 15:04",
		DateFormat:                "2006-01-02",
		// Optimising a merge (font and image deduplication) costs memory and
		// time; the provider rasterises pages anyway.
		Optimize:              false,
		OptimizeBeforeWriting: false,
		Offline:               true, // never fetch certificates or revocation lists
		Limits:                pdfcpuLimits(),
	}
}

// pdfcpuLimits are pdfcpu's resource limits narrowed to limits.go's, so
// that a file pdfcpu reads (to merge it, or because the structural check
// left it to pdfcpu) cannot make it allocate what a fax never needs.
func pdfcpuLimits() model.ResourceLimits {
	l := model.DefaultResourceLimits()
	l.MaxObjectCount = maxPDFObjects
	l.MaxXRefEntries = maxPDFObjects
	l.MaxObjectStreamCount = maxPDFObjects
	l.MaxRecursionDepth = 2 * maxPDFNesting // pdfcpu counts graph traversal too
	l.MaxDecodeBytes = 4 * maxPDFDecoded
	return l
}

// inspect checks one PDF: the structural check (pdfcheck.go) reads it
// from disk within the limits of limits.go. pdfcpu, which holds the whole
// file in memory, judges only what that check leaves to it: encrypted
// files (is a password needed?) and constructs it does not read.
func inspect(in Input) (d doc, err error) {
	d = doc{in: in, path: in.Path}
	info, err := checkPDF(in.Path)
	switch {
	case errors.Is(err, errTooComplex):
		return d, tooComplex(in.Name, err)
	case errors.Is(err, errDamaged):
		return d, damaged(in.Name, err)
	case err == nil && !info.encrypted:
		d.pages = info.pages
		return d, nil
	case err != nil && !errors.Is(err, errPDFUnsupported):
		return d, fmt.Errorf("check %s: %w", in.Path, err)
	}
	f, err := os.Open(in.Path)
	if err != nil {
		return d, fmt.Errorf("open %s: %w", in.Path, err)
	}
	defer f.Close()
	defer func() {
		// pdfcpu has panicked on hostile input before; a panic is damage.
		if p := recover(); p != nil {
			err = damaged(in.Name, fmt.Errorf("pdfcpu panic: %v", p))
		}
	}()
	pc, err := api.ReadAndValidate(f, config(model.VALIDATE))
	if err != nil {
		return d, classify(in.Name, err)
	}
	if pc.PageCount < 1 {
		return d, damaged(in.Name, errors.New("no pages"))
	}
	d.pages = pc.PageCount
	d.encrypted = pc.Encrypt != nil
	return d, nil
}

func classify(name string, err error) error {
	switch {
	case errors.Is(err, pdfcpu.ErrWrongPassword):
		return faxbridge.WrapError(faxbridge.EBadContent, err,
			"attachment %q is password-protected; send it without a password", name)
	case strings.Contains(strings.ToLower(err.Error()), "encrypt"):
		// pdfcpu reports unsupported encryption schemes without a sentinel.
		return faxbridge.WrapError(faxbridge.EBadContent, err,
			"attachment %q is encrypted in a way that cannot be read; send it without a password or encryption", name)
	}
	if strings.Contains(err.Error(), "exceeds limit") {
		// pdfcpu's resource limits (pdfcpuLimits) say so only in words.
		return tooComplex(name, err)
	}
	return damaged(name, err)
}

func tooComplex(name string, err error) error {
	return faxbridge.WrapError(faxbridge.EBadContent, err,
		"attachment %q: the PDF is too complex to fax; print it to a new PDF and send that", name)
}

func damaged(name string, err error) error {
	return faxbridge.WrapError(faxbridge.EBadContent, err,
		"attachment %q is damaged or incomplete and cannot be faxed; export it again and resend", name)
}

// decrypt writes an unencrypted copy of an owner-password-only PDF.
func decrypt(path, dir string) (string, error) {
	in, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.CreateTemp(dir, "decrypted-*.pdf")
	if err != nil {
		return "", err
	}
	err = api.Decrypt(in, out, config(model.DECRYPT))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(out.Name())
		return "", err
	}
	return out.Name(), nil
}

// merge writes the PDFs at paths, in order, into out.
func merge(out *os.File, paths []string) (err error) {
	files := make([]io.ReadSeeker, 0, len(paths))
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("merge: open %s: %w", p, err)
		}
		defer f.Close()
		files = append(files, f)
	}
	defer func() {
		if p := recover(); p != nil {
			err = faxbridge.WrapError(faxbridge.EBadContent, fmt.Errorf("pdfcpu panic: %v", p),
				"the documents could not be combined into one fax; send them as one PDF")
		}
	}()
	if err := api.MergeRaw(files, out, false, config(model.MERGECREATE)); err != nil {
		// Each input validated alone, so this is a combination pdfcpu cannot
		// write (such as PDF 2.0 after 1.x): the sender can merge them.
		return faxbridge.WrapError(faxbridge.EBadContent, err,
			"the documents could not be combined into one fax; send them as one PDF")
	}
	return nil
}

// passThrough makes the one PDF sent the file to fax, byte for byte: a hard
// link to the input under a name of its own in opt.TempDir, so no byte is
// copied (the caller removes both names; neither is ever written again), or
// a copy where no link can be made (another file system). Its bytes are
// hashed either way and checked against in.SHA256.
func passThrough(in Input, opt Options, res *Result) (_ *Result, err error) {
	path, err := linkTemp(in.Path, opt.TempDir)
	if err != nil {
		if path, err = copyTemp(in.Path, opt.TempDir); err != nil {
			return nil, fmt.Errorf("build: copy %s: %w", in.Path, err)
		}
	}
	defer func() {
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	n, sum, err := hashFile(path)
	if err != nil {
		return nil, fmt.Errorf("build: read %s: %w", path, err)
	}
	if in.SHA256 != "" && !strings.EqualFold(in.SHA256, sum) {
		return nil, fmt.Errorf("build: %s changed on disk: sha256 %s, expected %s", in.Path, sum, in.SHA256)
	}
	if opt.MaxBytes > 0 && n > opt.MaxBytes {
		return nil, faxbridge.Errorf(faxbridge.ETooLarge,
			"the fax document is %s; the limit is %s per fax", humanBytes(n), humanBytes(opt.MaxBytes))
	}
	res.Bytes, res.SHA256 = n, sum
	res.Docs[0].Bytes, res.Docs[0].SHA256 = n, sum
	res.Path = path
	return res, nil
}

// linkTemp links path to a new random name "fax-*.pdf" in dir.
func linkTemp(path, dir string) (string, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	for range 4 {
		name := filepath.Join(dir, "fax-"+faxbridge.NewID()+".pdf")
		err := os.Link(path, name)
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("link %s: no free name in %s", path, dir)
}

// copyTemp copies path to a new file "fax-*.pdf" in dir.
func copyTemp(path, dir string) (_ string, err error) {
	out, err := os.CreateTemp(dir, "fax-*.pdf")
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(out.Name())
		}
	}()
	src, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer src.Close()
	if _, err = io.Copy(out, src); err != nil {
		return "", err
	}
	return out.Name(), nil
}

func copyFile(dst io.Writer, path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(dst, h), f)
	return n, hex.EncodeToString(h.Sum(nil)), err
}

func hashFile(path string) (int64, string, error) {
	return copyFile(io.Discard, path)
}

func baseName(path string) string {
	if i := strings.LastIndexAny(path, `/\`); i >= 0 {
		return path[i+1:]
	}
	return path
}

// humanBytes says a size the way the sender's mail program does.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

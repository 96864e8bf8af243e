package document

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pdfcpu/pdfcpu/pkg/font"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/color"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/draw"
	pdffont "github.com/pdfcpu/pdfcpu/pkg/pdfcpu/font"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
	"golang.org/x/text/unicode/norm"
)

// CoverInfo is what a cover page says. Text is plain UTF-8.
type CoverInfo struct {
	From    string // the sender, as the message's From header names them
	To      string // the destination(s): one document goes to every recipient
	Date    time.Time
	Subject string
	Body    string // the message text; may be empty
	// Pages is the number of pages after the cover. Build sets it to the
	// pages of the documents; a caller of Cover sets it.
	Pages int
}

// Cover page layout, in points.
const (
	coverMargin  = 54 // three quarters of an inch all round
	coverSize    = 11 // body and field text
	coverLead    = 14 // line spacing
	coverTitle   = 24 // "FAX"
	coverLabelW  = 64 // width of the field-label column
	coverMaxBody = 256 << 10
	regular      = "Helvetica"
	bold         = "Helvetica-Bold"
)

// Cover renders a cover page (or a few, when the body is long) into a new
// PDF in opt.TempDir and returns its path, which the caller removes, and
// its page count. The body is wrapped at the page width and cut after
// opt.MaxCoverPages pages with a note saying so.
//
// The text is set in Helvetica, a PDF standard font, which covers Latin-1
// and the Windows-1252 additions (€, curly quotes, dashes, Š, Ž, Œ). An
// accented letter outside that set is printed without its accent (ő as o);
// any other character (Cyrillic, Greek, CJK, emoji) is printed as "?" and
// the page says so. Embedding a Unicode font would need pdfcpu's user-font
// directory, which is process-wide state on disk.
func Cover(c CoverInfo, opt Options) (path string, pages int, err error) {
	dim, err := paper(opt.Paper)
	if err != nil {
		return "", 0, err
	}
	maxPages := opt.MaxCoverPages
	if maxPages <= 0 {
		maxPages = DefaultMaxCoverPages
	}
	l := layoutCover(c, dim, maxPages)
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("cover: pdfcpu panic: %v", p)
		}
	}()
	pc, err := pdfcpu.CreateContextWithXRefTable(config(model.CREATE), &dim)
	if err != nil {
		return "", 0, fmt.Errorf("cover: %w", err)
	}
	pagesRef, err := pc.Pages()
	if err != nil {
		return "", 0, fmt.Errorf("cover: %w", err)
	}
	pagesDict, err := pc.DereferenceDict(*pagesRef)
	if err != nil || pagesDict == nil {
		return "", 0, fmt.Errorf("cover: page tree: %v", err)
	}
	fonts := types.Dict{}
	for _, f := range [][2]string{{"F1", regular}, {"F2", bold}} { // in order: same text, same file
		ref, err := pdffont.CoreFontDict(pc.XRefTable, f[1])
		if err != nil {
			return "", 0, fmt.Errorf("cover: font %s: %w", f[1], err)
		}
		fonts[f[0]] = *ref
	}
	box := types.RectForDim(dim.Width, dim.Height)
	for _, pg := range l.pages {
		var buf bytes.Buffer
		for _, t := range pg.texts {
			key := "F1"
			if t.font == bold {
				key = "F2"
			}
			td := model.TextDescriptor{
				Text: t.s, FontName: t.font, FontKey: key, FontSize: t.size,
				X: t.x, Y: t.y, Scale: 1, ScaleAbs: true, FillCol: color.Black, StrokeCol: color.Black,
			}
			if _, err := model.WriteMultiLine(pc.XRefTable, &buf, box, nil, td); err != nil {
				return "", 0, fmt.Errorf("cover: text: %w", err)
			}
		}
		for _, y := range pg.rules {
			draw.DrawLine(&buf, coverMargin, y, dim.Width-coverMargin, y, 0.75, &color.Black, nil)
		}
		sd, err := pc.XRefTable.NewStreamDictForBuf(buf.Bytes())
		if err != nil {
			return "", 0, fmt.Errorf("cover: %w", err)
		}
		if err := sd.Encode(); err != nil {
			return "", 0, fmt.Errorf("cover: %w", err)
		}
		contentRef, err := pc.XRefTable.IndRefForNewObject(*sd)
		if err != nil {
			return "", 0, fmt.Errorf("cover: %w", err)
		}
		page := types.Dict{
			"Type":      types.Name("Page"),
			"Parent":    *pagesRef,
			"MediaBox":  box.Array(),
			"Resources": types.Dict{"Font": fonts},
			"Contents":  *contentRef,
		}
		if err := addPage(pc, pagesDict, page); err != nil {
			return "", 0, fmt.Errorf("cover: %w", err)
		}
	}
	path, err = writeContext(pc, opt.TempDir, "cover-*.pdf")
	if err != nil {
		return "", 0, fmt.Errorf("cover: %w", err)
	}
	return path, len(l.pages), nil
}

// text is one line of text on a cover page; x, y is its baseline start.
type text struct {
	s          string
	font       string
	size, x, y float64
}

type coverPage struct {
	texts []text
	rules []float64 // y of horizontal rules across the text width
}

type coverLayout struct {
	pages    []coverPage
	replaced int // characters printed as "?"
}

// layoutCover places the cover's text on at most maxPages pages.
func layoutCover(c CoverInfo, dim types.Dim, maxPages int) coverLayout {
	var cl coverLayout
	clean := func(s string) string {
		s, n := printable(s)
		cl.replaced += n
		return s
	}
	width := dim.Width - 2*coverMargin
	from, to, subject := clean(oneLine(c.From)), clean(oneLine(c.To)), clean(oneLine(c.Subject))
	body := c.Body
	if len(body) > coverMaxBody {
		// More than fits on a few pages anyway; don't clean megabytes.
		body = body[:coverMaxBody]
	}
	body = clean(strings.TrimSpace(strings.ReplaceAll(body, "\r\n", "\n")))
	// Wrap no more body than the pages can hold (one short first page
	// at worst), plus one line to know that the rest was cut.
	capacity := maxPages * int((dim.Height-2*coverMargin)/coverLead)
	lines := wrapText(body, regular, coverSize, width, capacity+1)

	fields := func(total int) [][2]string {
		var f [][2]string
		add := func(label, value string) {
			if value != "" {
				f = append(f, [2]string{label, value})
			}
		}
		add("From:", from)
		add("To:", to)
		if !c.Date.IsZero() {
			add("Date:", c.Date.Format("Mon, 2 Jan 2006 15:04 -0700"))
		}
		add("Subject:", subject)
		add("Pages:", pageCount(total, c.Pages))
		if cl.replaced > 0 {
			add("Note:", "some characters of the message cannot be printed and are shown as ?")
		}
		return f
	}
	top := dim.Height - coverMargin
	bottom := coverMargin + 0.0
	// first lays out page one's header and returns where the body starts.
	first := func(total int) (coverPage, float64) {
		var pg coverPage
		y := top - coverTitle
		pg.texts = append(pg.texts, text{"FAX", bold, coverTitle, coverMargin, y})
		y -= coverTitle
		for _, f := range fields(total) {
			for i, v := range wrapText(f[1], regular, coverSize, width-coverLabelW, 3) {
				if i == 0 {
					pg.texts = append(pg.texts, text{f[0], bold, coverSize, coverMargin, y})
				}
				pg.texts = append(pg.texts, text{v, regular, coverSize, coverMargin + coverLabelW, y})
				y -= coverLead
			}
		}
		y += coverLead / 2
		pg.rules = append(pg.rules, y)
		return pg, y - coverLead*1.5
	}
	perPage := func(y float64) int { return int((y-bottom)/coverLead) + 1 }
	_, y0 := first(1)
	cap1 := max(perPage(y0), 0)
	capN := perPage(top - coverSize - coverLead*1.5)
	total := 1
	if rest := len(lines) - cap1; rest > 0 {
		total += (rest + capN - 1) / capN
	}
	if total > maxPages {
		total = maxPages
		keep := cap1 + (maxPages-1)*capN - 1
		lines = append(lines[:keep:keep], "[The message is longer; the rest is not shown.]")
	}
	pg, y := first(total)
	for n := 1; ; n++ {
		for ; len(lines) > 0 && y >= bottom; y -= coverLead {
			if line := strings.TrimLeft(lines[0], " "); line != "" {
				// pdfcpu drops leading spaces; keep the indentation as an
				// offset instead.
				indent := textWidth(lines[0][:len(lines[0])-len(line)])
				pg.texts = append(pg.texts, text{line, regular, coverSize, coverMargin + indent, y})
			}
			lines = lines[1:]
		}
		cl.pages = append(cl.pages, pg)
		if len(lines) == 0 || n == total {
			break
		}
		pg = coverPage{}
		y = top - coverSize
		pg.texts = append(pg.texts, text{fmt.Sprintf("Fax cover, page %d of %d", n+1, total), bold, coverSize, coverMargin, y})
		y -= coverLead * 1.5
	}
	return cl
}

// pageCount says how many pages the fax has: "1 cover page + 3 pages".
func pageCount(cover, rest int) string {
	s := plural(cover, "cover page")
	if rest > 0 {
		s += " + " + plural(rest, "page")
	}
	return s
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// oneLine folds a header value onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// printable returns s with every character the cover's font can print and
// the count of characters printed as "?" instead. Helvetica's encoding
// here is Windows-1252, pdfcpu's for the standard fonts.
func printable(s string) (string, int) {
	var b strings.Builder
	n := 0
	col := 0 // for tab stops
	for _, r := range norm.NFC.String(s) {
		switch {
		case r == '\n':
			b.WriteRune(r)
			col = 0
			continue
		case r == '\t':
			for pad := 8 - col%8; pad > 0; pad-- {
				b.WriteByte(' ')
				col++
			}
			continue
		case encodable(r):
		case unicode.Is(unicode.Mn, r), unicode.Is(unicode.Cf, r), unicode.IsControl(r):
			continue // marks without a base, zero-width and control characters
		case r == '\u2010', r == '\u2011', r == '\u2012', r == '\u2212':
			r = '-'
		case unicode.IsSpace(r):
			r = ' '
		default:
			r = unaccented(r)
			if r == '?' {
				n++
			}
		}
		b.WriteRune(r)
		col++
	}
	return b.String(), n
}

// encodable reports whether r is in Windows-1252 (as pdfcpu maps it) and
// printable.
func encodable(r rune) bool {
	switch {
	case r == ' ':
		return true
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return false
	}
	return model.DecodeUTF8ToByte(string(r)) != " "
}

// unaccented returns r's base letter when that is encodable (ő → o), or
// "?".
func unaccented(r rune) rune {
	var base rune
	for _, d := range norm.NFD.String(string(r)) {
		if unicode.Is(unicode.Mn, d) {
			continue
		}
		if base != 0 || !encodable(d) {
			return '?'
		}
		base = d
	}
	if base == 0 {
		return '?'
	}
	return base
}

// wrapText breaks s into lines no wider than width, at spaces where it
// can and inside a word that is wider than a line (a long URL). It stops
// after limit lines. s must be printable (see printable).
func wrapText(s, fontName string, size, width float64, limit int) []string {
	measure := func(t string) float64 {
		w, err := font.TextWidthFloat(model.DecodeUTF8ToByte(t), fontName, size)
		if err != nil {
			return 0 // a standard font always has metrics
		}
		return w
	}
	var lines []string
	for para := range strings.SplitSeq(s, "\n") {
		if len(lines) >= limit {
			break
		}
		para = strings.TrimRight(para, " ")
		if para == "" {
			lines = append(lines, "")
			continue
		}
		// Keep a paragraph's indentation (on its first line), unless it
		// would eat half the line.
		words := strings.TrimLeft(para, " ")
		lead := para[:len(para)-len(words)]
		if measure(lead) > width/2 {
			lead = ""
		}
		line := lead
		for word := range strings.SplitSeq(words, " ") {
			candidate := line + word
			if line != lead {
				candidate = line + " " + word
			}
			if measure(candidate) <= width {
				line = candidate
				continue
			}
			if line != lead {
				lines = append(lines, line)
			}
			line = word
			for measure(line) > width && utf8.RuneCountInString(line) > 1 {
				cut := fitPrefix(line, width, measure)
				lines = append(lines, line[:cut])
				line = line[cut:]
			}
		}
		lines = append(lines, line)
	}
	if len(lines) > limit {
		lines = lines[:limit]
	}
	return lines
}

// textWidth is the width of body text, in points.
func textWidth(s string) float64 {
	w, _ := font.TextWidthFloat(model.DecodeUTF8ToByte(s), regular, coverSize)
	return w
}

// fitPrefix returns the byte length of the longest prefix of s, at least
// one character, that fits width.
func fitPrefix(s string, width float64, measure func(string) float64) int {
	cut := 0
	for i, r := range s {
		end := i + utf8.RuneLen(r)
		if cut > 0 && measure(s[:end]) > width {
			break
		}
		cut = end
	}
	return cut
}

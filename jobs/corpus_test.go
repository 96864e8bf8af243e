package jobs

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/faxsend/signalwiretest"
	"github.com/faxbridge/faxbridge/internal/testenv"
)

var corpusUpdate = flag.Bool("update", false, "rewrite testdata/corpus.golden")

// The corpus test runs every message of the shared corpus of real-world
// mail (read in place: the repository carries no copies) and of our own
// scanner messages (testdata/scanner) through Accept, and checks each
// against what a fax gateway should make of it.
//
// It runs every message twice: with cover_page = "never", which is the
// policy the corpus manifest assumes (fax the documents, refuse a message
// without one), and with the default "auto", under which a message of
// text alone becomes a one-page cover fax (the README's documented
// exception to the manifest).

// corpusDir is the shared corpus (see testenv.CorpusIfPresent): "" when it
// is not there, which fails the test under CI.
func corpusDir(t *testing.T) string {
	t.Helper()
	return testenv.CorpusIfPresent(t)
}

// memJobs is the job store of the corpus test. Accept needs only Create;
// the embedded nil interface makes any other call panic, which a test that
// strays from Accept should, and keeps the fake compiling as the port grows.
type memJobs struct {
	faxbridge.JobStore
	mu   sync.Mutex
	jobs []*faxbridge.Job
}

func (m *memJobs) Create(_ context.Context, jobs []*faxbridge.Job) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.jobs = append(m.jobs, jobs...)
	return nil
}

// memBlobs keeps uploads in memory; Accept needs only Put and Delete.
type memBlobs struct {
	faxbridge.BlobStore
	mu   sync.Mutex
	objs map[string][]byte
}

func (b *memBlobs) Put(_ context.Context, key string, r io.Reader, size int64, contentType string) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if size >= 0 && int64(len(data)) != size {
		return fmt.Errorf("put %s: %d bytes, announced %d", key, len(data), size)
	}
	if contentType != "application/pdf" {
		return fmt.Errorf("put %s: content type %q", key, contentType)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.objs == nil {
		b.objs = map[string][]byte{}
	}
	b.objs[key] = data
	return nil
}

func (b *memBlobs) Delete(_ context.Context, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.objs, key)
	return nil
}

// faxDoc is one document of a fax as the job records it.
type faxDoc struct {
	name, kind string
	pages      int
}

func (d faxDoc) String() string { return fmt.Sprintf("%q %s %s", d.name, d.kind, pagesText(d.pages)) }

func pagesText(n int) string {
	if n == 1 {
		return "1 page"
	}
	return fmt.Sprintf("%d pages", n)
}

// verdict is what Accept made of a message, or what it should make.
type verdict struct {
	pages int      // faxed with this many pages; 0 when refused
	docs  []faxDoc // in fax order
	// Refusals: the error's code and sentence (expectations: phrases the
	// sentence must contain, or with a leading "!" must not).
	code faxbridge.Code
	says []string

	// Only in results.
	skipped  []string
	subject  string
	reportTo string
}

func (o verdict) faxed() bool { return o.pages > 0 }

func (o verdict) String() string {
	if o.faxed() {
		return fmt.Sprintf("faxed %s %v", pagesText(o.pages), o.docs)
	}
	return fmt.Sprintf("refused %s %q", o.code, strings.Join(o.says, " … "))
}

func faxed(pages int, docs ...faxDoc) verdict { return verdict{pages: pages, docs: docs} }

func refused(code faxbridge.Code, says ...string) verdict {
	return verdict{code: code, says: says}
}

// coverFax is the fax of a message of text alone under cover_page = "auto".
func coverFax(pages int) *verdict {
	o := faxed(pages, faxDoc{"cover page (subject and message text)", "text", pages})
	return &o
}

// expectation is one message's row: want under the manifest's policy
// (cover_page = "never") and, when it differs, auto under the default.
type expectation struct {
	want verdict
	auto *verdict
	// For our own messages with raw 8-bit headers: the job's decoded
	// Subject and report address.
	subject, reportTo string
}

// nothing is the refusal of a message without any attachment to fax, and
// textOnly that of a message of text alone under cover_page = "never",
// which must not claim there was no text.
var (
	nothing  = refused(faxbridge.EBadContent, "nothing to fax")
	textOnly = refused(faxbridge.EBadContent, "nothing to fax", "found only text", "!no text")
)

// corpusExpect encodes the manifest's column "documents a fax gateway should
// find" for every message of the shared corpus (file names as there), and
// our expectations for testdata/scanner. Choices where the manifest calls it
// a policy judgement, or where it and the README differ, are commented.
var corpusExpect = map[string]expectation{
	// Valid PDFs, wherever and however they are attached.
	"pdf-octetstream-ibmnotes-10p.eml":            {want: faxed(10, faxDoc{"Move To Eight ZWEP6227F.pdf", "pdf", 10})},
	"pdf-octetstream-cdo-2p-related-jpegs.eml":    {want: faxed(2, faxDoc{"Bollettino.pdf", "pdf", 2})},
	"pdf-ricoh-mfp-scan-fwd-mdaemon.eml":          {want: faxed(1, faxDoc{"20170609091403417.pdf", "pdf", 1})},
	"pdf-thunderbird-alt-related-inline-jpeg.eml": {want: faxed(1, faxDoc{"Sample PDF.pdf", "pdf", 1})},
	"pdf-curl-preamble-epilogue.eml":              {want: faxed(1, faxDoc{"test.pdf", "pdf", 1})},
	"pdf-inline-disposition.raw":                  {want: faxed(1, faxDoc{"Hello-World.pdf", "pdf", 1})},
	// The manifest says the attached message/rfc822 holds only text, but
	// it is base64-encoded and carries the same .docx, .pdf, .odt and .png
	// again: the repeats are skipped as duplicates, the banner PNG (an
	// attachment, not in the HTML) is faxed.
	"pdf-swiftmailer-office-png-rfc822.eml": {want: faxed(2,
		faxDoc{"Hello from SwiftMailer.pdf", "pdf", 1}, faxDoc{"Cours-Tutoriels-Serge-Tahé-1568x268.png", "png", 1})},

	// Damaged PDFs: refused with the attachment's name.
	"pdf-stub-ctype-missing-semicolon.raw":     {want: refused(faxbridge.EBadContent, `"Invoice_302232133150612.pdf"`, "damaged")},
	"pdf-stub-unquoted-tspecials-filename.raw": {want: refused(faxbridge.EBadContent, `"Invoice_(302232133150612).pdf"`, "damaged")},
	"pdf-stub-blank-name-param.raw":            {want: refused(faxbridge.EBadContent, `"Invoice_302232133150612.pdf"`, "damaged")},
	"pdf-truncated-bare-lf.eml":                {want: refused(faxbridge.EBadContent, `"broken.pdf"`, "damaged")},
	"pdf-stub-boundary-prefix-clash.msg":       {want: refused(faxbridge.EBadContent, `"Daily_Stats-2022-05-12-0700.pdf"`, "damaged")},
	// Policy: documents inside a forwarded message are faxed (the README
	// says so), so its damaged PDF refuses the message.
	"fwd-rfc822-with-truncated-pdf.eml": {want: refused(faxbridge.EBadContent, `"broken.pdf"`, "damaged")},
	// Declared and named PDF, but the bytes are not one (PKCS#7; 10 bytes
	// of text): to the sender that is a damaged PDF, and the refusal must
	// say so rather than claim there was no PDF.
	"pdf-ctype-but-pkcs7-bytes-2047-name.eml":   {want: refused(faxbridge.EBadContent, `"This is a test.pdf"`, "damaged")},
	"pdf-stub-2047-in-quoted-param-iso8859.eml": {want: refused(faxbridge.EBadContent, `"50032266 CAR 11_MNPA00A01_9PTX_H00 ATT N° 1467829.pdf"`, "damaged")},

	// Images.
	// Policy: the TIFF is the only document and, at 413×444, too large for
	// a logo even in the HTML of a forwarded message: it is faxed.
	"tiff-netscape3-fwd-related-inline.eml": {want: faxed(1, faxDoc{"C:¥win95¥TEMP¥nsmailRJ.tiff", "tiff", 1})},
	// A lone image is faxed however small (the README's rule; the manifest
	// warns a size filter would wrongly drop it).
	"jpeg-applemail-rfc2231-2047-filename-inline.eml": {want: faxed(1, faxDoc{"Eelanalüüsi päring.jpg", "jpeg", 1})},
	"jpeg-iphone-inline-photo-split-text.eml":         {want: faxed(1, faxDoc{"image1.jpeg", "jpeg", 1})},
	"jpeg-photo-attachment-1296x968.eml":              {want: faxed(1, faxDoc{"photo.JPG", "jpeg", 1})},
	"jpeg-octetstream-bill-utf16-txt.eml":             {want: faxed(1, faxDoc{"bill.1.jpg", "jpeg", 1})},
	"jpeg-smime-signed-thunderbird.txt":               {want: faxed(1, faxDoc{"signed.jpg", "jpeg", 1})},
	"png-single-part-root-attachment.eml":             {want: faxed(1, faxDoc{"screenshot.png", "png", 1})},
	// Policy (the manifest leaves it open): a lone attached image is faxed
	// even at logo size, as the README says; the sender attached it.
	"jpeg-label-png-bytes-single-part.raw": {want: faxed(1, faxDoc{"favicon.jpg", "png", 1})},
	"png-outlook-attachment-and-txt.raw":   {want: faxed(1, faxDoc{"favicon.png", "png", 1})},
	"png-gmail-attachment-and-txt.raw":     {want: faxed(1, faxDoc{"favicon.png", "png", 1})},
	// Images embedded in the HTML body (multipart/related) at logo size are
	// decoration and never faxed, even when nothing else is: the "lone
	// image" rule is for images the sender attached. Without them the
	// first message is text alone, which "auto" faxes as a cover page.
	"png-applemail-html-related-inline.raw":       {want: nothing, auto: coverFax(1)},
	"png-thunderbird-embedded-and-attachment.eml": {want: faxed(1, faxDoc{"attach2.png", "png", 1})},
	// Policy (the manifest allows either): image.png is 16×16 and sits in
	// the HTML's multipart/related although marked attachment, so it is
	// decoration as above; the GIF and notes.txt cannot be faxed.
	"png-gif-nodemailer-rfc2231-in-related.eml": {want: nothing},
	"jpeg-message-partial-1of3.eml":             {want: refused(faxbridge.EBadContent, "message/partial")},
	"nested-mixed-in-alternative-rfc8621.eml":   {want: refused(faxbridge.EBadContent, "image/jpeg")},

	// Nothing that can be faxed. Policy: a cover page is for a message of
	// text alone. When the sender attached something that cannot be faxed
	// (winmail.dat, a zip, a text file), the message is refused naming it
	// under "auto" too, as the manifest says: a cover page that says
	// "attached" without the attachment misleads the recipient, and the
	// sender would get a "delivered" report.
	"tnef-winmail-dat-only.eml":                       {want: refused(faxbridge.EBadContent, `"winmail.dat"`)},
	"zip-stub-missing-final-boundary.raw":             {want: refused(faxbridge.EBadContent, `"foo_9E5D72.zip"`)},
	"zip-stub-broken-header-folding.raw":              {want: refused(faxbridge.EBadContent, `"7DDA4_foo_9E5D72.zip"`)},
	"octetstream-txt-outlook2007.eml":                 {want: refused(faxbridge.EBadContent, `"attachment.txt"`)},
	"rfc2231-continuation-japanese-txt-applemail.eml": {want: refused(faxbridge.EBadContent, `"かきくけこかきくけこかきくけこかきくけこかきくけこ.txt"`)},
	// HTML alone: the cover page renders only plain text.
	"html-only-gb2312-outlook-express.eml": {want: nothing},
	"html-only-nonmime-swaks.raw":          {want: nothing},
	// Text alone: refused under the manifest's policy, a cover page under
	// the default (README: "a message with text but no document becomes a
	// cover page").
	"text-only-plain-crlf.eml":             {want: textOnly, auto: coverFax(1)},
	"text-only-iso-2022-jp.txt":            {want: textOnly, auto: coverFax(1)},
	"text-only-windows-1252-qp.eml":        {want: textOnly, auto: coverFax(1)},
	"text-only-ks_c_5601-1987.eml":         {want: textOnly, auto: coverFax(1)},
	"text-only-very-long-lines.msg":        {want: textOnly, auto: coverFax(2)},
	"text-only-qp-applemail.raw":           {want: textOnly, auto: coverFax(1)},
	"malformed-missing-inner-boundary.msg": {want: textOnly, auto: coverFax(1)},
	// Delivery reports are never faxed (and, refused in the SMTP dialogue,
	// never answered with a bounce of ours).
	"malformed-multipart-no-boundary.raw": {want: refused(faxbridge.EBadContent, "delivery report")},
	"dsn-bounce-multipart-report.raw":     {want: refused(faxbridge.EBadContent, "delivery report")},

	// Our scanner messages (testdata/scanner, see the README there).
	"scan-pdf-root-no-body.eml":           {want: faxed(2, faxDoc{"scan0001.pdf", "pdf", 2}), subject: "Scan from MFP-3F", reportTo: "scanner@office.example"},
	"scan-tiff-g4-3p-name-only.eml":       {want: faxed(3, faxDoc{"scan0001.tif", "tiff", 3}), subject: "Scanned Document", reportTo: "mfp@office.example"},
	"scan-two-tiffs-in-order.eml":         {want: faxed(3, faxDoc{"scan0001.tif", "tiff", 2}, faxDoc{"scan0002.tif", "tiff", 1})},
	"scan-tiff-mm-lzw-gray-image-tif.eml": {want: faxed(1, faxDoc{"SCAN_0001.TIF", "tiff", 1})},
	"scan-tiff-bare-lf-8bit-headers.eml": {want: faxed(1, faxDoc{"scan0002.tif", "tiff", 1}),
		subject: "Scan vom Kopierer – Empfangsbestätigung", reportTo: "kopierer@office.example"},
	"scan-jpeg-octetstream-latin1.eml": {want: faxed(1, faxDoc{"Übersicht.JPG", "jpeg", 1}),
		subject: "Übersicht Empfang", reportTo: "drucker@office.example"},
	// A scan that failed: the PDF is empty. The refusal must name it and
	// say it is empty, not that no PDF was sent.
	"scan-empty-attachment.eml": {want: refused(faxbridge.EBadContent, `"scan0003.pdf"`, "empty")},
}

// acceptFile runs one message through Accept, to one recipient, with the
// given cover page policy, and checks what must hold whatever the message:
// a refusal leaves no job and no upload behind, a fax is one job whose
// uploaded document has the pages the job claims, and the spool is empty
// afterwards either way.
func acceptFile(t *testing.T, path, coverPage string) verdict {
	t.Helper()
	spool := t.TempDir()
	jobs, blobs := &memJobs{}, &memBlobs{}
	svc := New(Config{SpoolDir: spool, CoverPage: coverPage, MaxBuilds: 1}, jobs, blobs, nil, nil,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The envelope sender shares the scanners' domain, so that reports go to
	// the From each message names (see reportAddress), which is what the
	// expectations check was read correctly.
	env := faxbridge.Envelope{
		MailFrom:   "envelope@office.example",
		Recipients: []faxbridge.Recipient{{Destination: faxbridge.Destination{To: "+15551234567"}}},
		RemoteAddr: "192.0.2.10:40000",
	}
	got, err := svc.Accept(context.Background(), env, f)
	if left, _ := os.ReadDir(spool); len(left) != 0 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("cover_page=%s: files left in the spool: %v", coverPage, names)
	}
	if err != nil {
		if len(jobs.jobs) != 0 || len(blobs.objs) != 0 {
			t.Errorf("cover_page=%s: refused (%v) but left %d jobs and %d uploads", coverPage, err, len(jobs.jobs), len(blobs.objs))
		}
		o := refused(faxbridge.ErrorCode(err), faxbridge.ErrorMessage(err))
		if o.code == faxbridge.EInternal || o.code == faxbridge.EUnavailable {
			t.Errorf("cover_page=%s: %v: a message must never be an internal or temporary failure", coverPage, err)
		}
		return o
	}
	if len(got) != 1 || len(jobs.jobs) != 1 || len(blobs.objs) != 1 {
		t.Fatalf("cover_page=%s: %d jobs returned, %d stored, %d uploads; want 1 each", coverPage, len(got), len(jobs.jobs), len(blobs.objs))
	}
	j := got[0]
	o := verdict{pages: j.Pages, skipped: j.Skipped, subject: j.Subject, reportTo: j.ReportTo}
	sum := 0
	for _, d := range j.Documents {
		o.docs = append(o.docs, faxDoc{d.Name, d.Type, d.Pages})
		sum += d.Pages
	}
	if sum != j.Pages || j.Pages < 1 {
		t.Errorf("cover_page=%s: job has %d pages, its documents %d", coverPage, j.Pages, sum)
	}
	// What the provider will count, by another reader than the builder's.
	blob := blobs.objs[j.DocumentKey]
	if !bytes.HasPrefix(blob, []byte("%PDF-")) {
		t.Errorf("cover_page=%s: the upload is not a PDF", coverPage)
	} else if n := signalwiretest.CountPages(blob); n != j.Pages {
		t.Errorf("cover_page=%s: the uploaded PDF has %d pages, the job says %d", coverPage, n, j.Pages)
	}
	return o
}

// check compares a result with an expectation and returns the differences.
func (o verdict) check(want verdict) []string {
	var diffs []string
	switch {
	case want.faxed() && !o.faxed():
		return []string{fmt.Sprintf("refused (%s: %s), want %v", o.code, o.says[0], want)}
	case !want.faxed() && o.faxed():
		return []string{fmt.Sprintf("%v, want %v", o, want)}
	case want.faxed():
		if o.pages != want.pages {
			diffs = append(diffs, fmt.Sprintf("%s, want %d", pagesText(o.pages), want.pages))
		}
		if fmt.Sprint(o.docs) != fmt.Sprint(want.docs) {
			diffs = append(diffs, fmt.Sprintf("documents %v, want %v", o.docs, want.docs))
		}
	default:
		if o.code != want.code {
			diffs = append(diffs, fmt.Sprintf("refusal code %s, want %s", o.code, want.code))
		}
		for _, p := range want.says {
			if not, ok := strings.CutPrefix(p, "!"); ok {
				if strings.Contains(o.says[0], not) {
					diffs = append(diffs, fmt.Sprintf("refusal %q says %q", o.says[0], not))
				}
			} else if !strings.Contains(o.says[0], p) {
				diffs = append(diffs, fmt.Sprintf("refusal %q does not say %q", o.says[0], p))
			}
		}
	}
	return diffs
}

// golden writes one verdict for the golden file.
func (o verdict) golden(w io.Writer) {
	if !o.faxed() {
		fmt.Fprintf(w, "refused %s %q\n", o.code, o.says[0])
		return
	}
	fmt.Fprintf(w, "faxed %s, subject %q, report to %q\n", pagesText(o.pages), o.subject, o.reportTo)
	for _, d := range o.docs {
		fmt.Fprintf(w, "    document %v\n", d)
	}
	for _, s := range o.skipped {
		fmt.Fprintf(w, "    skipped %s\n", s)
	}
}

func sameOutcome(a, b verdict) bool {
	var x, y bytes.Buffer
	a.golden(&x)
	b.golden(&y)
	return x.String() == y.String()
}

var quotedName = regexp.MustCompile(`"[^"]*"`)

// refusalKind is a refusal's sentence without names and detail, for counting.
func refusalKind(o verdict) string {
	s := quotedName.ReplaceAllString(o.says[0], "X")
	if i := strings.IndexAny(s, ":;("); i > 0 {
		s = s[:i]
	}
	return fmt.Sprintf("%s %q", o.code, strings.TrimSpace(s))
}

func TestCorpus(t *testing.T) {
	// Our own messages run always; the shared corpus when it is there.
	scans, err := filepath.Glob(filepath.Join("testdata", "scanner", "*.eml"))
	if err != nil || len(scans) == 0 {
		t.Fatalf("no scanner messages in testdata/scanner: %v", err)
	}
	files := scans
	dir := corpusDir(t)
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var shared []string
		for _, e := range entries {
			if e.Type().IsRegular() && !strings.HasSuffix(e.Name(), ".md") {
				shared = append(shared, filepath.Join(dir, e.Name()))
			}
		}
		files = append(shared, scans...)
	}

	type result struct {
		name        string
		own         bool // ours, not the shared corpus
		never, auto verdict
	}
	results := make([]result, len(files))
	t.Run("messages", func(t *testing.T) {
		for i, path := range files {
			name := filepath.Base(path)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				own := i >= len(files)-len(scans)
				results[i] = result{name, own, acceptFile(t, path, "never"), acceptFile(t, path, "auto")}
			})
		}
	})

	const goldenHead = "# What Accept makes of each message, to one recipient: first with\n" +
		"# cover_page = \"never\", then with the default \"auto\" when that differs.\n" +
		"# Rewrite with: go test -run Corpus ./jobs/ -update\n"
	var blocks []string // one per message, its name on the first line
	counts := map[string]map[string]int{"never": {}, "auto": {}}
	agree := map[string]int{}    // by policy
	agreeOwn := map[string]int{} // by policy, of our own messages
	seen := map[string]bool{}
	own := 0
	for _, r := range results {
		if r.name == "" {
			continue // its subtest failed before it finished
		}
		seen[r.name] = true
		if r.own {
			own++
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "%s\n  never: ", r.name)
		r.never.golden(&b)
		if sameOutcome(r.never, r.auto) {
			fmt.Fprintf(&b, "  auto:  the same\n")
		} else {
			fmt.Fprintf(&b, "  auto:  ")
			r.auto.golden(&b)
		}
		blocks = append(blocks, b.String())

		exp, ok := corpusExpect[r.name]
		if !ok {
			t.Errorf("%s: no expectation in corpusExpect; add one from the manifest", r.name)
			continue
		}
		wantAuto := exp.want
		if exp.auto != nil {
			wantAuto = *exp.auto
		}
		for _, c := range []struct {
			policy    string
			got, want verdict
		}{{"never", r.never, exp.want}, {"auto", r.auto, wantAuto}} {
			key := "faxed"
			if !c.got.faxed() {
				key = "refused " + refusalKind(c.got)
			}
			counts[c.policy][key]++
			diffs := c.got.check(c.want)
			if c.want.faxed() && c.got.faxed() && exp.subject != "" {
				if c.got.subject != exp.subject || c.got.reportTo != exp.reportTo {
					diffs = append(diffs, fmt.Sprintf("subject %q, report to %q; want %q, %q", c.got.subject, c.got.reportTo, exp.subject, exp.reportTo))
				}
			}
			if len(diffs) == 0 {
				agree[c.policy]++
				if r.own {
					agreeOwn[c.policy]++
				}
				continue
			}
			t.Errorf("%s, cover_page=%s: %s", r.name, c.policy, strings.Join(diffs, "; "))
		}
	}
	full := dir != "" && !t.Failed() // every message ran
	if dir != "" {
		for name := range corpusExpect {
			if !seen[name] {
				t.Errorf("%s: expected in the corpus but not found", name)
			}
		}
	}

	for _, policy := range []string{"never", "auto"} {
		var keys []string
		for k := range counts[policy] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "\n    %3d  %s", counts[policy][k], k)
		}
		t.Logf("cover_page=%s: %d messages, %d as expected, %d not (shared corpus %d/%d as expected, ours %d/%d):%s",
			policy, len(seen), agree[policy], len(seen)-agree[policy],
			agree[policy]-agreeOwn[policy], len(seen)-own, agreeOwn[policy], own, b.String())
	}

	file := filepath.Join("testdata", "corpus.golden")
	if *corpusUpdate {
		if dir == "" {
			t.Fatal("-update needs the shared corpus: the golden file covers it too")
		}
		if err := os.WriteFile(file, []byte(goldenHead+"\n"+strings.Join(blocks, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	// Compared message by message, so that a run without the shared
	// corpus still checks ours, and a difference names its message.
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	want := map[string]string{}
	for _, b := range strings.Split(strings.TrimPrefix(string(data), goldenHead+"\n"), "\n\n") {
		name, _, _ := strings.Cut(b, "\n")
		want[name] = strings.TrimSuffix(b, "\n") + "\n"
	}
	for _, b := range blocks {
		name, _, _ := strings.Cut(b, "\n")
		switch w, ok := want[name]; {
		case !ok:
			t.Errorf("%s is not in %s (run with -update):\n%s", name, file, b)
		case w != b:
			t.Errorf("%s differs from %s (run with -update if that is right):\ngot:\n%swant:\n%s", name, file, b, w)
		}
		delete(want, name)
	}
	if full {
		for name := range want {
			t.Errorf("%s: in %s but not in the corpus (run with -update)", name, file)
		}
	}
	if dir == "" {
		t.Skipf("the shared corpus is not available: only our %d messages ran", len(scans))
	}
}

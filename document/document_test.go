package document

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	faxbridge "github.com/faxbridge/faxbridge"
)

func TestBuildSinglePassesThrough(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "in.pdf")
	writePDF(t, src, 2, 0)
	in := input(t, src)
	out := t.TempDir()
	res, err := Build(context.Background(), []Input{in}, Options{TempDir: out})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(src)
	got, err := os.ReadFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("single PDF was rewritten")
	}
	if res.Path == src || filepath.Dir(res.Path) != out {
		t.Errorf("result %s should be a new file in %s", res.Path, out)
	}
	// On one file system it is the input itself under a second name: no
	// byte copied, and removing either name keeps the other.
	if a, b := stat(t, src), stat(t, res.Path); !os.SameFile(a, b) {
		t.Error("single PDF was copied, not linked")
	}
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(res.Path); !bytes.Equal(got, want) {
		t.Error("the result went with the input's name")
	}
	if res.Pages != 2 || res.Bytes != in.Size || res.SHA256 != in.SHA256 {
		t.Errorf("result %+v, input %+v", res, in)
	}
	wantDoc := faxbridge.DocumentInfo{Name: "in.pdf", Type: "pdf", Bytes: in.Size, Pages: 2, SHA256: in.SHA256}
	if len(res.Docs) != 1 || res.Docs[0] != wantDoc {
		t.Errorf("Docs %+v, want %+v", res.Docs, wantDoc)
	}
}

func TestBuildMerge(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.pdf"), filepath.Join(dir, "b.pdf")
	writePDF(t, a, 1, 0)
	writePDF(t, b, 2, 0)
	res, err := Build(context.Background(), []Input{input(t, a), input(t, b)}, Options{TempDir: dir, MaxPages: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pages != 3 {
		t.Errorf("Pages = %d, want 3", res.Pages)
	}
	if n, err := PageCount(res.Path); err != nil || n != 3 {
		t.Errorf("merged file: %d pages, %v", n, err)
	}
	n, sum, _ := hashFile(res.Path)
	if res.Bytes != n || res.SHA256 != sum {
		t.Errorf("Bytes/SHA256 %d %s, file %d %s", res.Bytes, res.SHA256, n, sum)
	}
	if len(res.Docs) != 2 || res.Docs[0].Name != "a.pdf" || res.Docs[0].Pages != 1 || res.Docs[1].Name != "b.pdf" || res.Docs[1].Pages != 2 {
		t.Errorf("Docs %+v", res.Docs)
	}
	// Order follows the inputs: page 1 of the result is a.pdf's only page.
	res2, err := Build(context.Background(), []Input{input(t, b), input(t, a)}, Options{TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res2.Docs[0].Name != "b.pdf" || res2.SHA256 == res.SHA256 {
		t.Errorf("reversed inputs gave %+v", res2.Docs)
	}
}

func TestBuildRefusals(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pdf")
	writePDF(t, good, 3, 0)
	locked := filepath.Join(dir, "scan.pdf")
	encryptPDF(t, good, locked, "user", "owner")
	half := filepath.Join(dir, "half.pdf")
	truncate(t, good, half, func(n int) int { return n / 2 })
	noTail := filepath.Join(dir, "notail.pdf")
	truncate(t, good, noTail, func(n int) int { return n - 40 })
	junk := filepath.Join(dir, "junk.pdf")
	os.WriteFile(junk, []byte("%PDF-1.4\nthis is not a PDF\n%%EOF\n"), 0o600)
	empty := filepath.Join(dir, "empty.pdf")
	os.WriteFile(empty, nil, 0o600)

	cases := []struct {
		name   string
		inputs []Input
		opt    Options
		code   faxbridge.Code
		msg    string
	}{
		{"user password", []Input{input(t, locked)}, Options{}, faxbridge.EBadContent,
			`attachment "scan.pdf" is password-protected; send it without a password`},
		{"user password among others", []Input{input(t, good), input(t, locked)}, Options{}, faxbridge.EBadContent,
			`attachment "scan.pdf" is password-protected; send it without a password`},
		{"cut in half", []Input{input(t, half)}, Options{}, faxbridge.EBadContent,
			`attachment "half.pdf" is damaged or incomplete and cannot be faxed; export it again and resend`},
		{"junk", []Input{input(t, junk)}, Options{}, faxbridge.EBadContent,
			`attachment "junk.pdf" is damaged or incomplete and cannot be faxed; export it again and resend`},
		{"empty", []Input{input(t, empty)}, Options{}, faxbridge.EBadContent,
			`attachment "empty.pdf" is damaged or incomplete and cannot be faxed; export it again and resend`},
		{"too many pages", []Input{input(t, good), input(t, good)}, Options{MaxPages: 5}, faxbridge.ETooLarge,
			"the documents have 6 pages; the limit is 5 pages per fax"},
		{"nothing", nil, Options{}, faxbridge.EBadContent, "no PDF, TIFF or image attachment was found"},
		{"image that is not", []Input{{Name: "x.tif", Kind: "tiff", Path: empty}}, Options{}, faxbridge.EBadContent,
			`attachment "x.tif" is not a readable image; export it again or send it as a PDF`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			tc.opt.TempDir = out
			res, err := Build(context.Background(), tc.inputs, tc.opt)
			if res != nil || faxbridge.ErrorCode(err) != tc.code || faxbridge.ErrorMessage(err) != tc.msg {
				t.Errorf("got %+v, %v\nwant code %s: %s", res, err, tc.code, tc.msg)
			}
			if left, _ := os.ReadDir(out); len(left) != 0 {
				t.Errorf("files left in TempDir: %v", left)
			}
		})
	}
	// A truncated tail (inside the cross-reference table or trailer): the
	// file is refused as damaged, or, where the section is found again as
	// viewers find it, yields all its pages (TestCutPDFsRefused says which).
	res, err := Build(context.Background(), []Input{input(t, noTail)}, Options{TempDir: t.TempDir()})
	if err == nil && res.Pages != 3 {
		t.Errorf("truncated tail: accepted with %d pages", res.Pages)
	} else if err != nil && faxbridge.ErrorCode(err) != faxbridge.EBadContent {
		t.Errorf("truncated tail: %v", err)
	}
	t.Logf("truncated tail: %v", err)
}

func TestBuildOwnerPasswordOnly(t *testing.T) {
	dir := t.TempDir()
	plain, extra := filepath.Join(dir, "plain.pdf"), filepath.Join(dir, "extra.pdf")
	writePDF(t, plain, 2, 0)
	writePDF(t, extra, 1, 0)
	owner := filepath.Join(dir, "owner.pdf")
	encryptPDF(t, plain, owner, "", "owner")

	res, err := Build(context.Background(), []Input{input(t, owner)}, Options{TempDir: dir})
	if err != nil {
		t.Fatalf("owner-only encryption should be accepted: %v", err)
	}
	want, _ := os.ReadFile(owner)
	if got, _ := os.ReadFile(res.Path); !bytes.Equal(got, want) || res.Pages != 2 {
		t.Errorf("owner-only PDF not passed through unchanged (pages %d)", res.Pages)
	}

	res, err = Build(context.Background(), []Input{input(t, extra), input(t, owner)}, Options{TempDir: dir})
	if err != nil {
		t.Fatalf("merge with owner-only encrypted PDF: %v", err)
	}
	if res.Pages != 3 {
		t.Errorf("Pages = %d", res.Pages)
	}
	if n, err := PageCount(res.Path); err != nil || n != 3 {
		t.Errorf("merged: %d %v", n, err)
	}
}

func TestBuildChecksInputHash(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "a.pdf")
	writePDF(t, src, 1, 0)
	in := input(t, src)
	in.SHA256 = "00" + in.SHA256[2:]
	out := t.TempDir()
	if _, err := Build(context.Background(), []Input{in}, Options{TempDir: out}); faxbridge.ErrorCode(err) != faxbridge.EInternal {
		t.Errorf("changed file: err %v, want an internal error", err)
	}
	if left, _ := os.ReadDir(out); len(left) != 0 {
		t.Errorf("files left: %v", left)
	}
}

func TestBuildCancelled(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "a.pdf")
	writePDF(t, src, 1, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Build(ctx, []Input{input(t, src)}, Options{TempDir: dir}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestPageCount(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "seven.pdf")
	writePDF(t, src, 7, 0)
	if n, err := PageCount(src); err != nil || n != 7 {
		t.Errorf("PageCount = %d, %v", n, err)
	}
	bad := filepath.Join(dir, "bad.pdf")
	os.WriteFile(bad, []byte("not a pdf"), 0o600)
	if _, err := PageCount(bad); faxbridge.ErrorCode(err) != faxbridge.EBadContent {
		t.Errorf("bad file: %v", err)
	}
}

func stat(t *testing.T, path string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

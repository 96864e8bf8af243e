package jobs

import (
	"errors"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/mailparse"
)

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	base, max := time.Second, 30*time.Second
	prev := time.Duration(0)
	for n := 1; n <= 10; n++ {
		d := backoff(n, base, max)
		nominal := base << (n - 1)
		if nominal > max {
			nominal = max
		}
		if d < nominal*8/10 || d > nominal*12/10 {
			t.Errorf("backoff(%d) = %v, want %v ±20%%", n, d, nominal)
		}
		if n <= 4 && d <= prev*8/10 {
			t.Errorf("backoff(%d) = %v did not grow from %v", n, d, prev)
		}
		prev = d
	}
}

func TestRetryDelayHonoursRetryAfter(t *testing.T) {
	s := &Service{cfg: Config{RetryMax: time.Minute}}
	err := &faxbridge.Error{Code: faxbridge.EUnavailable, RetryAfter: 7 * time.Second}
	if d := s.retryDelay(err, 5); d != 7*time.Second {
		t.Errorf("retryDelay = %v, want the provider's 7s", d)
	}
	err.RetryAfter = 24 * time.Hour
	if d := s.retryDelay(err, 1); d != 6*time.Minute {
		t.Errorf("retryDelay = %v, want the 6×RetryMax cap", d)
	}
	if d := s.retryDelay(errors.New("x"), 1); d > 6*time.Second {
		t.Errorf("retryDelay without Retry-After = %v", d)
	}
}

func TestRedials(t *testing.T) {
	s := &Service{}
	j := &faxbridge.Job{Attempts: []faxbridge.Attempt{{Status: "busy"}, {Status: "no-answer"}, {Status: "failed"}, {Status: "busy"}}}
	if got := s.redials(j); got != 2 {
		t.Errorf("redials = %d, want 2 (three busy/no-answer attempts, the last not yet a redial)", got)
	}
}

func TestResolutionError(t *testing.T) {
	for msg, want := range map[string]bool{
		"Far end cannot receive at the resolution of the image": true,
		"The call dropped prematurely":                          false,
		"":                                                      false,
	} {
		if got := resolutionError(msg); got != want {
			t.Errorf("resolutionError(%q) = %v", msg, got)
		}
	}
}

func TestSameHost(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"https://s3.example.com/b/k1?X=1", "https://S3.example.com/b/k2?Y=2", true},
		{"https://media.signalwire.com/f/1", "https://s3.example.com/b/k", false},
		{"http://s3.example.com/b", "https://s3.example.com/b", false},
		{"", "https://s3.example.com/b", false},
	}
	for _, tt := range tests {
		if got := sameHost(tt.a, tt.b); got != tt.want {
			t.Errorf("sameHost(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}

func TestPickDocuments(t *testing.T) {
	logo := filepath.Join(t.TempDir(), "logo.png")
	f, err := os.Create(logo)
	if err != nil {
		t.Fatal(err)
	}
	png.Encode(f, image.NewGray(image.Rect(0, 0, 16, 16)))
	f.Close()
	msg := &mailparse.Message{Parts: []mailparse.Part{
		{Name: "a.pdf", DeclaredType: "application/pdf", Kind: mailparse.KindPDF, SHA256: "1", Path: "/x/1"},
		{Name: "logo.png", DeclaredType: "image/png", Kind: mailparse.KindPNG, SHA256: "2", Path: logo, Disposition: "inline"},
		{Name: "b.pdf", DeclaredType: "application/octet-stream", Kind: mailparse.KindPDF, SHA256: "3", Path: "/x/3"},
		{Name: "a-again.pdf", DeclaredType: "application/pdf", Kind: mailparse.KindPDF, SHA256: "1", Path: "/x/4"},
		{Name: "notes.docx", DeclaredType: "application/msword", Kind: mailparse.KindOther, SHA256: "5"},
	}}
	in, skipped := (&Service{}).pickDocuments(msg)
	if len(in) != 2 || in[0].Name != "a.pdf" || in[1].Name != "b.pdf" {
		t.Errorf("inputs = %+v, want a.pdf then b.pdf", in)
	}
	all := strings.Join(skipped, "\n")
	for _, want := range []string{"logo.png", "a-again.pdf", "notes.docx"} {
		if !strings.Contains(all, want) {
			t.Errorf("skipped list does not mention %s:\n%s", want, all)
		}
	}
}

func TestDescribeFound(t *testing.T) {
	if got := describeFound(&mailparse.Message{Text: "hello"}); got != "found only text" {
		t.Errorf("text only: %q", got)
	}
	var parts []mailparse.Part
	for i := 0; i < 8; i++ {
		parts = append(parts, mailparse.Part{DeclaredType: "image/gif"})
	}
	if got := describeFound(&mailparse.Message{Parts: parts}); !strings.Contains(got, "and 3 more") {
		t.Errorf("many parts: %q", got)
	}
}

type failAfter struct {
	data []byte
	err  error
}

func (f *failAfter) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// The SMTP stream's error must survive a lenient parser that stops reading
// early: it decides between 552 (too large) and 250.
func TestStickyReaderKeepsFirstError(t *testing.T) {
	tooLarge := errors.New("too large")
	r := &stickyReader{r: &failAfter{data: []byte("abc"), err: tooLarge}}
	if _, err := io.ReadAll(r); err != tooLarge {
		t.Fatalf("ReadAll = %v", err)
	}
	if n, err := r.Read(make([]byte, 4)); n != 0 || err != tooLarge {
		t.Errorf("after error: %d, %v", n, err)
	}
}

func TestRoundDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		42 * time.Second:            "42s",
		3*time.Hour + 2*time.Minute: "3h2m",
		50 * time.Hour:              "50h",
		90 * time.Second:            "2m",
	} {
		if got := roundDuration(d); got != want {
			t.Errorf("roundDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestSubjectQuality(t *testing.T) {
	for subj, want := range map[string]string{
		"Contract [standard]": "standard", "[SUPERFINE] x-ray": "superfine", "[fine]": "fine", "no tag": "", "[superfine": "",
	} {
		if got := subjectQuality(subj); got != want {
			t.Errorf("subjectQuality(%q) = %q, want %q", subj, got, want)
		}
	}
}

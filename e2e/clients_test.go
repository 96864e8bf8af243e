//go:build e2e

package e2e

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faxbridge/faxbridge"
	"github.com/faxbridge/faxbridge/internal/testenv"
)

// The client tests send generated documents (PDFs, a multi-page Group 4 fax
// TIFF, a JPEG photo) with real mail programs and libraries, several
// documents per message, and check that each fax has every page, in
// message order: at the simulator, in the report and in the job.

// attachment is one generated document and how a message carries it.
type attachment struct {
	path  string
	name  string // the file name the message gives it
	ctype string // the declared Content-Type
	kind  string // what the job must call it
	pages int
}

// docs are the documents every client test sends.
type docs struct {
	pdf1, pdf2, tiff3, photo attachment
}

func makeDocs(t *testing.T) docs {
	t.Helper()
	return docs{
		pdf1:  attachment{pdf(t, "letter.pdf", 1), "letter.pdf", "application/pdf", "pdf", 1},
		pdf2:  attachment{pdf(t, "contract.pdf", 2), "contract.pdf", "application/pdf", "pdf", 2},
		tiff3: attachment{faxTIFF(t, "scan0001.tif", 3), "scan0001.tif", "image/tiff", "tiff", 3},
		photo: attachment{photo(t, "photo.jpg"), "photo.jpg", "image/jpeg", "jpeg", 1},
	}
}

// faxTIFF writes a multi-page bilevel CCITT Group 4 TIFF at 200 dpi, as a
// fax machine or scanner makes: pages rendered by ghostscript, joined and
// compressed by ImageMagick.
func faxTIFF(t *testing.T, name string, pages int) string {
	t.Helper()
	for _, tool := range []string{"convert", "tiffinfo"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed by the client tests: %v", tool, err)
		}
	}
	dir := t.TempDir()
	src := pdf(t, strings.TrimSuffix(name, filepath.Ext(name))+".pdf", pages)
	out, err := exec.Command("gs", "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=pngmono", "-r200",
		"-o", filepath.Join(dir, "page%03d.png"), src).CombinedOutput()
	if err != nil {
		t.Fatalf("gs: %v\n%s", err, out)
	}
	pngs, err := filepath.Glob(filepath.Join(dir, "page*.png"))
	if err != nil || len(pngs) != pages {
		t.Fatalf("gs made %d page images, want %d (%v)", len(pngs), pages, err)
	}
	path := filepath.Join(t.TempDir(), name)
	args := append(pngs, "-monochrome", "-compress", "Group4", "-units", "PixelsPerInch", "-density", "200", path)
	if out, err := exec.Command("convert", args...).CombinedOutput(); err != nil {
		t.Fatalf("convert: %v\n%s", err, out)
	}
	// Check the file is what the test claims: Group 4, one directory a page.
	info, err := exec.Command("tiffinfo", path).CombinedOutput()
	if err != nil {
		t.Fatalf("tiffinfo: %v\n%s", err, info)
	}
	if n := strings.Count(string(info), "TIFF Directory at offset"); n != pages || !strings.Contains(string(info), "CCITT Group 4") {
		t.Fatalf("%s: %d pages, want %d Group 4 pages:\n%s", name, n, pages, info)
	}
	return path
}

// photo writes a colour JPEG of 1600×1200 pixels, like a phone photo.
func photo(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("convert", "-size", "1600x1200", "-seed", "7", "plasma:orange-navy",
		"-quality", "85", path).CombinedOutput()
	if err != nil {
		t.Fatalf("convert: %v\n%s", err, out)
	}
	return path
}

// clientCase is one message sent by one client.
type clientCase struct {
	client   string
	to       string // E.164; the message goes to its digits at the fax domain
	reportTo string
	msgID    string // "" when the client sends none
	docs     []attachment
	send     func(c clientCase) (int, string)
}

func (c clientCase) rcpt() string { return strings.TrimPrefix(c.to, "+") + "@" + faxDomain }

func (c clientCase) pages() int {
	n := 0
	for _, d := range c.docs {
		n += d.pages
	}
	return n
}

// runClients sends every case on one stack, one after the other, then
// checks each fax and report, settles the stack and checks each job.
func runClients(t *testing.T, s *stack, cases []clientCase) {
	t.Helper()
	for _, c := range cases {
		code, out := c.send(c)
		if code != 0 {
			t.Fatalf("%s exit %d:\n%s", c.client, code, out)
		}
	}
	reports := s.waitReports(len(cases), 60*time.Second)
	for _, c := range cases {
		checkClientFax(t, s, c, reports)
	}
	jobs := s.settle(len(cases))
	for _, c := range cases {
		var job *faxbridge.Job
		for _, j := range jobs {
			if j.Destination.To == c.to {
				job = j
			}
		}
		if job == nil {
			t.Errorf("%s: no job to %s", c.client, c.to)
			continue
		}
		var got, want []string
		for _, d := range job.Documents {
			got = append(got, fmt.Sprintf("%s %s %d", d.Name, d.Type, d.Pages))
		}
		for _, d := range c.docs {
			want = append(want, fmt.Sprintf("%s %s %d", d.name, d.kind, d.pages))
		}
		if strings.Join(got, ", ") != strings.Join(want, ", ") || job.Pages != c.pages() {
			t.Errorf("%s: job documents [%s] (%d pages), want [%s] (%d pages)", c.client, strings.Join(got, ", "), job.Pages, strings.Join(want, ", "), c.pages())
		}
		if len(job.Skipped) != 0 {
			t.Errorf("%s: job skipped %q, want nothing skipped", c.client, job.Skipped)
		}
	}
}

// checkClientFax checks one case's fax at the simulator and its report.
func checkClientFax(t *testing.T, s *stack, c clientCase, reports []testenv.MailMessage) {
	t.Helper()
	cr := s.createFor(c.to)
	if cr.Answer != http.StatusOK {
		t.Errorf("%s: create answered %d", c.client, cr.Answer)
	}
	if m := cr.Media; !m.Fetched || m.Status != http.StatusOK || m.Err != "" || !strings.HasPrefix(m.ContentType, "application/pdf") {
		t.Errorf("%s: media fetch %+v, want a PDF served with 200", c.client, m)
	}
	if f, ok := s.sim.Fax(cr.SID); !ok || f.Status != "delivered" || f.NumPages != c.pages() {
		t.Errorf("%s: simulator fax %s: status %q, %d pages; want delivered with %d pages", c.client, cr.SID, f.Status, f.NumPages, c.pages())
	}
	r := s.reportFor(reports, c.to)
	checkReport(t, r, c.to, "delivered", c.reportTo, c.msgID, c.pages())
	// The report lists the documents in fax order, each with its pages.
	at := 0
	for _, d := range c.docs {
		line := fmt.Sprintf("%s, %d page", d.name, d.pages)
		i := strings.Index(r.Text[at:], line)
		if i < 0 {
			t.Errorf("%s: the report does not list %q after the documents before it:\n%s", c.client, line, r.Text)
			break
		}
		at += i + len(line)
	}
}

// TestClientsCommandLine sends with swaks, curl, mutt and s-nail, each a
// different mix of PDFs, a G4 TIFF and a JPEG, on one stack.
func TestClientsCommandLine(t *testing.T) {
	t.Parallel()
	s := newStack(t, opts{})
	for _, tool := range []string{"curl", "mutt", "s-nail"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed by the client tests: %v", tool, err)
		}
	}
	d := makeDocs(t)
	home := t.TempDir() // s-nail and mutt want a writable HOME
	env := []string{"HOME=" + home}

	cases := []clientCase{
		{client: "swaks", to: "+15551231001", reportTo: "anna@client.example", msgID: "<swaks-" + rand.Text() + "@client.example>",
			docs: []attachment{d.tiff3, d.pdf1},
			send: func(c clientCase) (int, string) {
				var extra []string
				for _, a := range c.docs {
					extra = append(extra, "--attach-type", a.ctype, "--attach-name", a.name, "--attach", "@"+a.path)
				}
				s.mustSend(mail{to: c.rcpt(), from: "anna@client.example", messageID: c.msgID, subject: "scan via swaks", extra: extra})
				return 0, ""
			}},
		// curl sends no Date and no Message-ID.
		{client: "curl", to: "+15551231002", reportTo: "carol@client.example",
			docs: []attachment{d.pdf2, d.photo},
			send: func(c clientCase) (int, string) {
				args := []string{"--url", "smtp://" + s.smtpAddr, "--mail-from", "carol@client.example", "--mail-rcpt", c.rcpt(),
					"-H", "Subject: via curl", "-H", "From: Carol <carol@client.example>", "-H", "To: " + c.rcpt(),
					"-F", "=Please fax these.;type=text/plain"}
				for _, a := range c.docs {
					args = append(args, "-F", "=@"+a.path+";type="+a.ctype+";encoder=base64;filename="+a.name)
				}
				return s.curl(args...)
			}},
		// mutt labels the attachments from the system's MIME types.
		{client: "mutt", to: "+15551231003", reportTo: "erin@client.example", msgID: "<mutt-" + rand.Text() + "@client.example>",
			docs: []attachment{d.photo, d.tiff3, d.pdf2},
			send: func(c clientCase) (int, string) {
				args := []string{"-n", "-F", "/dev/null",
					"-e", `set smtp_url="smtp://` + s.smtpAddr + `" ssl_starttls=no ssl_force_tls=no from="Erin <erin@client.example>" record="" copy=no`,
					"-e", "my_hdr Message-ID: " + c.msgID,
					"-s", "via mutt", "-a"}
				for _, a := range c.docs {
					args = append(args, a.path)
				}
				args = append(args, "--", c.rcpt())
				return s.client("Please fax these.\n", env, "mutt", args...)
			}},
		{client: "s-nail", to: "+15551231004", reportTo: "dave@client.example", msgID: "<snail-" + rand.Text() + "@client.example>",
			docs: []attachment{d.pdf1, d.photo, d.pdf2},
			send: func(c clientCase) (int, string) {
				// -t reads the header from the template: the only way
				// s-nail lets the test choose the Message-ID.
				tmpl := "From: Dave <dave@client.example>\nTo: " + c.rcpt() + "\nSubject: via s-nail\nMessage-ID: " + c.msgID + "\n\nPlease fax these.\n"
				args := []string{"-:/", "-S", "v15-compat", "-S", "mta=smtp://" + s.smtpAddr, "-S", "smtp-auth=none", "-S", "sendwait", "-t"}
				for _, a := range c.docs {
					args = append(args, "-a", a.path)
				}
				return s.client(tmpl, env, "s-nail", args...)
			}},
	}
	runClients(t, s, cases)
}

// pythonSender is a message built with Python's email package (its default
// policy: RFC 2231 file names) and sent with smtplib.
const pythonSender = `
import smtplib, sys
from email.message import EmailMessage
from email.utils import formatdate

host, port, sender, rcpt, msgid = sys.argv[1:6]
m = EmailMessage()
m["From"] = "Grete Müller <" + sender + ">"
m["To"] = rcpt
m["Subject"] = "Überweisung und Lieferschein"
m["Date"] = formatdate(localtime=True)
m["Message-ID"] = msgid
m.set_content("Bitte faxen.\n")
for spec in sys.argv[6:]:
    path, name, ctype = spec.split("|")
    maintype, subtype = ctype.split("/")
    with open(path, "rb") as f:
        m.add_attachment(f.read(), maintype=maintype, subtype=subtype, filename=name)
with smtplib.SMTP(host, int(port), timeout=60) as s:
    s.send_message(m, from_addr=sender, to_addrs=[rcpt])
`

// TestClientsPython sends one message built by Python's email package,
// with non-ASCII file names, through smtplib.
func TestClientsPython(t *testing.T) {
	t.Parallel()
	python := testenv.Tool(t, "FAXBRIDGE_PYTHON_BIN", "python3")
	s := newStack(t, opts{})
	d := makeDocs(t)
	d.pdf1.name = "Überweisung März.pdf"
	d.tiff3.name = "Lieferschein Nr. 5 – Seite 1-3.tif"
	runClients(t, s, []clientCase{
		{client: "python", to: "+15551231005", reportTo: "grete@client.example", msgID: "<python-" + rand.Text() + "@client.example>",
			docs: []attachment{d.pdf1, d.tiff3, d.photo},
			send: func(c clientCase) (int, string) {
				host, port, err := net.SplitHostPort(s.smtpAddr)
				if err != nil {
					t.Fatal(err)
				}
				args := []string{"-c", pythonSender, host, port, c.reportTo, c.rcpt(), c.msgID}
				for _, a := range c.docs {
					args = append(args, a.path+"|"+a.name+"|"+a.ctype)
				}
				return s.client("", nil, python, args...)
			}},
	})
}

// nodemailerSender sends one message with nodemailer's SMTP transport.
const nodemailerSender = `
const nodemailer = require("nodemailer");
const [host, port, from, to, messageId, ...specs] = process.argv.slice(1);
const transport = nodemailer.createTransport({ host, port: Number(port), secure: false, ignoreTLS: true });
transport.sendMail({
  from: "Heidi <" + from + ">", to, subject: "via nodemailer", text: "Please fax these.", messageId,
  attachments: specs.map((s) => { const [path, filename, contentType] = s.split("|"); return { path, filename, contentType }; }),
}).then((info) => console.log(info.response), (err) => { console.error(err); process.exit(1); });
`

// TestClientsNodemailer runs only where node finds a nodemailer package
// (node_modules above this directory, or NODE_PATH): the repository does
// not install npm packages.
func TestClientsNodemailer(t *testing.T) {
	t.Parallel()
	if binPath == "" {
		testenv.Missing(t, "FAXBRIDGE_E2E is not 1: skipping the end-to-end test")
	}
	node := testenv.Tool(t, "FAXBRIDGE_NODE_BIN", "node")
	if out, err := exec.Command(node, "-e", `require("nodemailer")`).CombinedOutput(); err != nil {
		testenv.Missing(t, "node has no nodemailer package (install one, or set NODE_PATH): %v\n%s", err, firstLine(out))
	}
	s := newStack(t, opts{})
	d := makeDocs(t)
	d.pdf2.name = "Angebot für Café Ørsted.pdf"
	runClients(t, s, []clientCase{
		{client: "nodemailer", to: "+15551231006", reportTo: "heidi@client.example", msgID: "<nodemailer-" + rand.Text() + "@client.example>",
			docs: []attachment{d.pdf2, d.tiff3},
			send: func(c clientCase) (int, string) {
				host, port, err := net.SplitHostPort(s.smtpAddr)
				if err != nil {
					t.Fatal(err)
				}
				args := []string{"-e", nodemailerSender, host, port, c.reportTo, c.rcpt(), c.msgID}
				for _, a := range c.docs {
					args = append(args, a.path+"|"+a.name+"|"+a.ctype)
				}
				return s.client("", nil, node, args...)
			}},
	})
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

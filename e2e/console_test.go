//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/faxbridge/faxbridge/faxsend/signalwiretest"
	"github.com/faxbridge/faxbridge/internal/testenv"
)

// chromiumPath is Debian's chromium; scripts/test installs it.
const chromiumPath = "/usr/bin/chromium"

// browser is one headless Chromium with its own profile: its own cookies,
// as a separate person's browser would have.
type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string // screenshot directory
}

func newBrowser(t *testing.T, base, shots string) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("chromium is needed by the console tests (apt-get install chromium): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1366, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first call starts the browser and must not carry a deadline
	// (it would end the browser); later calls share one.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1366, 900)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	tctx, cancelTime := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(cancelTime)
	return &browser{t: t, ctx: tctx, base: base, shots: shots}
}

func (b *browser) run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

func value[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	return v
}

// here returns where the browser is and the page's text.
func (b *browser) here() (string, string) {
	b.t.Helper()
	b.run(chromedp.WaitReady(chromedp.CSS("body")))
	return strings.TrimPrefix(value(b, chromedp.Location()), b.base), value(b, chromedp.Text(chromedp.CSS("body")))
}

// open loads a page and returns where the browser ended up and its text.
func (b *browser) open(path string) (string, string) {
	b.t.Helper()
	b.run(chromedp.Navigate(b.base + path))
	return b.here()
}

func js(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](expr)(ctx, t)
		return err
	})
}

// submit clicks a button that submits a form (or a link) and waits for the
// next page.
func (b *browser) submit(button string, actions ...chromedp.Action[chromedp.Void]) (string, string) {
	b.t.Helper()
	all := append([]chromedp.Action[chromedp.Void]{js(`document.body.setAttribute("data-stale", "1")`)}, actions...)
	all = append(all, chromedp.Click(chromedp.CSS(button)), chromedp.WaitNotPresent(chromedp.CSS("body[data-stale]")))
	b.run(all...)
	return b.here()
}

func (b *browser) signIn(name, password string) (string, string) {
	b.t.Helper()
	b.open("/signin")
	return b.submit(`form[action="/signin"] button`,
		chromedp.SendKeys(chromedp.CSS(`input[name=name]`), name),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password))
}

func (b *browser) session() *network.Cookie {
	b.t.Helper()
	res := value(b, func(ctx context.Context, t *chromedp.Target) (*network.GetCookiesResult, error) {
		r, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{})
		return &r, err
	})
	for _, c := range res.Cookies {
		if c.Name == "faxbridge_session" {
			return c
		}
	}
	return nil
}

// shoot keeps the current page as two PNGs, at a laptop's and a phone's
// width.
func (b *browser) shoot(name string) {
	b.t.Helper()
	for _, v := range []struct {
		suffix string
		w, h   int64
	}{{"laptop", 1366, 900}, {"phone", 390, 844}} {
		b.run(chromedp.EmulateViewport(v.w, v.h))
		png := value(b, chromedp.FullScreenshot(100))
		path := filepath.Join(b.shots, name+"-"+v.suffix+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.run(chromedp.EmulateViewport(1366, 900))
}

// artifacts is where screenshots are kept: $FAXBRIDGE_ARTIFACTS/console,
// or a directory that outlives the test, named in its log.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("FAXBRIDGE_ARTIFACTS")
	var err error
	if dir != "" {
		dir = filepath.Join(dir, "console")
		err = os.MkdirAll(dir, 0o755)
	} else {
		dir, err = os.MkdirTemp("", "faxbridge-console-screenshots-")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("console screenshots: %s", dir)
	return dir
}

func hash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// waitFor polls the page at path until its text contains want.
func (b *browser) waitFor(path, want string, timeout time.Duration) string {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, text := b.open(path)
		if strings.Contains(text, want) {
			return text
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s never showed %q; it shows:\n%s", path, want, text)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestConsoleInBrowser drives the web console in a real Chromium against
// the real binary: sign-in, a wrong password, the list, search, a fax's
// page, resend, cancel, sending from the browser, CSRF refusal, a user
// who cannot see another's fax, sign-out.
func TestConsoleInBrowser(t *testing.T) {
	t.Parallel()
	var consoleAddr string
	s := newStack(t, opts{extraTOML: func(s *stack) string {
		consoleAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t)))
		return fmt.Sprintf("[console]\nlisten = %q\n\n[[users]]\nname = \"office\"\npassword_hash = %q\nconsole = \"admin\"\nreport_to = \"office@client.example\"\n\n"+
			"[[users]]\nname = \"bob\"\npassword_hash = %q\nconsole = \"user\"\nreport_to = \"bob@client.example\"\n",
			consoleAddr, hash(t, "office-secret"), hash(t, "bob-secret"))
	}})
	base := "http://" + consoleAddr
	shots := artifacts(t)

	// A fax delivered by mail.
	s.mustSend(mail{to: "15551234567@" + faxDomain, from: "alice@client.example", subject: "Signed lease", pdfs: []string{pdf(t, "lease.pdf", 2)}})
	s.waitReports(1, 60*time.Second)
	delivered := s.jobFor("+15551234567")
	sid := s.createFor("+15551234567").SID

	// A fresh browser gets the sign-in page and nothing about the fax, on
	// every path.
	anon := newBrowser(t, base, shots)
	for _, p := range []string{"/", "/fax/" + delivered, "/fax/" + delivered + "/document.pdf", "/health", "/send", "/?q=555"} {
		loc, text := anon.open(p)
		if !strings.HasPrefix(loc, "/signin") || !strings.Contains(text, "Sign in") {
			t.Errorf("fresh browser at %s: ended at %s", p, loc)
		}
		for _, secret := range []string{sid, "555-123-4567", "Signed lease"} {
			if strings.Contains(text, secret) {
				t.Errorf("fresh browser at %s sees %q", p, secret)
			}
		}
	}
	anon.shoot("signin")
	// A wrong password: no session.
	if _, text := anon.signIn("office", "not-the-password"); !strings.Contains(text, "Wrong user name or password") {
		t.Errorf("wrong password page:\n%s", text)
	}
	if c := anon.session(); c != nil {
		t.Errorf("a wrong password left a session cookie: %+v", c)
	}

	// The right one: the list with the delivered fax.
	admin := newBrowser(t, base, shots)
	loc, list := admin.signIn("office", "office-secret")
	if loc != "/" || !strings.Contains(list, "+1 555-123-4567") || !strings.Contains(list, "delivered") || !strings.Contains(list, "Signed lease") {
		t.Fatalf("after sign-in at %s:\n%s", loc, list)
	}
	c := admin.session()
	if c == nil || !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax {
		t.Fatalf("session cookie: %+v, want HttpOnly and SameSite=Lax", c)
	}

	// Search by the number as people write it, and by the SID.
	_, found := admin.submit(`form.filters button`, chromedp.SendKeys(chromedp.CSS(`input[name=q]`), "(555) 123-4567"))
	if !strings.Contains(found, "Signed lease") {
		t.Errorf("search by number:\n%s", found)
	}
	if _, bySID := admin.open("/?q=" + sid); !strings.Contains(bySID, "Signed lease") {
		t.Errorf("search by SID:\n%s", bySID)
	}
	if _, none := admin.open("/?q=nothing-like-this"); !strings.Contains(none, "No faxes match") {
		t.Errorf("search for nothing:\n%s", none)
	}

	// The fax's page: SID and timeline.
	admin.open("/")
	_, page := admin.submit(`a[href="/fax/` + delivered + `"]`)
	for _, want := range []string{sid, "Timeline", "Accepted", "Attempt 1", "Finished", "Report sent", "lease.pdf"} {
		if !strings.Contains(page, want) {
			t.Errorf("fax page lacks %q:\n%s", want, page)
		}
	}
	admin.shoot("fax")

	// With the provider down, a fax by mail waits in the queue: resend it
	// (one new fax), then cancel the original (never sent).
	s.sim.SetFaults(signalwiretest.Faults{DownUntil: time.Now().Add(time.Hour), DownMode: signalwiretest.Down503})
	s.mustSend(mail{to: "15557654321@" + faxDomain, from: "alice@client.example", subject: "Waiting fax", pdfs: []string{pdf(t, "wait.pdf", 1)}})
	waiting := s.jobFor("+15557654321")
	admin.waitFor("/fax/"+waiting, "Waiting to retry", 30*time.Second) // its first failed try is on the page
	loc, page = admin.submit(`form[action$="/resend"] button`)
	if !strings.HasPrefix(loc, "/fax/") || strings.Contains(loc, waiting) || !strings.Contains(page, "A new fax was created") {
		t.Fatalf("resend ended at %s:\n%s", loc, page)
	}
	resent := strings.TrimPrefix(strings.SplitN(loc, "?", 2)[0], "/fax/")

	// A form whose token was tampered with is refused and does nothing.
	admin.open("/fax/" + waiting)
	_, refused := admin.submit(`form[action$="/cancel"] button`,
		chromedp.SetValue(chromedp.CSS(`form[action$="/cancel"] input[name=csrf]`), "forged"))
	if !strings.Contains(refused, "did not come from the console page") {
		t.Errorf("forged CSRF token:\n%s", refused)
	}
	admin.shoot("csrf-refused")
	canceled := false
	for try := 0; try < 10 && !canceled; try++ {
		admin.open("/fax/" + waiting)
		_, page = admin.submit(`form[action$="/cancel"] button`)
		canceled = strings.Contains(page, "canceled")
		if !canceled && !strings.Contains(page, "being submitted right now") {
			t.Fatalf("cancel:\n%s", page)
		}
	}
	if !canceled {
		t.Fatal("the waiting fax could not be canceled")
	}
	s.sim.SetFaults(signalwiretest.Faults{})
	admin.waitFor("/fax/"+resent, "delivered", 60*time.Second)

	// Send from the browser, with a cover page.
	doc := pdf(t, "browser.pdf", 1)
	admin.open("/send")
	admin.run(chromedp.SendKeys(chromedp.CSS(`input[name=to]`), "+1 555 222 3333"),
		chromedp.SetUploadFiles(chromedp.CSS(`input[name=files]`), []string{doc}),
		chromedp.SendKeys(chromedp.CSS(`input[name=subject]`), "From the browser"),
		chromedp.SendKeys(chromedp.CSS(`textarea[name=cover]`), "Two pages follow: the cover and the letter."))
	admin.shoot("send")
	loc, page = admin.submit(`form[action="/send"] button`)
	if !strings.HasPrefix(loc, "/fax/") || !strings.Contains(page, "+1 555-222-3333") {
		t.Fatalf("send from the browser ended at %s:\n%s", loc, page)
	}
	sentID := strings.TrimPrefix(strings.SplitN(loc, "?", 2)[0], "/fax/")
	page = admin.waitFor("/fax/"+sentID, "delivered", 60*time.Second)
	if !strings.Contains(page, "browser.pdf") || !strings.Contains(page, "cover page") {
		t.Errorf("the browser's fax page:\n%s", page)
	}
	admin.open("/")
	admin.shoot("list")
	admin.open("/health")
	admin.shoot("health")

	// Bob sends his own fax from the browser and sees only that one.
	bob := newBrowser(t, base, shots)
	if loc, _ := bob.signIn("bob", "bob-secret"); loc != "/" {
		t.Fatalf("bob signs in: at %s", loc)
	}
	bob.open("/send")
	bob.run(chromedp.SendKeys(chromedp.CSS(`input[name=to]`), "15553334444"),
		chromedp.SetUploadFiles(chromedp.CSS(`input[name=files]`), []string{doc}))
	if loc, _ := bob.submit(`form[action="/send"] button`); !strings.HasPrefix(loc, "/fax/") {
		t.Fatalf("bob's send ended at %s", loc)
	}
	_, bobList := bob.open("/")
	if !strings.Contains(bobList, "555-333-4444") || strings.Contains(bobList, "Signed lease") || strings.Contains(bobList, "555-222-3333") {
		t.Errorf("bob's list:\n%s", bobList)
	}
	if _, other := bob.open("/fax/" + delivered); !strings.Contains(other, "Not Found") || strings.Contains(other, sid) {
		t.Errorf("bob opens another's fax:\n%s", other)
	}

	// Sign-out ends the session.
	loc, _ = admin.submit(`form.signout button`)
	if !strings.HasPrefix(loc, "/signin") {
		t.Errorf("sign-out ended at %s", loc)
	}
	if loc, _ := admin.open("/fax/" + delivered); !strings.HasPrefix(loc, "/signin") {
		t.Errorf("after sign-out the fax page is at %s", loc)
	}

	// Exactly the faxes asked for reached the provider: the mail's, the
	// resend, the browser's and bob's; never the canceled one.
	s.waitIdle(60 * time.Second)
	creates := s.sim.Creates()
	if len(creates) != 4 {
		t.Errorf("%d faxes created, want 4", len(creates))
	}
	n := 0
	for _, c := range creates {
		if c.Form.Get("To") == "+15557654321" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d faxes to the resent number, want exactly 1 (the resend; the canceled original never)", n)
	}
}

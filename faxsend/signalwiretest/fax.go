package signalwiretest

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"
)

const (
	apiVersion = "v1"
	// maxMedia bounds what the simulator reads of a document.
	maxMedia = 64 << 20
	// pricePerPage is what a delivered page costs, as SignalWire reports it:
	// negative, since it is a charge.
	pricePerPage = -0.007

	codeMediaType     = "12300"
	msgMediaType      = "Media content type invalid"
	codeMediaDownload = "63019"
	msgMediaDownload  = "Media could not be downloaded"
)

var errClosed = errors.New("signalwiretest: server closed")

// final reports whether status is terminal for an outbound fax.
func final(status string) bool {
	switch status {
	case "delivered", "no-answer", "busy", "failed", "canceled":
		return true
	}
	return false
}

// createFax stores a new queued fax and starts its lifecycle and callback
// sender. answer is the HTTP status the client is about to get.
func (s *Server) createFax(spec Fax, form url.Values, answer int) (*fax, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	now := s.cfg.Now()
	s.seq++
	f := &fax{
		Fax:  spec,
		seq:  s.seq,
		stop: make(chan struct{}),
		// Room for every event a fax can emit (initiated, ringing, answered,
		// completed), so emit never blocks while holding the lock.
		events: make(chan event, 8),
	}
	f.SID = newUUID()
	f.AccountSID = s.cfg.ProjectID
	f.MediaSID = newUUID()
	f.Status = "queued"
	f.History = []string{"queued"}
	f.Created, f.Updated = now, now
	s.faxes[f.SID] = f
	s.creates = append(s.creates, &createRec{Create: Create{Time: now, SID: f.SID, Form: cloneValues(form), Answer: answer}, fax: f})
	s.begin()
	s.begin()
	go s.run(f)
	go s.deliver(f.SID, f.events)
	// The Ttl watch does not count as activity: WaitIdle must not wait an
	// hour for a stalled fax. Close still waits for it.
	unit := s.faults.TTLUnit
	if unit <= 0 {
		unit = time.Minute
	}
	s.wg.Add(1)
	go s.expire(f, time.Duration(f.TTL)*unit)
	s.emit(f, "initiated")
	s.logf("signalwiretest: fax %s created to %s", f.SID, f.To)
	return f, nil
}

// run steps a fax through its statuses.
func (s *Server) run(f *fax) {
	defer s.end()
	defer func() {
		s.mu.Lock()
		s.closeEvents(f)
		s.mu.Unlock()
	}()
	if !s.sleep(s.cfg.StepDelay, f.stop) || !s.advance(f, "queued", "processing") {
		return
	}
	media, body, code, msg := s.fetchMedia(f.MediaURL)
	pages := 0
	if code == "" {
		pages = max(s.cfg.PageCounter(body), 0)
	}
	s.mu.Lock()
	f.Media = media
	if code == "" && f.StoreMedia {
		f.body = body
	}
	s.mu.Unlock()
	if code != "" {
		s.finish(f, "processing", Outcome{Status: "failed", ErrorCode: code, ErrorMessage: msg})
		return
	}
	if !s.sleep(s.cfg.StepDelay, f.stop) || !s.advance(f, "processing", "sending") {
		return
	}
	out := s.outcome(f, pages)
	if out.Stall {
		s.logf("signalwiretest: fax %s stalls in sending", f.SID)
		return
	}
	if !s.sleep(s.cfg.StepDelay, f.stop) {
		return
	}
	s.finish(f, "sending", out)
}

// outcome asks the faults how the fax ends and fills the defaults.
func (s *Server) outcome(f *fax, pages int) Outcome {
	s.mu.Lock()
	decide := s.faults.Outcome
	snap := f.snapshot()
	s.mu.Unlock()
	var out Outcome
	if decide != nil {
		out = decide(snap)
	}
	if out.Status == "" {
		out.Status = "delivered"
	}
	if out.Status == "delivered" {
		if out.Pages == 0 {
			out.Pages = pages
		}
		if out.Duration == 0 {
			out.Duration = 20 * out.Pages
		}
		if out.RemoteStationID == "" && e164.MatchString(f.To) {
			out.RemoteStationID = f.To
		}
	}
	return out
}

// expire fails the fax if it has not finished within ttl, as SignalWire
// stops trying once a fax's Ttl is over.
func (s *Server) expire(f *fax, ttl time.Duration) {
	defer s.wg.Done()
	if !s.sleep(ttl, f.stop) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if final(f.Status) || f.Deleted || s.closed {
		return
	}
	f.ErrorCode = ""
	f.ErrorMessage = "The fax expired: it could not be sent within its Ttl of " + strconv.Itoa(f.TTL) + " minutes"
	s.setStatus(f, "failed")
	// A stalled fax has already closed its callback stream; the expiry
	// still owes the completed callback, so open a new one.
	if f.events == nil && s.begin() {
		f.events = make(chan event, 8)
		go s.deliver(f.SID, f.events)
	}
	s.emit(f, "completed")
	s.closeEvents(f)
	s.stop(f)
	s.logf("signalwiretest: fax %s expired after %d minutes", f.SID, f.TTL)
}

// advance moves the fax from one status to the next unless it was
// canceled or deleted meanwhile, and emits the callbacks of the new status.
func (s *Server) advance(f *fax, from, to string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Status != from || f.Deleted {
		return false
	}
	s.setStatus(f, to)
	if to == "sending" {
		s.emit(f, "ringing")
		s.emit(f, "answered")
	}
	return true
}

// finish gives the fax its final status if it still has status from.
func (s *Server) finish(f *fax, from string, out Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Status != from || f.Deleted {
		return
	}
	f.NumPages = out.Pages
	f.Duration = out.Duration
	f.Price = 0
	if out.Pages > 0 {
		f.Price = math.Round(float64(out.Pages)*pricePerPage*1e5) / 1e5
	}
	f.RemoteStationID = out.RemoteStationID
	f.ErrorCode = out.ErrorCode
	f.ErrorMessage = out.ErrorMessage
	s.setStatus(f, out.Status)
	s.emit(f, "completed")
	s.closeEvents(f)
	s.stop(f) // ends the Ttl watch
	s.logf("signalwiretest: fax %s %s %s", f.SID, f.Status, f.ErrorCode)
}

// setStatus records a status change. Call with s.mu held.
func (s *Server) setStatus(f *fax, status string) {
	f.Status = status
	f.History = append(f.History, status)
	f.Updated = s.cfg.Now()
}

// fetchMedia GETs the document as SignalWire does: no redirects, 200 only,
// application/pdf only, and a body that is a PDF. A failure comes back as
// the error code and message the fax fails with.
func (s *Server) fetchMedia(raw string) (m Media, body []byte, code, msg string) {
	m.Fetched = true
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		m.Err = err.Error()
		return m, nil, codeMediaDownload, msgMediaDownload
	}
	req.Header.Set("User-Agent", "signalwiretest")
	resp, err := s.client.Do(req)
	if err != nil {
		m.Err = err.Error()
		return m, nil, codeMediaDownload, msgMediaDownload
	}
	defer resp.Body.Close()
	m.Status = resp.StatusCode
	m.ContentType = resp.Header.Get("Content-Type")
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxMedia+1))
	sum := sha256.Sum256(body)
	m.SHA256 = hex.EncodeToString(sum[:])
	m.Len = len(body)
	switch {
	case resp.StatusCode != http.StatusOK:
		m.Err = "status " + resp.Status
		return m, nil, codeMediaDownload, msgMediaDownload
	case err != nil:
		m.Err = "read: " + err.Error()
		return m, nil, codeMediaDownload, msgMediaDownload
	case len(body) > maxMedia:
		m.Err = "document too large"
		return m, nil, codeMediaDownload, msgMediaDownload
	}
	if mt, _, err := mime.ParseMediaType(m.ContentType); err != nil || mt != "application/pdf" {
		m.Err = "content type " + m.ContentType
		return m, nil, codeMediaType, msgMediaType
	}
	if !bytes.HasPrefix(body, []byte("%PDF-")) {
		m.Err = "body is not a PDF"
		return m, nil, codeMediaType, msgMediaType
	}
	return m, body, "", ""
}

var pageObject = regexp.MustCompile(`/Type\s*/Page\b`)

// CountPages counts the page objects of a PDF the cheap way: /Type /Page
// but not /Pages. Pages hidden in compressed object streams are not seen,
// so it never answers less than 1.
//
// Page objects may sit inside compressed object streams (PDF 1.5+, as PDF
// libraries write merged files), so Flate streams are inflated and searched
// too. Content streams never contain "/Type /Page", so they add nothing.
func CountPages(pdf []byte) int {
	n := len(pageObject.FindAllIndex(pdf, -1))
	for _, loc := range streamStart.FindAllIndex(pdf, -1) {
		body := pdf[loc[1]:]
		if end := bytes.Index(body, []byte("endstream")); end >= 0 {
			body = body[:end]
		}
		zr, err := zlib.NewReader(bytes.NewReader(body))
		if err != nil {
			continue
		}
		// Bounded: a hostile document cannot make the simulator inflate
		// gigabytes.
		inflated, _ := io.ReadAll(io.LimitReader(zr, 16<<20))
		zr.Close()
		n += len(pageObject.FindAllIndex(inflated, -1))
	}
	return max(n, 1)
}

var streamStart = regexp.MustCompile(`stream\r?\n`)

package httpd

import (
	"context"
	"encoding/xml"
	"net/http"

	"github.com/faxbridge/faxbridge"
)

// Faxes in. A SignalWire number set to handle incoming faxes with LaML
// webhooks requests InboundPath (POST, or GET if so configured); the
// answer is cXML: <Receive> with our action URL for a number that has a
// route, <Reject/> for one that has none. When the fax is in, SignalWire
// requests the action URL, and the job is committed before the answer.
// Both requests are signed like status callbacks; anything else gets 403
// and changes nothing.
const (
	InboundPath       = "/callbacks/inbound"
	InboundActionPath = "/callbacks/inbound/received"
)

// InboundCalls verifies and parses SignalWire's requests about faxes
// arriving on our numbers.
type InboundCalls interface {
	ParseInbound(r *http.Request, publicBase string) (faxbridge.FaxStatus, error)
}

// InboundSink routes and takes received faxes.
type InboundSink interface {
	// Route returns where faxes to our number `to` go; none refuses them.
	Route(to string) []string
	// ReceiveFax durably records a received (or failed) fax.
	ReceiveFax(ctx context.Context, st faxbridge.FaxStatus) error
}

// cxmlReceive is the <Receive> verb; mediaType asks for PDF, which the
// route's mail carries as is.
type cxmlReceive struct {
	XMLName xml.Name `xml:"Response"`
	Receive struct {
		Action    string `xml:"action,attr"`
		Method    string `xml:"method,attr"`
		MediaType string `xml:"mediaType,attr"`
		PageSize  string `xml:"pageSize,attr"`
	} `xml:"Receive"`
}

const cxmlReject = `<?xml version="1.0" encoding="UTF-8"?><Response><Reject/></Response>`

// inboundWebhook answers a fax arriving on one of our numbers.
func inboundWebhook(cfg Config, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		inboundError(cfg, w, r, faxbridge.Errorf(faxbridge.EInvalid, "A fax webhook must be a GET or a POST."), "")
		return
	}
	st, err := cfg.Inbound.ParseInbound(r, cfg.PublicURL)
	if err != nil {
		inboundError(cfg, w, r, err, "")
		return
	}
	log := cfg.Log.With("fax_sid", st.SID, "remote_addr", r.RemoteAddr)
	w.Header().Set("Content-Type", "application/xml")
	if len(cfg.InboundSink.Route(st.To)) == 0 {
		log.Info("incoming fax refused: no route for the number", "to", st.To)
		w.Write([]byte(cxmlReject))
		return
	}
	var c cxmlReceive
	c.Receive.Action = cfg.PublicURL + InboundActionPath
	c.Receive.Method = http.MethodPost
	c.Receive.MediaType = "application/pdf"
	c.Receive.PageSize = cfg.InboundPageSize
	if c.Receive.PageSize == "" {
		c.Receive.PageSize = "letter"
	}
	body, err := xml.Marshal(c)
	if err != nil {
		inboundError(cfg, w, r, faxbridge.WrapError(faxbridge.EInternal, err, "The answer could not be written."), st.SID)
		return
	}
	log.Info("incoming fax accepted", "to", st.To)
	w.Write([]byte(xml.Header))
	w.Write(body)
}

// inboundAction commits the job of a fax that has arrived (or failed) and
// only then answers 200.
func inboundAction(cfg Config, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		inboundError(cfg, w, r, faxbridge.Errorf(faxbridge.EInvalid, "A fax callback must be a GET or a POST."), "")
		return
	}
	st, err := cfg.Inbound.ParseInbound(r, cfg.PublicURL)
	if err != nil {
		inboundError(cfg, w, r, err, "")
		return
	}
	if err := cfg.InboundSink.ReceiveFax(r.Context(), st); err != nil {
		inboundError(cfg, w, r, err, st.SID)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Write([]byte("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>"))
}

// inboundError is the one place an inbound request's failure becomes an
// answer: the status from the error's code (403 for a bad signature, 503
// for a store that cannot commit, so SignalWire tries again), a body that
// says no more than the status, and the detail in the log.
func inboundError(cfg Config, w http.ResponseWriter, r *http.Request, err error, sid string) {
	code := status(err)
	log := cfg.Log.With("remote_addr", r.RemoteAddr, "path", r.URL.Path, "status", code)
	if sid != "" {
		log = log.With("fax_sid", sid)
	}
	if code == http.StatusForbidden {
		log.Warn("inbound fax request refused", "err", err)
	} else {
		log.Warn("inbound fax request failed", "code", faxbridge.ErrorCode(err), "err", err)
	}
	http.Error(w, http.StatusText(code), code)
}

package document

import "fmt"

// DefaultLogoPixels is the default area threshold of the logo policy: an
// attached image smaller than about 200×200 pixels is not a document.
const DefaultLogoPixels = 200 * 200

// IsLogo says whether an image part is a small picture a person did not
// mean to fax (a signature logo, a social-media icon, a tracking pixel,
// a banner) and gives the reason for the report, such as "signature-size
// image (96×96)". It reads only the image header.
//
// minPixels is the area below which an attached image is a logo (0 for
// DefaultLogoPixels). An image referenced by the HTML body (inRelated: a
// part of multipart/related) is judged harder, because that is where
// signatures live: it is a logo below four times that area (400×400 by
// default), or when it is a banner (five times wider than tall and at
// most 200 pixels high). inline alone does not count: Apple Mail sends
// every attached picture inline. PDFs and unreadable images are never
// logos (Build refuses a broken attachment with a reason the sender can
// use), except an unreadable image in the HTML body, which is skipped.
//
// The caller applies the policy only when the message has something else
// to fax: a message whose only part is a 50×50 JPEG faxes it. SkipLogos
// implements that contract.
func IsLogo(path, kind string, inline, inRelated bool, minPixels int) (bool, string) {
	_ = inline // see above: the disposition says nothing about intent
	if minPixels <= 0 {
		minPixels = DefaultLogoPixels
	}
	if kind != "tiff" && kind != "jpeg" && kind != "png" {
		return false, ""
	}
	if k, err := sniffFile(path); err == nil && k != "" {
		kind = k // bytes, not labels
	}
	if kind == "pdf" {
		return false, ""
	}
	pics, err := probe(path, kind)
	if err != nil || len(pics) == 0 {
		if inRelated {
			return true, "image in the message body that cannot be read"
		}
		return false, ""
	}
	p := pics[0]
	w, h := p.w, p.h
	if p.orient >= 5 {
		w, h = h, w
	}
	area := w * h
	switch {
	case inRelated && area < 4*minPixels:
		return true, fmt.Sprintf("signature-size image (%d×%d)", w, h)
	case inRelated && w >= 5*h && h <= 200:
		return true, fmt.Sprintf("banner image (%d×%d) in the message body", w, h)
	case area < minPixels:
		return true, fmt.Sprintf("small image (%d×%d), probably a logo", w, h)
	}
	return false, ""
}

// Candidate is a part that could be faxed, with where the message put it.
type Candidate struct {
	Input
	Inline    bool // Content-Disposition inline (or none)
	InRelated bool // inside multipart/related: referenced by the HTML body
}

// SkipLogos applies IsLogo to the candidates of one message, in message
// order, and returns one reason per candidate: "" to fax it, otherwise
// why it is skipped. When every candidate would be skipped, none is: the
// sender meant to fax something, and a small image is then the thing.
func SkipLogos(cands []Candidate, minPixels int) []string {
	reasons := make([]string, len(cands))
	kept := 0
	for i, c := range cands {
		if logo, why := IsLogo(c.Path, c.Kind, c.Inline, c.InRelated, minPixels); logo {
			reasons[i] = why
			continue
		}
		kept++
	}
	if kept == 0 {
		// Nothing but small images: they are what the sender meant to fax
		// (a lone photo of a signed page), unless they only decorate the
		// HTML body (multipart/related), which nobody means to fax.
		for i, c := range cands {
			if !c.InRelated {
				reasons[i] = ""
			}
		}
	}
	return reasons
}

package signalwiretest

import (
	"strconv"
	"time"
)

func (s *Server) renderFax(f *fax) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.renderLocked(f)
}

// renderLocked renders the fax resource as the current faults say. Call
// with s.mu held.
func (s *Server) renderLocked(f *fax) map[string]any {
	style := s.faults.Numbers
	date := s.dateFormat()
	path := faxPath(f.AccountSID, f.SID)
	out := map[string]any{
		"account_sid":   f.AccountSID,
		"api_version":   apiVersion,
		"date_created":  date(f.Created),
		"date_updated":  date(f.Updated),
		"direction":     direction(f),
		"from":          f.From,
		"to":            f.To,
		"media_url":     f.MediaURL,
		"media_sid":     f.MediaSID,
		"num_pages":     nil,
		"price":         nil,
		"price_unit":    nil,
		"quality":       f.Quality,
		"sid":           f.SID,
		"status":        f.Status,
		"duration":      nil,
		"url":           path,
		"links":         map[string]string{"media": path + "/Media"},
		"error_code":    nil,
		"error_message": nil,
	}
	if s.faults.HostedMediaURL || f.Direction == "inbound" {
		out["media_url"] = nullable(s.mediaURL(f))
	}
	if final(f.Status) || f.Status == "received" {
		out["price_unit"] = "USD"
		if style == PlainNumbers {
			out["num_pages"] = f.NumPages
			out["price"] = f.Price
		} else {
			out["num_pages"] = strconv.Itoa(f.NumPages)
			out["price"] = strconv.FormatFloat(f.Price, 'f', -1, 64)
		}
		if style == StringNumbers {
			out["duration"] = strconv.Itoa(f.Duration)
		} else {
			out["duration"] = f.Duration
		}
	}
	if f.ErrorCode != "" {
		out["error_code"] = f.ErrorCode
		if n, err := strconv.Atoi(f.ErrorCode); err == nil && style == PlainNumbers {
			out["error_code"] = n
		}
	}
	out["error_message"] = nullable(f.ErrorMessage)
	return out
}

// renderMedia renders the fax media resource. Call with s.mu held.
func (s *Server) renderMedia(f *fax) map[string]any {
	date := s.dateFormat()
	return map[string]any{
		"account_sid":  f.AccountSID,
		"content_type": "application/pdf",
		"date_created": date(f.Created),
		"date_updated": date(f.Updated),
		"fax_sid":      f.SID,
		"sid":          f.MediaSID,
		"url":          faxPath(f.AccountSID, f.SID) + "/Media/" + f.MediaSID,
	}
}

// dateFormat returns the date rendering the faults ask for. Call with s.mu held.
func (s *Server) dateFormat() func(time.Time) string {
	layout := time.RFC1123Z
	if s.faults.ISODates {
		layout = time.RFC3339
	}
	return func(t time.Time) string { return t.UTC().Format(layout) }
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func direction(f *fax) string {
	if f.Direction == "" {
		return "outbound"
	}
	return f.Direction
}

package signalwiretest

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

var uuid4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestCreateStrictness(t *testing.T) {
	// A long step keeps accepted faxes queued: no media is ever fetched.
	s := start(t, Config{StepDelay: time.Hour, Numbers: []string{"+15556677888"}})
	media := "https://blobs.example.net/doc.pdf"
	with := func(kv ...string) url.Values {
		f := form(media)
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				f.Del(kv[i])
			} else {
				f.Set(kv[i], kv[i+1])
			}
		}
		return f
	}
	tests := []struct {
		name       string
		path       string
		form       url.Values
		user, pass string
		raw        func(*http.Request) // alters the request before it is sent
		status     int
		code       int
	}{
		{name: "valid", form: with(), status: 200},
		{name: "valid without .json", path: faxes, form: with(), status: 200},
		{name: "valid sip", form: with("To", "sip:fax@pbx.example.net:5060;transport=tcp", "SipAuthUsername", "u", "SipAuthPassword", "p"), status: 200},
		{name: "valid client From", form: with("From", "faxbridge"), status: 200},
		{name: "valid all options", form: with("Quality", "superfine", "StatusCallback", "https://h.example/cb?x=1",
			"StatusCallbackMethod", "GET", "StoreMedia", "false", "Ttl", "300"), status: 200},
		{name: "wrong token", form: with(), user: project, pass: "nope", status: 401, code: 20003},
		{name: "wrong user", form: with(), user: "other", pass: token, status: 401, code: 20003},
		{name: "no auth", form: with(), raw: func(r *http.Request) { r.Header.Del("Authorization") }, status: 401, code: 20003},
		{name: "other account in path", path: "/api/laml/2010-04-01/Accounts/ce4806cb-ccb0-41e9-8bf1-16e8c3c7a6a4/Faxes.json", form: with(), status: 401, code: 20003},
		{name: "old root path", path: "/2010-04-01/Accounts/" + project + "/Faxes.json", form: with(), status: 404, code: 20404},
		{name: "missing To", form: with("To", ""), status: 400, code: 21211},
		{name: "To without plus", form: with("To", "15556677999"), status: 400, code: 21211},
		{name: "To too short", form: with("To", "+12345"), status: 400, code: 21211},
		{name: "To with spaces", form: with("To", "+1 555 667 7999"), status: 400, code: 21211},
		{name: "To sips", form: with("To", "sips:fax@pbx.example.net"), status: 400, code: 21211},
		{name: "missing From", form: with("From", ""), status: 400, code: 21212},
		{name: "From digits without plus", form: with("From", "15556677888"), status: 400, code: 21212},
		{name: "From not owned", form: with("From", "+15550000000"), status: 400, code: 21210},
		{name: "missing MediaUrl", form: with("MediaUrl", ""), status: 400, code: 21620},
		{name: "relative MediaUrl", form: with("MediaUrl", "/doc.pdf"), status: 400, code: 21620},
		{name: "ftp MediaUrl", form: with("MediaUrl", "ftp://blobs.example.net/doc.pdf"), status: 400, code: 21620},
		{name: "bad Quality", form: with("Quality", "high"), status: 400, code: 20001},
		{name: "Quality case", form: with("Quality", "Fine"), status: 400, code: 20001},
		{name: "bad StatusCallback", form: with("StatusCallback", "not a url"), status: 400, code: 21609},
		{name: "bad StatusCallbackMethod", form: with("StatusCallbackMethod", "PUT"), status: 400, code: 20001},
		{name: "bad StatusCallbackEvent", form: with("StatusCallbackEvent", "delivered"), status: 400, code: 20001},
		{name: "space separated events", form: with("StatusCallbackEvent", "initiated completed"), status: 400, code: 20001},
		{name: "bad StoreMedia", form: with("StoreMedia", "yes"), status: 400, code: 20001},
		{name: "Ttl too small", form: with("Ttl", "4"), status: 400, code: 20001},
		{name: "Ttl too large", form: with("Ttl", "301"), status: 400, code: 20001},
		{name: "Ttl not whole", form: with("Ttl", "60.0"), status: 400, code: 20001},
		{name: "unknown parameter", form: with("Priority", "high"), status: 400, code: 20001},
		{name: "lowercase name", form: with("to", "+15556677999"), status: 400, code: 20001},
		{name: "repeated To", form: func() url.Values { f := with(); f.Add("To", "+15556677000"); return f }(), status: 400, code: 20001},
		{name: "JSON body", form: with(), raw: func(r *http.Request) { r.Header.Set("Content-Type", "application/json") }, status: 400, code: 20001},
		{name: "params in query", path: faxes + ".json?To=%2B15556677999", form: with(), status: 400, code: 20001},
	}
	accepted := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = faxes + ".json"
			}
			req, err := http.NewRequest(http.MethodPost, s.URL()+path, strings.NewReader(tt.form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			user, pass := tt.user, tt.pass
			if user == "" && pass == "" {
				user, pass = project, token
			}
			req.SetBasicAuth(user, pass)
			if tt.raw != nil {
				tt.raw(req)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			if err := decode(resp, &body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d (%v), want %d", resp.StatusCode, body["message"], tt.status)
			}
			if tt.status == 200 {
				accepted++
				if sid, _ := body["sid"].(string); !uuid4.MatchString(sid) {
					t.Errorf("sid %q is not a UUID v4", sid)
				}
				return
			}
			msg, _ := body["message"].(string)
			info, _ := body["more_info"].(string)
			if body["code"] != float64(tt.code) || body["status"] != float64(tt.status) || msg == "" || !strings.HasPrefix(info, "https://") {
				t.Errorf("error body %v, want code %d status %d with message and more_info", body, tt.code, tt.status)
			}
			if tt.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	if got := len(s.Creates()); got != accepted {
		t.Errorf("%d creates recorded, want %d", got, accepted)
	}
	rejected := s.Rejected()
	if got, want := len(rejected), len(tests)-accepted; got != want {
		t.Errorf("%d rejections recorded, want %d", got, want)
	}
	for _, r := range rejected {
		if r.Forced || r.Code == 0 {
			t.Errorf("rejection %+v: want a check's code, not forced", r)
		}
	}
}

func TestCreateDefaultsAndResource(t *testing.T) {
	s := start(t, Config{StepDelay: time.Hour})
	a := call(t, s, http.MethodPost, faxes, form("https://blobs.example.net/doc.pdf?sig=a%2Bb"), "", "")
	if a.status != 200 {
		t.Fatalf("create: %d %v", a.status, a.body)
	}
	sid := a.body["sid"].(string)
	want := map[string]any{
		"account_sid": project, "api_version": "v1", "direction": "outbound", "status": "queued",
		"from": "+15556677888", "to": "+15556677999", "quality": "fine",
		"media_url": "https://blobs.example.net/doc.pdf?sig=a%2Bb",
		"num_pages": nil, "price": nil, "duration": nil, "error_code": nil, "error_message": nil,
		"url": faxes + "/" + sid,
	}
	for k, v := range want {
		if got, ok := a.body[k]; !ok || got != v {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
	if links, _ := a.body["links"].(map[string]any); links["media"] != faxes+"/"+sid+"/Media" {
		t.Errorf("links = %v", a.body["links"])
	}
	if _, err := time.Parse(time.RFC1123Z, a.body["date_created"].(string)); err != nil {
		t.Errorf("date_created: %v", err)
	}
	f, ok := s.Fax(sid)
	if !ok || f.Quality != "fine" || !f.StoreMedia || f.TTL != 60 || f.StatusCallbackMethod != "POST" ||
		len(f.StatusCallbackEvents) != 1 || f.StatusCallbackEvents[0] != "completed" {
		t.Errorf("defaults not applied: %+v", f)
	}
	for _, p := range []string{faxes + "/" + sid, faxes + "/" + sid + ".json"} {
		if got := call(t, s, http.MethodGet, p, nil, "", ""); got.status != 200 || got.body["sid"] != sid {
			t.Errorf("GET %s: %d %v", p, got.status, got.body)
		}
	}
	if got := call(t, s, http.MethodGet, faxes+"/"+newUUID(), nil, "", ""); got.status != 404 || got.body["code"] != float64(20404) {
		t.Errorf("GET unknown: %d %v", got.status, got.body)
	}
	if got := call(t, s, http.MethodGet, faxes+"/"+sid, nil, project, "wrong"); got.status != 401 {
		t.Errorf("GET with a bad token: %d", got.status)
	}
	if got := call(t, s, http.MethodPut, faxes+"/"+sid, nil, "", ""); got.status != 405 {
		t.Errorf("PUT: %d", got.status)
	}
}

func TestListPagingAndFilters(t *testing.T) {
	clk := &clock{}
	s := start(t, Config{StepDelay: time.Hour, Now: clk.now})
	day := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	var sids []string // oldest first
	for i := range 5 {
		clk.set(day.AddDate(0, 0, i))
		to := "+15556677999"
		if i%2 == 1 {
			to = "+15556677000"
		}
		sids = append(sids, create(t, s, url.Values{"To": {to}, "From": {"+15556677888"}, "MediaUrl": {fmt.Sprintf("https://b.example/%d.pdf", i)}}))
	}
	newest := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, sids[i])
		}
		return out
	}

	// walk follows next_page_uri and checks that the filters survive it.
	walk := func(t *testing.T, first string) ([]string, int) {
		var got []string
		pages := 0
		for next := first; next != ""; pages++ {
			a := call(t, s, http.MethodGet, next, nil, "", "")
			if a.status != 200 {
				t.Fatalf("GET %s: %d %v", next, a.status, a.body)
			}
			list, ok := a.body["faxes"].([]any)
			if !ok {
				t.Fatalf("no faxes array in %v", a.body)
			}
			for _, f := range list {
				got = append(got, f.(map[string]any)["sid"].(string))
			}
			next, _ = a.body["next_page_uri"].(string)
			if pages > 10 {
				t.Fatal("paging does not end")
			}
		}
		return got, pages
	}
	tests := []struct {
		name  string
		query string
		want  []string
		pages int
	}{
		{"all in one page", "", newest(4, 3, 2, 1, 0), 1},
		{"pages of two", "PageSize=2", newest(4, 3, 2, 1, 0), 3},
		{"pages of five end at once", "PageSize=5", newest(4, 3, 2, 1, 0), 1},
		{"by To", "To=%2B15556677999&PageSize=1", newest(4, 2, 0), 3},
		{"by From", "From=%2B15556677888", newest(4, 3, 2, 1, 0), 1},
		{"after a date excludes that day", "DateCreatedAfter=2025-03-11", newest(4, 3, 2), 1},
		{"on or before a date includes that day", "DateCreatedOnOrBefore=2025-03-11", newest(1, 0), 1},
		{"RFC 3339 window", "DateCreatedAfter=" + url.QueryEscape("2025-03-11T12:00:00Z") +
			"&DateCreatedOnOrBefore=" + url.QueryEscape("2025-03-13T12:00:00+00:00"), newest(3, 2), 1},
		{"RFC 3339 instant is exclusive", "DateCreatedAfter=" + url.QueryEscape("2025-03-13T11:59:59Z"), newest(4, 3), 1},
		{"RFC 1123", "DateCreatedOnOrBefore=" + url.QueryEscape("Tue, 11 Mar 2025 12:00:00 GMT") + "&PageSize=1", newest(1, 0), 2},
		{"RFC 1123 numeric zone", "DateCreatedAfter=" + url.QueryEscape("Wed, 12 Mar 2025 13:59:59 +0200"), newest(4, 3, 2), 1},
		{"nothing matches", "To=%2B19999999999", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := faxes + ".json"
			if tt.query != "" {
				first += "?" + tt.query
			}
			got, pages := walk(t, first)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || pages != tt.pages {
				t.Errorf("got %v in %d pages, want %v in %d", got, pages, tt.want, tt.pages)
			}
		})
	}

	// Deleted faxes leave the list.
	if a := call(t, s, http.MethodDelete, faxes+"/"+sids[4]+".json", nil, "", ""); a.status != 204 {
		t.Fatalf("delete queued: %d %v", a.status, a.body)
	}
	if got, _ := walk(t, faxes); fmt.Sprint(got) != fmt.Sprint(newest(3, 2, 1, 0)) {
		t.Errorf("after delete: %v", got)
	}

	for _, q := range []string{
		"DateCreatedAfter=yesterday", "DateCreatedAfter=2025-03-11T12:00:00+00:00", // unescaped + is a space
		"PageSize=0", "PageSize=1001", "Page=1", "Page=-1", "PageToken=zz", "Status=queued", "To=%2B1&To=%2B2",
	} {
		if a := call(t, s, http.MethodGet, faxes+"?"+q, nil, "", ""); a.status != 400 || a.body["code"] != float64(20001) {
			t.Errorf("GET ?%s: %d %v, want 400 code 20001", q, a.status, a.body)
		}
	}
}

func TestCancelAndDeleteRules(t *testing.T) {
	media := newMedia(t)
	hk := newHook(t, nil)

	t.Run("queued", func(t *testing.T) {
		s := start(t, Config{StepDelay: time.Hour})
		sid := create(t, s, form(media.URL+"/doc.pdf", "StatusCallback", hk.URL+"/cb"))
		path := faxes + "/" + sid + ".json"
		for _, bad := range []url.Values{{"Status": {"cancelled"}}, {"Status": {"canceled"}, "To": {"+15556677999"}}, {}} {
			if a := call(t, s, http.MethodPost, path, bad, "", ""); a.status != 400 || a.body["code"] != float64(20001) {
				t.Errorf("POST %v: %d %v", bad, a.status, a.body)
			}
		}
		a := call(t, s, http.MethodPost, path, url.Values{"Status": {"canceled"}}, "", "")
		if a.status != 200 || a.body["status"] != "canceled" {
			t.Fatalf("cancel: %d %v", a.status, a.body)
		}
		if a := call(t, s, http.MethodPost, path, url.Values{"Status": {"canceled"}}, "", ""); a.status != 400 || a.body["code"] != float64(20009) {
			t.Errorf("second cancel: %d %v", a.status, a.body)
		}
		idle(t, s) // the hour-long step is cut short by the cancel
		got := hk.received()
		if len(got) != 1 || got[0].params.Get("FaxStatus") != "canceled" || !got[0].valid {
			t.Errorf("callbacks %+v, want one valid canceled", got)
		}
		if len(media.requests()) != 0 {
			t.Errorf("media fetched for a canceled fax: %v", media.requests())
		}
		if a := call(t, s, http.MethodDelete, path, nil, "", ""); a.status != 204 {
			t.Errorf("delete canceled: %d", a.status)
		}
		if a := call(t, s, http.MethodGet, path, nil, "", ""); a.status != 404 {
			t.Errorf("GET deleted: %d", a.status)
		}
		if f, ok := s.Fax(sid); !ok || !f.Deleted {
			t.Errorf("Fax(%s) = %+v, %v: want it kept and marked deleted", sid, f, ok)
		}
	})

	t.Run("processing", func(t *testing.T) {
		s := start(t, Config{})
		sid := create(t, s, form(media.URL+"/block"))
		path := faxes + "/" + sid
		<-media.arrived // the fax is processing: its media is being fetched
		if a := call(t, s, http.MethodPost, path, url.Values{"Status": {"canceled"}}, "", ""); a.status != 400 || a.body["code"] != float64(20009) {
			t.Errorf("cancel while processing: %d %v", a.status, a.body)
		}
		if a := call(t, s, http.MethodDelete, path, nil, "", ""); a.status != 400 || a.body["code"] != float64(20009) {
			t.Errorf("delete while processing: %d %v", a.status, a.body)
		}
		media.unblock()
		idle(t, s)
		if f, _ := s.Fax(sid); f.Status != "delivered" {
			t.Errorf("status %s, want delivered", f.Status)
		}
		if a := call(t, s, http.MethodPost, path, url.Values{"Status": {"canceled"}}, "", ""); a.status != 400 {
			t.Errorf("cancel delivered: %d", a.status)
		}
		if a := call(t, s, http.MethodDelete, path, nil, "", ""); a.status != 204 {
			t.Errorf("delete delivered: %d", a.status)
		}
	})
}

func TestNumberStylesAndDates(t *testing.T) {
	media := newMedia(t)
	tests := []struct {
		name   string
		faults Faults
		pages  any
		dur    any
		price  any
		code   any
		date   string
		media  func(sid string) any
	}{
		{"documented", Faults{}, "2", float64(40), "-0.014", "34004", time.RFC1123Z, nil},
		{"plain numbers", Faults{Numbers: PlainNumbers}, float64(2), float64(40), -0.014, float64(34004), time.RFC1123Z, nil},
		{"string numbers, ISO dates, hosted media", Faults{Numbers: StringNumbers, ISODates: true, HostedMediaURL: true},
			"2", "40", "-0.014", "34004", time.RFC3339, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, Config{})
			tt.faults.Outcome = func(Fax) Outcome {
				return Outcome{Status: "failed", Pages: 2, Duration: 40, ErrorCode: "34004", ErrorMessage: "The call dropped prematurely"}
			}
			s.SetFaults(tt.faults)
			sid := create(t, s, form(media.URL+"/doc.pdf"))
			idle(t, s)
			a := call(t, s, http.MethodGet, faxes+"/"+sid, nil, "", "")
			b := a.body
			if b["status"] != "failed" || b["num_pages"] != tt.pages || b["duration"] != tt.dur || b["price"] != tt.price ||
				b["error_code"] != tt.code || b["error_message"] != "The call dropped prematurely" {
				t.Errorf("got %v", b)
			}
			if _, err := time.Parse(tt.date, b["date_updated"].(string)); err != nil {
				t.Errorf("date_updated: %v", err)
			}
			wantMedia := any(media.URL + "/doc.pdf")
			if tt.faults.HostedMediaURL {
				f, _ := s.Fax(sid)
				wantMedia = s.URL() + faxes + "/" + sid + "/Media/" + f.MediaSID
			}
			if b["media_url"] != wantMedia {
				t.Errorf("media_url %v, want %v", b["media_url"], wantMedia)
			}
		})
	}
}

func TestHostedMediaURLNullWithoutStorage(t *testing.T) {
	media := newMedia(t)
	s := start(t, Config{})
	s.SetFaults(Faults{HostedMediaURL: true})
	stored := create(t, s, form(media.URL+"/doc.pdf"))
	unstored := create(t, s, form(media.URL+"/doc.pdf", "StoreMedia", "false"))
	idle(t, s)
	if a := call(t, s, http.MethodGet, faxes+"/"+unstored, nil, "", ""); a.body["media_url"] != nil {
		t.Errorf("StoreMedia=false: media_url %v, want null", a.body["media_url"])
	}
	a := call(t, s, http.MethodGet, faxes+"/"+stored+"/Media.json", nil, "", "")
	list, _ := a.body["media"].([]any)
	if a.status != 200 || len(list) != 1 {
		t.Fatalf("media list: %d %v", a.status, a.body)
	}
	msid := list[0].(map[string]any)["sid"].(string)
	mpath := faxes + "/" + stored + "/Media/" + msid
	if a := call(t, s, http.MethodGet, mpath+".json", nil, "", ""); a.status != 200 || a.body["content_type"] != "application/pdf" {
		t.Errorf("media fetch: %d %v", a.status, a.body)
	}
	if a := call(t, s, http.MethodDelete, mpath, nil, "", ""); a.status != 204 {
		t.Errorf("media delete: %d", a.status)
	}
	if a := call(t, s, http.MethodGet, faxes+"/"+stored, nil, "", ""); a.body["media_url"] != nil {
		t.Errorf("after media delete: media_url %v", a.body["media_url"])
	}
}

// Package config loads and checks faxbridge's one TOML file. Loading collects
// every problem instead of stopping at the first, so `faxbridge check-config`
// can list them all; unknown keys are problems too, because a typo such as
// `listen_adr` would otherwise silently fall back to a default.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the whole configuration file.
type Config struct {
	StateDir   string     `toml:"state_dir"`
	Log        Log        `toml:"log"`
	SMTP       SMTP       `toml:"smtp"`
	HTTP       HTTP       `toml:"http"`
	SignalWire SignalWire `toml:"signalwire"`
	Storage    Storage    `toml:"storage"`
	Database   Database   `toml:"database"`
	Mail       Mail       `toml:"mail"`
	Fax        Fax        `toml:"fax"`
	Contacts   []Contact  `toml:"contacts"`
	Worker     Worker     `toml:"worker"`
	Users      []User     `toml:"users"`
	MX         MX         `toml:"mx"`
	Metrics    Metrics    `toml:"metrics"` // see hardening.go

	// The web console (see console.go).
	Console Console `toml:"console"`

	// Profiling for benchmarks (see debug.go).
	Debug Debug `toml:"debug"`

	// Receiving faxes (see inbound.go).
	Inbound Inbound `toml:"inbound"`

	// What resolveSecrets found, for the warnings of Warnings: the keys
	// given inline in the file, and the files secrets were read from.
	inlineSecrets []string
	secretFiles   []string
}

// MX configures inbound mail from the internet on listeners marked mx.
type MX struct {
	// AllowSenders lists who may fax by mail from the internet, once DMARC
	// proves the From: "alice@example.com", "example.com" (anyone there),
	// "*.example.com" (any subdomain).
	AllowSenders []string `toml:"allow_senders"`
	// Limits on what a proven sender may fax (see hardening.go).
	MXLimits
}

type Log struct {
	Level       string `toml:"level"`        // debug, info, warn, error
	Format      string `toml:"format"`       // text or json
	MaskNumbers bool   `toml:"mask_numbers"` // hide most digits of fax numbers
}

type SMTP struct {
	Listen          string   `toml:"listen"`
	Domains         []string `toml:"domains"`
	Hostname        string   `toml:"hostname"`
	TrustedNetworks []string `toml:"trusted_networks"`
	MaxMessageBytes int64    `toml:"max_message_bytes"`
	MaxRecipients   int      `toml:"max_recipients"`
	MaxSessions     int      `toml:"max_sessions"`
	ReadTimeout     Duration `toml:"read_timeout"`
	WriteTimeout    Duration `toml:"write_timeout"`
	DataTimeout     Duration `toml:"data_timeout"`
	MaxLineLength   int      `toml:"max_line_length"`
	DefaultRegion   string   `toml:"default_region"`

	// The ways in (see access.go): the port-25 listener's policy, more
	// listeners, the certificate, login throttling and named networks.
	TLS             string     `toml:"tls"`
	Auth            string     `toml:"auth"`
	InsecureAuth    bool       `toml:"insecure_auth"`
	CertFile        string     `toml:"cert_file"`
	KeyFile         string     `toml:"key_file"`
	TLSMinVersion   string     `toml:"tls_min_version"`
	AuthMaxFailures int        `toml:"auth_max_failures"`
	AuthLockout     Duration   `toml:"auth_lockout"`
	Listeners       []Listener `toml:"listeners"`
	Networks        []Network  `toml:"networks"`

	// Connections and time (see hardening.go): what one client may hold.
	MaxSessionsPerClient int      `toml:"max_sessions_per_client"`
	TrustedSessions      int      `toml:"trusted_sessions"`
	StartTimeout         Duration `toml:"start_timeout"`
	AuthUserMaxFailures  int      `toml:"auth_user_max_failures"`

	trusted []netip.Prefix
}

type HTTP struct {
	Listen    string `toml:"listen"`
	PublicURL string `toml:"public_url"`
	// CertFile and KeyFile serve HTTPS directly; without them the listener
	// speaks plain HTTP, for a reverse proxy that terminates TLS.
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`

	// What one client may hold (see hardening.go).
	ReadTimeout    Duration `toml:"read_timeout"`
	WriteTimeout   Duration `toml:"write_timeout"`
	IdleTimeout    Duration `toml:"idle_timeout"`
	MaxConnections int      `toml:"max_connections"`
}

type SignalWire struct {
	Space                string   `toml:"space"`
	BaseURL              string   `toml:"base_url"`
	ProjectID            string   `toml:"project_id"`
	APIToken             string   `toml:"api_token"`
	APITokenFile         string   `toml:"api_token_file"`
	SigningKey           string   `toml:"signing_key"`
	SigningKeyFile       string   `toml:"signing_key_file"`
	From                 string   `toml:"from"`
	Quality              string   `toml:"quality"`
	TTL                  int      `toml:"ttl"`
	StoreMedia           *bool    `toml:"store_media"`
	StatusCallbackMethod string   `toml:"status_callback_method"`
	StatusCallbackEvents []string `toml:"status_callback_events"`

	// CreatesPerSecond paces fax creation across every instance sharing
	// the database (SignalWire takes about one per second per space); 0
	// sends as fast as the worker goes.
	CreatesPerSecond float64 `toml:"creates_per_second"`

	// KeepMedia keeps SignalWire's copy of each sent fax's document; by
	// default it is deleted once the fax is final and its report settled.
	KeepMedia bool `toml:"keep_media"`
}

type Storage struct {
	Backend      string       `toml:"backend"`
	KeepDocument bool         `toml:"keep_documents"`
	S3           S3           `toml:"s3"`
	Local        LocalStorage `toml:"local"`
}

type S3 struct {
	Endpoint      string `toml:"endpoint"`
	UseSSL        bool   `toml:"use_ssl"`
	Bucket        string `toml:"bucket"`
	Region        string `toml:"region"`
	AccessKey     string `toml:"access_key"`
	SecretKey     string `toml:"secret_key"`
	SecretKeyFile string `toml:"secret_key_file"`
	Prefix        string `toml:"prefix"`
	CreateBucket  bool   `toml:"create_bucket"`
}

type LocalStorage struct {
	Dir string `toml:"dir"`
}

type Database struct {
	Driver string `toml:"driver"` // sqlite or postgres
	DSN    string `toml:"dsn"`    // sqlite: file path (default state_dir/faxbridge.db); postgres: URL
	// DSNFile holds the PostgreSQL URL, password included, outside the
	// configuration file (systemd LoadCredential=).
	DSNFile string `toml:"dsn_file"`

	// Retain is how long a finished job (report sent, document deleted)
	// stays queryable before retention deletes it.
	Retain Duration `toml:"retain"`
}

type Mail struct {
	Relay        string   `toml:"relay"`
	TLS          string   `toml:"tls"`
	Username     string   `toml:"username"`
	Password     string   `toml:"password"`
	PasswordFile string   `toml:"password_file"`
	From         string   `toml:"from"`
	EnvelopeFrom string   `toml:"envelope_from"`
	Outbox       string   `toml:"outbox"` // write reports as .eml files here instead of relaying
	RetryFor     Duration `toml:"retry_for"`
	RetryAfter   Duration `toml:"retry_after"`
}

type Fax struct {
	MaxPages    int    `toml:"max_pages"`
	MaxDocBytes int64  `toml:"max_document_bytes"`
	Paper       string `toml:"paper"`       // auto, letter or a4
	LogoPixels  int    `toml:"logo_pixels"` // images smaller than this next to a document are logos
	CoverPage   string `toml:"cover_page"`  // auto, always or never
	// ParallelBuilds bounds how many messages' documents are checked and
	// merged at once (0: one per CPU); with max_document_bytes it bounds
	// memory, because the PDF library holds a document while checking it.
	ParallelBuilds int `toml:"parallel_builds"`

	// MaxMessagePixels bounds the pixels of all images and TIFF pages of
	// one message together (0: document.DefaultMaxMessagePixels, 200
	// megapixels): converting costs CPU per pixel, and blank pages code
	// millions of pixels in a few bytes.
	MaxMessagePixels int64 `toml:"max_message_pixels"`

	// Destination policy, checked at RCPT. AllowCountries nil means the
	// country of smtp.default_region only.
	AllowCountries []string `toml:"allow_countries"`
	AllowPrefixes  []string `toml:"allow_prefixes"`
	DenyPrefixes   []string `toml:"deny_prefixes"`
	AllowPremium   bool     `toml:"allow_premium"`
}

type Contact struct {
	Name                string `toml:"name"`
	To                  string `toml:"to"`
	SipAuthUsername     string `toml:"sip_auth_username"`
	SipAuthPassword     string `toml:"sip_auth_password"`
	SipAuthPasswordFile string `toml:"sip_auth_password_file"`
}

type Worker struct {
	Concurrency    int      `toml:"concurrency"`
	Lease          Duration `toml:"lease"`
	SendTimeout    Duration `toml:"send_timeout"`
	ReconcileAfter Duration `toml:"reconcile_after"`
	PollAfter      Duration `toml:"poll_after"`
	PollMax        Duration `toml:"poll_max"`
	SendRetryMax   Duration `toml:"send_retry_max"`
	GiveUpAfter    Duration `toml:"give_up_after"`
	RedialBusy     int      `toml:"redial_attempts"`
	RedialSpacing  Duration `toml:"redial_spacing"`
	OrphanAge      Duration `toml:"orphan_age"`
}

// Duration is a time.Duration written as "90s" or "5m" in TOML.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like \"30s\" or \"5m\"", b)
	}
	d.Duration = v
	return nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Defaults returns the configuration used for any key a file leaves out.
func Defaults() Config {
	return Config{
		StateDir: "/var/lib/faxbridge",
		Log:      Log{Level: "info", Format: "text"},
		SMTP: SMTP{
			Listen:          "0.0.0.0:25",
			TrustedNetworks: []string{"127.0.0.0/8", "::1/128"},
			MaxMessageBytes: 50 << 20,
			MaxRecipients:   20,
			MaxSessions:     100,
			ReadTimeout:     Duration{5 * time.Minute},
			WriteTimeout:    Duration{time.Minute},
			DataTimeout:     Duration{10 * time.Minute},
			MaxLineLength:   64 << 10,
			DefaultRegion:   "US",
			TLS:             "none",
			Auth:            "none",
			TLSMinVersion:   "1.2",
			AuthMaxFailures: 5,
			AuthLockout:     Duration{15 * time.Minute},

			// MaxSessionsPerClient and TrustedSessions default to a
			// share of max_sessions (see checkHardening).
			StartTimeout:        Duration{30 * time.Second},
			AuthUserMaxFailures: 50,
		},
		HTTP: HTTP{Listen: "0.0.0.0:8080",
			ReadTimeout: Duration{time.Minute}, WriteTimeout: Duration{5 * time.Minute}, IdleTimeout: Duration{2 * time.Minute}, MaxConnections: 256},
		SignalWire: SignalWire{
			Quality:              "fine",
			TTL:                  60,
			StatusCallbackMethod: "POST",
			StatusCallbackEvents: []string{"completed"},
			CreatesPerSecond:     1,
		},
		Console:  consoleDefaults(),
		Inbound:  inboundDefaults(),
		MX:       MX{MXLimits: MXLimits{ReplayWindow: Duration{7 * 24 * time.Hour}, FaxesPerHour: 20, FaxesPerDay: 100}},
		Storage:  Storage{Backend: "local"},
		Database: Database{Driver: "sqlite", Retain: Duration{90 * 24 * time.Hour}},
		Mail:     Mail{TLS: "starttls", RetryFor: Duration{48 * time.Hour}, RetryAfter: Duration{30 * time.Second}},
		Fax:      Fax{MaxPages: 200, MaxDocBytes: 40 << 20, Paper: "auto", LogoPixels: 200 * 200, CoverPage: "auto"},
		Worker: Worker{
			Concurrency:    4,
			Lease:          Duration{2 * time.Minute},
			SendTimeout:    Duration{time.Minute},
			ReconcileAfter: Duration{5 * time.Minute},
			PollAfter:      Duration{2 * time.Minute},
			PollMax:        Duration{10 * time.Minute},
			SendRetryMax:   Duration{10 * time.Minute},
			GiveUpAfter:    Duration{0}, // derived from ttl when zero
			RedialBusy:     0,
			RedialSpacing:  Duration{5 * time.Minute},
			OrphanAge:      Duration{time.Hour},
		},
	}
}

// Problems is every problem found in a configuration.
type Problems []string

func (p Problems) Error() string {
	return fmt.Sprintf("%d problem(s) in the configuration:\n  - %s", len(p), strings.Join(p, "\n  - "))
}

// Load reads, decodes and checks a file. A returned error of type Problems
// lists every problem found.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg := Defaults()
	md, err := toml.Decode(string(b), &cfg)
	if err != nil {
		return nil, Problems{fmt.Sprintf("%s: %v", filepath.Base(path), err)}
	}
	var probs Problems
	for _, k := range md.Undecoded() {
		probs = append(probs, fmt.Sprintf("unknown key %q (check the spelling against config.example.toml)", k.String()))
	}
	probs = append(probs, cfg.resolveSecrets(filepath.Dir(path))...)
	cfg.SMTP.CertFile = relativeTo(filepath.Dir(path), cfg.SMTP.CertFile)
	cfg.SMTP.KeyFile = relativeTo(filepath.Dir(path), cfg.SMTP.KeyFile)
	probs = append(probs, cfg.Check()...)
	if len(probs) > 0 {
		return nil, probs
	}
	return &cfg, nil
}

// resolveSecrets reads every *_file key; a secret may be given inline or by
// file (systemd LoadCredential=), not both.
func (c *Config) resolveSecrets(base string) Problems {
	var probs Problems
	read := func(key string, inline *string, file string) {
		if file == "" {
			if *inline != "" {
				c.inlineSecrets = append(c.inlineSecrets, key)
			}
			return
		}
		if *inline != "" {
			probs = append(probs, fmt.Sprintf("%s and %s_file are both set; keep one", key, key))
			return
		}
		if !filepath.IsAbs(file) {
			file = filepath.Join(base, file)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			probs = append(probs, fmt.Sprintf("%s_file: %v", key, unwrapPathError(err)))
			return
		}
		c.secretFiles = append(c.secretFiles, file)
		*inline = strings.TrimRight(string(b), "\r\n")
	}
	read("signalwire.api_token", &c.SignalWire.APIToken, c.SignalWire.APITokenFile)
	read("signalwire.signing_key", &c.SignalWire.SigningKey, c.SignalWire.SigningKeyFile)
	read("storage.s3.secret_key", &c.Storage.S3.SecretKey, c.Storage.S3.SecretKeyFile)
	read("mail.password", &c.Mail.Password, c.Mail.PasswordFile)
	read("metrics.token", &c.Metrics.Token, c.Metrics.TokenFile)
	if c.Database.Driver == "postgres" {
		// A SQLite DSN is a path, not a secret.
		read("database.dsn", &c.Database.DSN, c.Database.DSNFile)
	} else if c.Database.DSNFile != "" {
		probs = append(probs, "database.dsn_file is for postgres; for sqlite give the path in database.dsn")
	}
	for i := range c.Contacts {
		read(fmt.Sprintf("contacts[%d].sip_auth_password", i), &c.Contacts[i].SipAuthPassword, c.Contacts[i].SipAuthPasswordFile)
	}
	for i := range c.Users {
		u := &c.Users[i]
		read(fmt.Sprintf("users[%d].password_hash", i), &u.PasswordHash, u.PasswordHashFile)
	}
	return probs
}

// relativeTo makes a relative path in the file relative to the file's
// directory, as for *_file keys.
func relativeTo(base, file string) string {
	if file == "" || filepath.IsAbs(file) {
		return file
	}
	return filepath.Join(base, file)
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

var (
	e164       = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	e164Prefix = regexp.MustCompile(`^\+[0-9]{1,15}$`)
	domainRe   = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)
	contactRe  = regexp.MustCompile(`^(?i)[a-z0-9][a-z0-9._-]*$`)
	validEvent = map[string]bool{"initiated": true, "ringing": true, "answered": true, "completed": true, "ringing_forwarded": true, "ringing_queued": true}
)

// Check validates a decoded configuration and returns every problem.
func (c *Config) Check() Problems {
	var p Problems
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	if c.StateDir == "" {
		add("state_dir is required")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level %q: use debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format %q: use text or json", c.Log.Format)
	}

	// SMTP
	if c.SMTP.Listen == "" && len(c.SMTP.Listeners) > 0 {
		// Port 25 turned off: only the [[smtp.listeners]] take mail.
	} else if _, _, err := net.SplitHostPort(c.SMTP.Listen); err != nil {
		add("smtp.listen %q is not host:port", c.SMTP.Listen)
	}
	if len(c.SMTP.Domains) == 0 {
		add("smtp.domains is empty: name at least one fax domain, e.g. [\"fax.example.com\"]")
	}
	for _, d := range c.SMTP.Domains {
		if !domainRe.MatchString(d) {
			add("smtp.domains: %q is not a domain name", d)
		}
	}
	c.SMTP.trusted = nil
	for _, n := range c.SMTP.TrustedNetworks {
		pfx, err := netip.ParsePrefix(n)
		if err != nil {
			if a, err2 := netip.ParseAddr(n); err2 == nil {
				pfx = netip.PrefixFrom(a, a.BitLen())
			} else {
				add("smtp.trusted_networks: %q is not a CIDR network like 192.168.1.0/24", n)
				continue
			}
		}
		c.SMTP.trusted = append(c.SMTP.trusted, pfx.Masked())
	}
	if c.SMTP.MaxMessageBytes < 1024 {
		add("smtp.max_message_bytes must be at least 1024")
	}
	if c.SMTP.MaxRecipients < 1 {
		add("smtp.max_recipients must be at least 1")
	}
	if c.SMTP.MaxSessions < 1 {
		add("smtp.max_sessions must be at least 1")
	}
	if c.SMTP.MaxLineLength < 1000 {
		add("smtp.max_line_length must be at least 1000 (RFC 5321 allows 1000)")
	}
	if len(c.SMTP.DefaultRegion) != 2 {
		add("smtp.default_region %q: use a two-letter country code such as \"US\" or \"DE\"", c.SMTP.DefaultRegion)
	}
	p = append(p, c.checkAccess()...)
	p = append(p, c.checkHardening()...)
	p = append(p, c.checkConsole()...)
	p = append(p, c.checkDebug()...)
	p = append(p, c.checkInbound()...)

	// HTTP
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		add("http.listen %q is not host:port", c.HTTP.Listen)
	}
	if u, err := url.Parse(c.HTTP.PublicURL); c.HTTP.PublicURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("http.public_url %q must be the absolute http(s) URL at which the fax provider reaches this server", c.HTTP.PublicURL)
	} else if u.RawQuery != "" || u.Fragment != "" {
		add("http.public_url must not have a query or fragment")
	}

	if (c.HTTP.CertFile == "") != (c.HTTP.KeyFile == "") {
		add("http.cert_file and http.key_file go together")
	}

	// SignalWire
	sw := &c.SignalWire
	if sw.BaseURL == "" && sw.Space == "" {
		add("signalwire.space (e.g. \"example.signalwire.com\") or signalwire.base_url is required")
	}
	if sw.BaseURL != "" {
		if u, err := url.Parse(sw.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("signalwire.base_url %q must be an absolute http(s) URL", sw.BaseURL)
		}
	}
	if sw.ProjectID == "" {
		add("signalwire.project_id is required")
	}
	if sw.APIToken == "" {
		add("signalwire.api_token (or api_token_file) is required")
	}
	if sw.SigningKey == "" {
		add("signalwire.signing_key (or signing_key_file) is required: without it status callbacks cannot be verified")
	}
	if !e164.MatchString(sw.From) {
		add("signalwire.from %q must be your fax number in E.164 form, e.g. \"+15551230000\"", sw.From)
	}
	switch sw.Quality {
	case "standard", "fine", "superfine":
	default:
		add("signalwire.quality %q: use standard, fine or superfine", sw.Quality)
	}
	if sw.TTL < 5 || sw.TTL > 300 {
		add("signalwire.ttl %d: SignalWire accepts 5 to 300 minutes", sw.TTL)
	}
	switch sw.StatusCallbackMethod {
	case "GET", "POST":
	default:
		add("signalwire.status_callback_method %q: use GET or POST", sw.StatusCallbackMethod)
	}
	for _, e := range sw.StatusCallbackEvents {
		if !validEvent[e] {
			add("signalwire.status_callback_events: %q is not an event SignalWire sends", e)
		}
	}

	// Storage
	switch c.Storage.Backend {
	case "local":
	case "s3":
		s := c.Storage.S3
		if s.Endpoint == "" {
			add("storage.s3.endpoint is required")
		}
		if s.Bucket == "" {
			add("storage.s3.bucket is required")
		}
		if s.AccessKey == "" || s.SecretKey == "" {
			add("storage.s3.access_key and secret_key (or secret_key_file) are required")
		}
	default:
		add("storage.backend %q: use \"s3\" or \"local\"", c.Storage.Backend)
	}

	switch c.Database.Driver {
	case "sqlite":
	case "postgres":
		if c.Database.DSN == "" {
			add("database.dsn is required for postgres")
		}
	default:
		add("database.driver %q: use sqlite or postgres", c.Database.Driver)
	}
	if c.Database.Retain.Duration < time.Hour {
		add("database.retain %s: keep finished jobs at least an hour (e.g. \"2160h\" for 90 days)", c.Database.Retain.Duration)
	}
	if cps := c.SignalWire.CreatesPerSecond; cps < 0 || cps > 1000 || cps != cps {
		add("signalwire.creates_per_second %v: use 0 (no pacing) up to 1000", cps)
	}

	// Mail
	if c.Mail.Outbox == "" {
		if _, _, err := net.SplitHostPort(c.Mail.Relay); err != nil {
			add("mail.relay %q is not host:port (or set mail.outbox to write reports to a directory)", c.Mail.Relay)
		}
		switch c.Mail.TLS {
		case "starttls", "tls", "none":
		default:
			add("mail.tls %q: use starttls, tls or none", c.Mail.TLS)
		}
	}
	if c.Mail.From == "" {
		add("mail.from is required, e.g. \"Fax <fax@example.com>\"")
	}

	if c.Fax.MaxPages < 1 {
		add("fax.max_pages must be at least 1")
	}
	if c.Fax.MaxDocBytes < 1024 {
		add("fax.max_document_bytes must be at least 1024")
	}
	switch c.Fax.Paper {
	case "auto", "letter", "a4":
	default:
		add("fax.paper %q: use auto (by smtp.default_region), letter or a4", c.Fax.Paper)
	}
	switch c.Fax.CoverPage {
	case "auto", "always", "never":
	default:
		add("fax.cover_page %q: use auto, always or never", c.Fax.CoverPage)
	}
	for _, p := range append(append([]string{}, c.Fax.AllowPrefixes...), c.Fax.DenyPrefixes...) {
		if !e164Prefix.MatchString(p) {
			add("fax.allow_prefixes/deny_prefixes: %q must be an E.164 prefix like \"+1900\"", p)
		}
	}
	for _, cc := range c.Fax.AllowCountries {
		if cc != "*" && len(cc) != 2 {
			add("fax.allow_countries: %q is not a two-letter country code (or \"*\" for all)", cc)
		}
	}
	if c.Fax.ParallelBuilds < 0 {
		add("fax.parallel_builds must not be negative")
	}
	if c.Fax.MaxMessagePixels < 0 {
		add("fax.max_message_pixels must not be negative (0 for the default, 200000000)")
	}
	if c.Fax.LogoPixels < 0 {
		add("fax.logo_pixels must not be negative")
	}

	seen := map[string]bool{}
	for i, ct := range c.Contacts {
		name := strings.ToLower(ct.Name)
		if !contactRe.MatchString(ct.Name) {
			add("contacts[%d].name %q: use letters, digits, dots, dashes and underscores", i, ct.Name)
		} else if seen[name] {
			add("contacts[%d].name %q is defined twice", i, ct.Name)
		} else if e164.MatchString("+" + strings.TrimPrefix(name, "+")) {
			add("contacts[%d].name %q looks like a phone number; pick a name", i, ct.Name)
		}
		seen[name] = true
		if !e164.MatchString(ct.To) && !strings.HasPrefix(strings.ToLower(ct.To), "sip:") {
			add("contacts[%d].to %q must be an E.164 number (+15551234567) or a SIP URI (sip:fax@pbx.example.com)", i, ct.To)
		}
		if (ct.SipAuthUsername != "" || ct.SipAuthPassword != "") && !strings.HasPrefix(strings.ToLower(ct.To), "sip:") {
			add("contacts[%d]: sip_auth_* only apply to SIP destinations", i)
		}
	}

	w := c.Worker
	if w.Concurrency < 1 || w.Concurrency > 64 {
		add("worker.concurrency must be 1 to 64")
	}
	if w.PollAfter.Duration <= 0 || w.PollMax.Duration < w.PollAfter.Duration {
		add("worker.poll_after must be positive and worker.poll_max at least as long")
	}
	if w.SendTimeout.Duration < time.Second || w.Lease.Duration < 2*w.SendTimeout.Duration {
		add("worker.send_timeout must be at least 1s and worker.lease at least twice as long")
	}
	if w.ReconcileAfter.Duration < 2*w.SendTimeout.Duration {
		add("worker.reconcile_after must be at least twice worker.send_timeout: a fax the provider creates after the client gave up must have time to show in its listings")
	}
	if w.RedialBusy < 0 || w.RedialBusy > 10 {
		add("worker.redial_attempts must be 0 to 10")
	}
	return p
}

// Trusted reports whether addr is inside smtp.trusted_networks or one of the
// [[smtp.networks]]. Check must have run first (Load does).
func (s *SMTP) Trusted(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range s.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	_, ok := s.Network(addr)
	return ok
}

// APIBaseURL is where the SignalWire API lives: base_url when set, otherwise
// https://{space}.
func (s *SignalWire) APIBaseURL() string {
	if s.BaseURL != "" {
		return strings.TrimSuffix(s.BaseURL, "/")
	}
	space := s.Space
	if !strings.Contains(space, ".") {
		space += ".signalwire.com"
	}
	return "https://" + space
}

// GiveUpAfter is how long after submission the worker keeps polling for an
// outcome before declaring it unknown: the fax's TTL plus a generous margin.
func (c *Config) GiveUpAfter() time.Duration {
	if c.Worker.GiveUpAfter.Duration > 0 {
		return c.Worker.GiveUpAfter.Duration
	}
	return time.Duration(c.SignalWire.TTL)*time.Minute + 2*time.Hour
}

// Countries returns the countries faxes may go to.
func (f *Fax) Countries(defaultRegion string) []string {
	if f.AllowCountries == nil {
		return []string{strings.ToUpper(defaultRegion)}
	}
	return f.AllowCountries
}

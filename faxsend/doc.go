// Package faxsend speaks SignalWire's Compatibility (LaML) Fax API: it sends
// faxes, asks what became of them, finds a fax after a crash, and checks and
// parses the signed status callbacks SignalWire sends back.
//
// # Retries and ambiguity
//
// A fax is a telephone call that prints paper at the other end, so sending it
// twice is a visible mistake. The package therefore splits the work with its
// caller, the job worker:
//
//   - Send never retries: each call delivers at most one POST to the
//     provider. (net/http may repeat a request on a fresh connection only
//     when nothing of it was written, which cannot fax twice.)
//   - Every error carries a faxbridge code. EUnavailable (rate limits, 5xx,
//     network faults) is worth retrying later, honouring Error.RetryAfter;
//     EInvalid and EUnauthorized are refusals that retrying cannot fix.
//   - A refusal of the account rather than of the fax also wraps
//     faxbridge.ErrAccount: 401, 403 or code 20003 (a token rotated or
//     without the Fax scope; EUnauthorized) and code 30002 (insufficient
//     balance, whatever the HTTP status; EUnavailable). An operator fixes
//     these, so the worker keeps the fax waiting instead of failing it.
//   - When the POST may have reached SignalWire but no answer came back (the
//     connection broke or timed out after the request was written, a 2xx
//     whose body could not be read, or a 500/502/504 that a gateway may have
//     produced after the backend acted), the error also wraps
//     faxbridge.ErrAmbiguous. The worker must then call FindSent before it
//     sends again. A failure before anything was written (connection refused,
//     DNS) is EUnavailable without ErrAmbiguous: nothing can have happened.
//   - Fetch and FindSent only read, so they retry EUnavailable a couple of
//     times within a few seconds before giving up.
//
// FindSent and ListSent ask the list for To, From (when given) and a full
// RFC 3339 DateCreatedAfter a minute before Since, then check each answer
// themselves: numbers compared normalised (E.164 with or without '+' and
// punctuation, tel: URIs, SIP URIs with case-insensitive scheme and host),
// and a fax whose date cannot be read kept, since the server already
// filtered by date.
//
// FindSent matches on the exact media URL, or on scheme, host and path when
// the provider reports the URL without its query string (a presigned URL's
// signature lives in the query). Every job has its own unguessable object key,
// so the path alone still identifies the job.
package faxsend

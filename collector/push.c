/*
 * push.c - HTTP delivery of spooled reports with libcurl: one POST per
 * report, the address map on demand (428), exponential backoff with full
 * jitter on transient failures, and removal from the spool only after a
 * 2xx. Nothing here ever deletes a report the server did not acknowledge.
 * A 429 (kcovd's rate limit) waits at least the answer's Retry-After
 * seconds before the next try and does not use up one of --max-attempts.
 *
 * Wire versions: the spool holds v1 frames (any kcovd accepts them). Every
 * kcovd answer names the report versions it accepts in X-Kcov-Wire; the
 * push learns it with one GET /healthz per session and from every answer
 * after that, and sends a spooled report re-encoded as v2 when the server
 * accepts v2 (same upload id, so a re-send is still a duplicate). A v2
 * frame refused with 400 is sent once more as the spooled v1 bytes, so a
 * server that advertised v2 wrongly cannot make a report rejected.
 */
#include "push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#define RESPONSE_MAX 65536
/* Longest Retry-After honoured (seconds); longer ones are cut to this. */
#define RETRY_AFTER_MAX 3600
/* Most 429 answers one report may get before the push gives up on it. */
#define RATE_LIMITED_MAX 1000

/* One push session: the connection and what the server last said it
 * accepts (1 until an answer says more). */
struct conn {
	CURL *curl;
	unsigned wire;
	unsigned retry_after; /* Retry-After of the last answer, seconds (0: none) */
};

struct response {
	struct kc_buf body;
	unsigned wire;        /* newest version in X-Kcov-Wire, 0 when absent */
	unsigned retry_after; /* Retry-After in seconds, 0 when absent or a date */
};

/* A Retry-After value in delta-seconds (an HTTP date gives 0), capped at
 * RETRY_AFTER_MAX. */
static unsigned parse_retry_after(const char *v, size_t n)
{
	unsigned s = 0;
	size_t i = 0;

	while (i < n && (v[i] == ' ' || v[i] == '\t'))
		i++;
	if (i == n || v[i] < '0' || v[i] > '9')
		return 0;
	for (; i < n && v[i] >= '0' && v[i] <= '9'; i++)
		if ((s = s * 10 + (unsigned)(v[i] - '0')) > RETRY_AFTER_MAX)
			return RETRY_AFTER_MAX;
	return s;
}

/* Newest version this side speaks in an X-Kcov-Wire value ("1,2"). */
static unsigned parse_wire(const char *v, size_t n)
{
	unsigned best = 0, cur = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && v[i] >= '0' && v[i] <= '9') {
			cur = cur * 10 + (unsigned)(v[i] - '0');
			if (cur > 1000)
				cur = 1000;
			continue;
		}
		if (cur <= KC_WIRE_VERSION_MAX && cur > best)
			best = cur;
		cur = 0;
	}
	return best;
}

static size_t on_header(char *p, size_t size, size_t nitems, void *arg)
{
	static const char name[] = "x-kcov-wire:", retry[] = "retry-after:";
	struct response *r = arg;
	size_t n = size * nitems;

	if (n > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0)
		r->wire = parse_wire(p + sizeof(name) - 1, n - (sizeof(name) - 1));
	if (n > sizeof(retry) - 1 && strncasecmp(p, retry, sizeof(retry) - 1) == 0)
		r->retry_after = parse_retry_after(p + sizeof(retry) - 1, n - (sizeof(retry) - 1));
	return n;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct response *r = arg;
	size_t n = size * nmemb;

	if (r->body.len + n > RESPONSE_MAX)
		return n; /* keep the first 64 KiB; the rest is not needed */
	kc_buf_add(&r->body, p, n);
	return n;
}

int kc_push_global_init(struct kc_err *err)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return kc_err_set(err, KC_E_INTERNAL, "curl_global_init failed");
	return 0;
}

/* Did the request fail in TLS (handshake, certificate, key)? */
static int tls_failure(CURLcode rc)
{
	switch (rc) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_USE_SSL_FAILED:
		return 1;
	default:
		return 0;
	}
}

/* Did a plain http:// request get no answer, as when the port speaks TLS? */
static int plain_to_tls(CURLcode rc, const char *url)
{
	return (rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR) &&
	       strncmp(url, "http://", 7) == 0;
}

/* POST body to server+path (GET when body is NULL). *status is the HTTP
 * status, or 0 when the request did not complete (err says why). A
 * completed answer also updates c->wire from its X-Kcov-Wire header. */
static int post(struct conn *c, const struct kc_push_opts *o, const char *path,
		const struct kc_buf *body, long *status, struct kc_buf *resp_out, struct kc_err *err)
{
	CURL *curl = c->curl;
	struct curl_slist *hdrs = NULL;
	struct response resp = { KC_BUF_INIT, 0, 0 };
	char url[2048], auth[1024], detail[CURL_ERROR_SIZE];
	CURLcode rc;
	int ret = -1;

	*status = 0;
	c->retry_after = 0;
	if (snprintf(url, sizeof(url), "%s%s", o->server, path) >= (int)sizeof(url))
		return kc_err_set(err, KC_E_BAD_INPUT, "server URL too long");
	hdrs = curl_slist_append(hdrs, "Content-Type: application/x-kcov");
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (o->token && o->token[0]) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	if (body) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *)body->data);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
	}
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &resp);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, o->timeout_s > 0 ? o->timeout_s : 30L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, detail);
	if (o->cacert)
		curl_easy_setopt(curl, CURLOPT_CAINFO, o->cacert);
	if (o->cert)
		curl_easy_setopt(curl, CURLOPT_SSLCERT, o->cert);
	if (o->key)
		curl_easy_setopt(curl, CURLOPT_SSLKEY, o->key);
	detail[0] = '\0';
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		kc_err_set(err, KC_E_UNAVAILABLE, "%s %s: %s%s%s", body ? "POST" : "GET", url,
			   tls_failure(rc) ? "TLS: " : "", detail[0] ? detail : curl_easy_strerror(rc),
			   plain_to_tls(rc, url) ? " (an https:// server? kcovd with --tls-cert "
						   "speaks only HTTPS)" : "");
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
	c->wire = resp.wire ? resp.wire : 1;
	c->retry_after = *status == 429 ? resp.retry_after : 0;
	if (resp_out && resp.body.len)
		kc_buf_add(resp_out, resp.body.data, resp.body.len);
	if (*status < 200 || *status > 299)
		kc_err_set(err, KC_E_UNAVAILABLE, "%s %s: HTTP %ld: %.300s", body ? "POST" : "GET", url,
			   *status,
			   resp.body.len ? (char *)resp.body.data : "");
	ret = 0;
out:
	kc_buf_release(&resp.body);
	curl_slist_free_all(hdrs);
	return ret;
}

/* Sleep before retry number attempt: full jitter under an exponential
 * ceiling, and at least the server's Retry-After (seconds, 0: none). */
static void backoff_sleep(const struct kc_push_opts *o, int attempt, unsigned retry_after)
{
	double ceiling = o->backoff_base;
	unsigned int rnd = 0;
	struct timespec ts;
	double d;

	for (int i = 1; i < attempt && ceiling < o->backoff_max; i++)
		ceiling *= 2;
	if (ceiling > o->backoff_max)
		ceiling = o->backoff_max;
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (unsigned int)time(NULL);
	d = ceiling * (rnd / 4294967296.0); /* full jitter: uniform in [0, ceiling) */
	if (d < retry_after)
		d = retry_after;
	ts.tv_sec = (time_t)d;
	ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

enum outcome { DELIVERED, DUPLICATE, REJECTED, RETRY, FATAL };

static enum outcome classify(long status)
{
	if (status >= 200 && status <= 299)
		return DELIVERED;
	if (status == 400 || status == 413 || status == 415 || status == 422)
		return REJECTED;
	if (status == 401 || status == 403 || status == 404)
		return FATAL;
	return RETRY; /* 0 (network), 408, 429, 5xx, and anything unexpected */
}

/* POST the spooled map of boot and drop its unsent mark. */
static enum outcome send_map(struct conn *c, const struct kc_spool *s, const char *boot,
			     const struct kc_push_opts *o, struct kc_push_stats *st,
			     struct kc_err *err)
{
	struct kc_buf map = KC_BUF_INIT;
	enum outcome out;
	long status;

	if (kc_spool_read_map(s, boot, &map, err) < 0) {
		kc_err_prefix(err, "the server needs the address map of boot %s, which is not "
				   "spooled", boot);
		out = FATAL;
		goto out;
	}
	if (post(c, o, "/api/v1/boots", &map, &status, NULL, err) < 0) {
		out = RETRY;
		goto out;
	}
	out = classify(status);
	if (out == REJECTED)
		out = FATAL; /* a map the server refuses would refuse every report */
	if (out != DELIVERED)
		goto out;
	st->maps_sent++;
	if (kc_spool_map_sent(s, boot, err) < 0)
		out = FATAL;
out:
	kc_buf_release(&map);
	return out;
}

/* Does a 2xx answer's JSON body say the report was already stored
 * ({"duplicate": true})? An unparsable body counts as a new delivery. */
static int acknowledged_duplicate(const struct kc_buf *resp)
{
	json_t *j = resp->len ? json_loadb((const char *)resp->data, resp->len, 0, NULL) : NULL;
	int dup = json_is_true(json_object_get(j, "duplicate"));

	json_decref(j);
	return dup;
}

/* The bytes to send for a spooled report: the spooled v1 frame, or its v2
 * re-encoding (made once, kept in *v2) when the server accepts v2. A frame
 * that does not decode is sent as spooled, for the server to judge. */
static const struct kc_buf *pick_body(const struct conn *c, const struct kc_buf *body,
				      struct kc_buf *v2)
{
	struct kc_report r;
	struct kc_err err;
	enum kc_msg_kind kind;
	unsigned version;

	if (c->wire < 2)
		return body;
	if (v2->len)
		return v2;
	if (kc_wire_peek(body->data, body->len, &kind, &version, &err) < 0 || version != 1 ||
	    kc_wire_decode_report(body->data, body->len, &r, &err) < 0)
		return body;
	if (kc_wire_encode_report_v(&r, 2, v2, &err) < 0)
		v2->len = 0;
	kc_report_release(&r);
	return v2->len ? v2 : body;
}

/* POST a report; a 428 sends the boot's map first and the report again. */
static enum outcome post_report(struct conn *c, const struct kc_spool *s, const char *boot,
				const struct kc_buf *send, const struct kc_push_opts *o,
				struct kc_push_stats *st, long *status, struct kc_buf *resp,
				struct kc_err *err)
{
	enum outcome out;

	resp->len = 0;
	if (post(c, o, "/api/v1/reports", send, status, resp, err) < 0)
		return RETRY;
	if (*status != 428)
		return classify(*status);
	if ((out = send_map(c, s, boot, o, st, err)) != DELIVERED)
		return out;
	resp->len = 0;
	if (post(c, o, "/api/v1/reports", send, status, resp, err) < 0)
		return RETRY;
	return classify(*status);
}

/* One delivery attempt of one report, including the map round trips: a map
 * that changed since it was sent goes first, and a 428 sends it too. */
static enum outcome try_report(struct conn *c, const struct kc_spool *s, const char *name,
			       const struct kc_buf *body, struct kc_buf *v2,
			       const struct kc_push_opts *o, struct kc_push_stats *st,
			       size_t *sent, struct kc_err *err)
{
	struct kc_buf resp = KC_BUF_INIT;
	char boot[KC_BOOT_ID_MAX + 1];
	const struct kc_buf *send;
	enum outcome out;
	long status;

	if (kc_spool_boot_of(name, boot, sizeof(boot)) < 0) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: not a report file name", name);
		out = FATAL;
		goto done;
	}
	if (kc_spool_map_unsent(s, boot) && (out = send_map(c, s, boot, o, st, err)) != DELIVERED)
		goto done;
	send = pick_body(c, body, v2);
	out = post_report(c, s, boot, send, o, st, &status, &resp, err);
	if (out == REJECTED && send != body) {
		/* Refused as v2: let the spooled v1 bytes have the last word. */
		send = body;
		out = post_report(c, s, boot, send, o, st, &status, &resp, err);
	}
	if (out == DELIVERED && send != body)
		st->v2++;
	*sent = send->len;
	if (out == DELIVERED && acknowledged_duplicate(&resp))
		out = DUPLICATE;
done:
	kc_buf_release(&resp);
	return out;
}

/* The unique PCs of a spooled (v1) report, 0 when it does not decode (the
 * server accepted it, so it does: this only feeds the summary line). */
static uint64_t report_pcs(const struct kc_buf *body)
{
	struct kc_report r;
	struct kc_err ignored;
	uint64_t n = 0;

	kc_report_init(&r);
	if (kc_wire_decode_report(body->data, body->len, &r, &ignored) == 0)
		n = kc_report_npcs(&r);
	kc_report_release(&r);
	return n;
}

static int push_one(struct conn *c, const struct kc_spool *s, const char *name,
		    const struct kc_push_opts *o, struct kc_push_stats *st, struct kc_err *err)
{
	struct kc_buf body = KC_BUF_INIT, v2 = KC_BUF_INIT;
	int ret = -1;

	if (kc_spool_read(s, name, &body, err) < 0)
		goto out;
	for (int attempt = 1, limited = 0;; attempt++) {
		size_t sent = 0;
		enum outcome r = try_report(c, s, name, &body, &v2, o, st, &sent, err);

		if (r == DELIVERED || r == DUPLICATE) {
			st->delivered++;
			st->duplicates += r == DUPLICATE;
			st->bytes += sent;
			st->pcs += report_pcs(&body);
			ret = kc_spool_remove(s, name, err);
			goto out;
		}
		if (r == REJECTED) {
			fprintf(stderr, "kcov-collect: %s rejected, kept in rejected/: %s\n", name,
				err ? err->msg : "");
			st->rejected++;
			ret = kc_spool_reject(s, name, err);
			goto out;
		}
		if (r == RETRY && c->retry_after && ++limited <= RATE_LIMITED_MAX) {
			/* Rate limited: the server said when; not a failed attempt. */
			st->rate_limited++;
			attempt--;
		} else if (r == FATAL || attempt >= o->max_attempts) {
			goto out;
		}
		st->retries++;
		backoff_sleep(o, attempt, c->retry_after);
	}
out:
	kc_buf_release(&v2);
	kc_buf_release(&body);
	return ret;
}

int kc_push_spool(const struct kc_spool *s, const struct kc_push_opts *o, struct kc_push_stats *st,
		  struct kc_err *err)
{
	char **names = NULL;
	size_t n = 0;
	struct conn c = { NULL, 1, 0 };
	struct kc_err probe_err;
	long status;
	int ret = -1;

	c.curl = curl_easy_init();
	if (!c.curl)
		return kc_err_set(err, KC_E_INTERNAL, "curl_easy_init failed");
	if (kc_spool_list(s, &names, &n, err) < 0)
		goto out;
	/* Learn the accepted wire versions before the first report; when the
	 * probe fails the reports go as v1 until an answer says more. */
	if (n && post(&c, o, "/healthz", NULL, &status, NULL, &probe_err) < 0)
		c.wire = 1;
	for (size_t i = 0; i < n; i++)
		if (push_one(&c, s, names[i], o, st, err) < 0) {
			st->pending += (unsigned)(n - i);
			goto out;
		}
	ret = 0;
out:
	kc_spool_list_free(names, n);
	curl_easy_cleanup(c.curl);
	return ret;
}

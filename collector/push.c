/*
 * push.c - HTTP delivery of spooled reports with libcurl: one POST per
 * report, the address map on demand (428), exponential backoff with full
 * jitter on transient failures, and removal from the spool only after a
 * 2xx. Nothing here ever deletes a report the server did not acknowledge.
 */
#include "push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#define RESPONSE_MAX 65536

struct response {
	struct kc_buf body;
};

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

/* POST body to server+path. *status is the HTTP status, or 0 when the
 * request did not complete (err says why). */
static int post(CURL *curl, const struct kc_push_opts *o, const char *path, const struct kc_buf *body,
		long *status, struct kc_buf *resp_out, struct kc_err *err)
{
	struct curl_slist *hdrs = NULL;
	struct response resp = { KC_BUF_INIT };
	char url[2048], auth[1024];
	CURLcode rc;
	int ret = -1;

	*status = 0;
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
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *)body->data);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, o->timeout_s > 0 ? o->timeout_s : 30L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		kc_err_set(err, KC_E_UNAVAILABLE, "POST %s: %s", url, curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
	if (resp_out && resp.body.len)
		kc_buf_add(resp_out, resp.body.data, resp.body.len);
	if (*status < 200 || *status > 299)
		kc_err_set(err, KC_E_UNAVAILABLE, "POST %s: HTTP %ld: %.300s", url, *status,
			   resp.body.len ? (char *)resp.body.data : "");
	ret = 0;
out:
	kc_buf_release(&resp.body);
	curl_slist_free_all(hdrs);
	return ret;
}

static void backoff_sleep(const struct kc_push_opts *o, int attempt)
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
static enum outcome send_map(CURL *curl, const struct kc_spool *s, const char *boot,
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
	if (post(curl, o, "/api/v1/boots", &map, &status, NULL, err) < 0) {
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

/* One delivery attempt of one report, including the map round trips: a map
 * that changed since it was sent goes first, and a 428 sends it too. */
static enum outcome try_report(CURL *curl, const struct kc_spool *s, const char *name,
			       const struct kc_buf *body, const struct kc_push_opts *o,
			       struct kc_push_stats *st, struct kc_err *err)
{
	struct kc_buf resp = KC_BUF_INIT;
	char boot[KC_BOOT_ID_MAX + 1];
	enum outcome out;
	long status;

	if (kc_spool_boot_of(name, boot, sizeof(boot)) < 0) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: not a report file name", name);
		out = FATAL;
		goto done;
	}
	if (kc_spool_map_unsent(s, boot) && (out = send_map(curl, s, boot, o, st, err)) != DELIVERED)
		goto done;
	if (post(curl, o, "/api/v1/reports", body, &status, &resp, err) < 0) {
		out = RETRY;
		goto done;
	}
	if (status == 428) {
		if ((out = send_map(curl, s, boot, o, st, err)) != DELIVERED)
			goto done;
		resp.len = 0;
		if (post(curl, o, "/api/v1/reports", body, &status, &resp, err) < 0) {
			out = RETRY;
			goto done;
		}
	}
	out = classify(status);
	if (out == DELIVERED && acknowledged_duplicate(&resp))
		out = DUPLICATE;
done:
	kc_buf_release(&resp);
	return out;
}

static int push_one(CURL *curl, const struct kc_spool *s, const char *name,
		    const struct kc_push_opts *o, struct kc_push_stats *st, struct kc_err *err)
{
	struct kc_buf body = KC_BUF_INIT;
	int ret = -1;

	if (kc_spool_read(s, name, &body, err) < 0)
		goto out;
	for (int attempt = 1;; attempt++) {
		enum outcome r = try_report(curl, s, name, &body, o, st, err);

		if (r == DELIVERED || r == DUPLICATE) {
			st->delivered++;
			st->duplicates += r == DUPLICATE;
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
		if (r == FATAL || attempt >= o->max_attempts)
			goto out;
		st->retries++;
		backoff_sleep(o, attempt);
	}
out:
	kc_buf_release(&body);
	return ret;
}

int kc_push_spool(const struct kc_spool *s, const struct kc_push_opts *o, struct kc_push_stats *st,
		  struct kc_err *err)
{
	char **names = NULL;
	size_t n = 0;
	CURL *curl;
	int ret = -1;

	curl = curl_easy_init();
	if (!curl)
		return kc_err_set(err, KC_E_INTERNAL, "curl_easy_init failed");
	if (kc_spool_list(s, &names, &n, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (push_one(curl, s, names[i], o, st, err) < 0)
			goto out;
	ret = 0;
out:
	kc_spool_list_free(names, n);
	curl_easy_cleanup(curl);
	return ret;
}

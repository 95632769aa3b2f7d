/*
 * http.c - kcovd's HTTP front: the libmicrohttpd daemon (epoll and a thread
 * pool, connection limit and idle timeout), the checks of the route table
 * (api/routes.c, matched by route.c) applied on the first call, before a body byte is read (414,
 * 431, 404, 405, 401, the rate limit's 429 (ratelimit.c), 415, 413), body collection with the route's size cap, and
 * the JSON and error response helpers (which advertise the accepted wire
 * versions in X-Kcov-Wire). It knows no handler: it calls the one the route
 * table names.
 */
#include "server.h"
#include "jobs.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "db.h"
#include "parse.h"
#include "ratelimit.h"
#include "route.h"
#include "tls.h"

/* Per-request state, created by the URI logger (before the headers are
 * parsed, so the full request target's length is known) and freed when the
 * request completes. */
struct conn_ctx {
	size_t uri_len;          /* bytes of the request target, query included */
	int started;             /* the first access-handler call was made */
	int refused;             /* a response was already queued on that call */
	int too_large;
	unsigned retry_after;    /* seconds, of a 429 */
	struct kc_route_match match;
	char *params[KC_ROUTE_MAX_PARAMS]; /* NUL-terminated parameter values */
	char client[KC_TLS_SUBJECT_MAX]; /* verified client certificate subject, "" none */
	struct kc_token token;           /* token.scope KC_SCOPE_NONE: none checked */
	struct kc_buf body;
	/* kc_req_defer: the parked request's answer and its state */
	struct MHD_Connection *conn;
	kc_finish_fn finish;
	void (*release)(void *state);
	void *state;
};

static enum MHD_Result respond(struct kc_req *r, unsigned status, const char *type,
			       const char *data, size_t len, const char *hdr, const char *value)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (hdr)
		MHD_add_response_header(resp, hdr, value);
	MHD_add_response_header(resp, "X-Kcov-Wire", r->srv->wire_header);
	ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result kc_respond_text(struct kc_req *r, unsigned status, const char *type,
				const char *data, size_t len)
{
	return respond(r, status, type, data, len, NULL, NULL);
}

enum MHD_Result kc_respond_json_hdr(struct kc_req *r, unsigned status, json_t *j,
				    const char *hdr, const char *value)
{
	static const char oom[] = "{\"error\":\"out of memory\",\"code\":\"internal\",\"status\":500}";
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	enum MHD_Result ret;

	json_decref(j);
	if (!text)
		return respond(r, 500, "application/json", oom, sizeof(oom) - 1, NULL, NULL);
	ret = respond(r, status, "application/json", text, strlen(text), hdr, value);
	free(text);
	return ret;
}

enum MHD_Result kc_respond_json(struct kc_req *r, unsigned status, json_t *j)
{
	return kc_respond_json_hdr(r, status, j, NULL, NULL);
}

json_t *kc_error_json(const struct kc_err *err)
{
	enum kc_errc code = err->code == KC_E_NONE ? KC_E_INTERNAL : err->code;
	const char *msg = err->msg[0] ? err->msg : kc_errc_name(code);
	json_t *j = json_pack("{s:s, s:s, s:i}", "error", msg, "code", kc_errc_name(code),
			      "status", (int)kc_errc_status(code));

	if (!j) {
		/* Not UTF-8 (a URL or name echoed from the request): JSON cannot
		 * carry it, so answer with the bytes replaced, not with a 500. */
		char clean[KC_ERR_MAX];
		size_t i;

		for (i = 0; msg[i] && i + 1 < sizeof(clean); i++)
			clean[i] = (unsigned char)msg[i] >= 0x80 || (unsigned char)msg[i] < 0x20
					   ? '?' : msg[i];
		clean[i] = '\0';
		j = json_pack("{s:s, s:s, s:i}", "error", clean, "code", kc_errc_name(code),
			      "status", (int)kc_errc_status(code));
	}
	return j;
}

static enum MHD_Result respond_err_hdr(struct kc_req *r, const struct kc_err *err,
				       const char *hdr, const char *value)
{
	return kc_respond_json_hdr(r, kc_errc_status(err->code), kc_error_json(err), hdr, value);
}

enum MHD_Result kc_respond_err(struct kc_req *r, const struct kc_err *err)
{
	return respond_err_hdr(r, err, NULL, NULL);
}

enum MHD_Result kc_respond_error(struct kc_req *r, enum kc_errc code, const char *fmt, ...)
{
	struct kc_err err;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	va_end(ap);
	err.code = code;
	return kc_respond_err(r, &err);
}

const char *kc_req_arg(struct kc_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *kc_req_param(const struct kc_req *r, const char *name)
{
	for (unsigned i = 0; i < r->nparams; i++)
		if (strcmp(r->param_names[i], name) == 0)
			return r->params[i];
	return NULL;
}

struct kc_sql *kc_db_get(struct kc_server *srv, struct kc_err *err)
{
	struct kc_sql *db = NULL;

	pthread_mutex_lock(&srv->pool_lock);
	if (srv->npool)
		db = srv->pool[--srv->npool];
	pthread_mutex_unlock(&srv->pool_lock);
	return db ? db : kc_db_open(srv->opts.db_path, 1, err);
}

void kc_db_put(struct kc_server *srv, struct kc_sql *db)
{
	if (!db)
		return;
	pthread_mutex_lock(&srv->pool_lock);
	if (srv->npool < KC_READ_POOL) {
		srv->pool[srv->npool++] = db;
		db = NULL;
	}
	pthread_mutex_unlock(&srv->pool_lock);
	kc_db_close(db);
}

/* A token's last use is written at most this often (or when it comes from
 * another address), so that checking it costs no write per request. */
#define TOKEN_TOUCH_S 60

static int touch_token(void *arg, void *db, struct kc_err *err)
{
	const struct kc_token *t = arg;

	return kc_token_touch(db, t->id, t->last_used, t->last_addr, err);
}

/* The client's address as text into out ("" when unknown). */
static void client_addr(struct MHD_Connection *conn, char *out, size_t size)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	out[0] = '\0';
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
			  (socklen_t)size);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
			  (socklen_t)size);
}

/* Does the request carry a token the route's scope accepts? The token is
 * looked up in the database on every request (revocation and expiry take
 * effect at once) and kept in *t. 1 yes, 0 no, -1 when the database could
 * not be asked for a passing reason (the request gets 503, not 401). */
static int authorized(struct kc_req *r, enum kc_scope need, struct kc_token *t)
{
	const char *auth = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
	struct kc_err err;
	char addr[sizeof(t->last_addr)];
	int64_t now = (int64_t)time(NULL);
	struct kc_sql *db;

	if (need == KC_SCOPE_NONE || (need == KC_SCOPE_READ && !r->srv->opts.read_auth))
		return 1;
	if (!auth)
		return 0;
	db = kc_db_get(r->srv, &err);
	if (!db)
		return err.code == KC_E_UNAVAILABLE ? -1 : 0;
	kc_token_check(db, auth, now, t);
	kc_db_put(r->srv, db);
	if (t->unavailable)
		return -1;
	if (!kc_scope_allows(t->scope, need))
		return 0;
	client_addr(r->conn, addr, sizeof(addr));
	if (now - t->last_used >= TOKEN_TOUCH_S || strcmp(addr, t->last_addr) != 0) {
		struct kc_token use = *t;

		use.last_used = now;
		snprintf(use.last_addr, sizeof(use.last_addr), "%s", addr);
		/* Bookkeeping: a failed write does not refuse the request. */
		if (kc_store_call(r->srv->store, touch_token, &use, &err) < 0)
			fprintf(stderr, "kcovd: recording the use of token kc_%s: %s\n", t->id,
				err.msg);
	}
	r->token = t;
	return 1;
}

/* Is the request over its rate limit: the token's bucket when the route
 * checked one, else the client address's? Sets ctx->retry_after. */
static int rate_limited(struct kc_req *r, struct conn_ctx *ctx)
{
	struct kc_ratelimit *rl = r->token ? r->srv->rl_token : r->srv->rl_addr;
	char key[64];
	struct timespec ts;

	if (!rl)
		return 0;
	if (r->token)
		snprintf(key, sizeof(key), "%s", r->token->id);
	else
		client_addr(r->conn, key, sizeof(key));
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ctx->retry_after = kc_ratelimit_take(rl, key, (double)ts.tv_sec + ts.tv_nsec / 1e9);
	if (!ctx->retry_after)
		return 0;
	atomic_fetch_add(r->token ? &r->srv->metrics.rate_limited_token
				  : &r->srv->metrics.rate_limited_addr, 1);
	return 1;
}

/* Does the Content-Type header name the media type want (parameters such
 * as "; charset=" allowed)? */
static int type_is(const char *type, const char *want)
{
	size_t n = strlen(want);

	return type && strncasecmp(type, want, n) == 0 &&
	       (type[n] == '\0' || type[n] == ';' || type[n] == ' ');
}

static enum MHD_Result add_header_bytes(void *cls, enum MHD_ValueKind kind, const char *key,
					const char *value)
{
	size_t *total = cls;
	(void)kind;

	*total += strlen(key) + 4 + (value ? strlen(value) : 0); /* ": " and CRLF */
	return MHD_YES;
}

/* The checks of the route table, made on the first call before any body
 * byte is read: target and header length, route, scope, Content-Type,
 * declared size.
 * Returns 0 when the request may go on, or -1 with err set (and allow
 * filled for a 405). */
static int check_request(struct kc_req *r, struct conn_ctx *ctx, char *allow, size_t allow_size,
			 struct kc_err *err)
{
	const char *type = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
	const char *len = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
	struct kc_metrics *m = &r->srv->metrics;
	const struct kc_route *rt;
	uint64_t declared = 0;
	size_t header_bytes = 0;
	int ingest, ok;

	if (ctx->uri_len > KC_URI_MAX)
		return kc_err_set(err, KC_E_URI_TOO_LONG,
				  "the request target has %zu bytes, more than the %u-byte limit",
				  ctx->uri_len, KC_URI_MAX);
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, add_header_bytes, &header_bytes);
	if (header_bytes > KC_HEADERS_MAX)
		return kc_err_set(err, KC_E_HEADERS_TOO_LARGE,
				  "the request headers have %zu bytes, more than the %u-byte limit",
				  header_bytes, KC_HEADERS_MAX);
	if (kc_route_lookup(r->srv->opts.routes, r->method, r->url, &ctx->match, allow, allow_size,
			    err) < 0)
		return -1;
	rt = ctx->match.route;
	ingest = rt->scope == KC_SCOPE_PUSH; /* the kcovd_reports_rejected_total metric */
	if ((ok = authorized(r, rt->scope, &ctx->token)) < 0)
		return kc_err_set(err, KC_E_UNAVAILABLE,
				  "the database cannot check the token now; retry later");
	if (!ok) {
		if (ingest)
			atomic_fetch_add(&m->rejected_auth, 1);
		/* A refused token costs its client address (r->token is NULL):
		 * a flood of guessed tokens gets 429. */
		if (rate_limited(r, ctx))
			return kc_err_set(err, KC_E_RATE_LIMITED,
					  "too many requests from this address; retry after %u s",
					  ctx->retry_after);
		return kc_err_set(err, KC_E_UNAUTHORIZED,
				  "a%s %s token is required (Authorization: Bearer)",
				  rt->scope == KC_SCOPE_ADMIN ? "n" : "", kc_scope_name(rt->scope));
	}
	if (rate_limited(r, ctx))
		return kc_err_set(err, KC_E_RATE_LIMITED,
				  "too many requests from this %s; retry after %u s",
				  r->token ? "token" : "address", ctx->retry_after);
	if (rt->content_type && !type_is(type, rt->content_type)) {
		if (ingest)
			atomic_fetch_add(&m->rejected_type, 1);
		return kc_err_set(err, KC_E_UNSUPPORTED_MEDIA, "Content-Type must be %s",
				  rt->content_type);
	}
	if (len && kc_parse_u64(len, "Content-Length", 0, UINT64_MAX, &declared, err) < 0)
		return -1;
	if (declared > rt->max_body) {
		if (ingest)
			atomic_fetch_add(&m->rejected_too_large, 1);
		if (rt->max_body == 0)
			return kc_err_set(err, KC_E_TOO_LARGE, "%s %s takes no body", r->method,
					  r->url);
		return kc_err_set(err, KC_E_TOO_LARGE,
				  "body of %s bytes exceeds the %zu-byte limit", len, rt->max_body);
	}
	return 0;
}

/* Copy the matched parameters into NUL-terminated strings owned by ctx. */
static int keep_params(struct conn_ctx *ctx, struct kc_err *err)
{
	for (unsigned i = 0; i < ctx->match.nparams; i++) {
		ctx->params[i] = strndup(ctx->match.p[i].value, ctx->match.p[i].value_len);
		if (!ctx->params[i])
			return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	}
	return 0;
}

static void fill_req(struct kc_req *r, struct conn_ctx *ctx)
{
	static const char *const none = "";

	r->nparams = ctx->match.nparams;
	for (unsigned i = 0; i < r->nparams; i++) {
		/* Parameter names are pattern text ending at '}' or '*'. */
		size_t n = ctx->match.p[i].name_len;

		if (n >= sizeof(r->param_names[i]))
			n = sizeof(r->param_names[i]) - 1;
		memcpy(r->param_names[i], ctx->match.p[i].name, n);
		r->param_names[i][n] = '\0';
		r->params[i] = ctx->params[i] ? ctx->params[i] : none;
	}
}

/* The request's body, client, token and path parameters into r. */
static void fill_body(struct kc_req *r, struct conn_ctx *ctx)
{
	r->body = ctx->body.data;
	r->body_len = ctx->body.len;
	r->client = ctx->client[0] ? ctx->client : NULL;
	r->token = ctx->token.scope != KC_SCOPE_NONE ? &ctx->token : NULL;
	fill_req(r, ctx);
}

static enum MHD_Result first_call(struct kc_req *r, struct conn_ctx *ctx)
{
	char allow[64];
	struct kc_err err;

	kc_err_clear(&err);
	ctx->started = 1;
	atomic_fetch_add(&r->srv->metrics.http_requests, 1);
	if (r->srv->opts.tls_client_ca &&
	    kc_tls_client_subject(r->conn, ctx->client, sizeof(ctx->client), &err) < 0) {
		atomic_fetch_add(&r->srv->metrics.rejected_client_cert, 1);
		ctx->refused = 1;
		return kc_respond_err(r, &err);
	}
	if (check_request(r, ctx, allow, sizeof(allow), &err) == 0 && keep_params(ctx, &err) == 0) {
		/* The pushing identity of a client certificate is logged
		 * (docs/operations.md); reads are not. */
		if (ctx->client[0] && ctx->match.route->scope == KC_SCOPE_PUSH)
			fprintf(stderr, "kcovd: %s %s by TLS client \"%s\"\n", r->method, r->url,
				ctx->client);
		return MHD_YES;
	}
	ctx->refused = 1;
	if (err.code == KC_E_RATE_LIMITED) {
		snprintf(allow, sizeof(allow), "%u", ctx->retry_after);
		return respond_err_hdr(r, &err, "Retry-After", allow);
	}
	return respond_err_hdr(r, &err, err.code == KC_E_METHOD_NOT_ALLOWED ? "Allow" : NULL,
			       allow);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct conn_ctx *ctx = calloc(1, sizeof(*ctx));
	(void)cls;
	(void)conn;

	if (ctx)
		ctx->uri_len = strlen(uri);
	return ctx;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct kc_server *srv = cls;
	struct conn_ctx *ctx = *con_cls;
	struct kc_req r;
	(void)version;

	memset(&r, 0, sizeof(r));
	r.srv = srv;
	r.conn = conn;
	r.method = method;
	r.url = url;
	if (!ctx) { /* the URI logger could not allocate */
		ctx = calloc(1, sizeof(*ctx));
		if (!ctx)
			return MHD_NO;
		ctx->uri_len = strlen(url);
		*con_cls = ctx;
	}
	r.ctx = ctx;
	if (!ctx->started)
		return first_call(&r, ctx);
	if (ctx->refused)
		return MHD_YES;
	if (ctx->finish) { /* resumed (kc_req_resume): answer */
		kc_finish_fn finish = ctx->finish;

		ctx->finish = NULL;
		atomic_fetch_sub(&srv->deferred, 1);
		fill_body(&r, ctx);
		return finish(&r, ctx->state);
	}
	if (*upload_size) {
		if (!ctx->too_large && ctx->body.len + *upload_size <= ctx->match.route->max_body)
			kc_buf_add(&ctx->body, upload, *upload_size);
		else
			ctx->too_large = 1;
		if (ctx->body.oom)
			ctx->too_large = 1;
		*upload_size = 0;
		return MHD_YES;
	}
	if (ctx->too_large) {
		if (ctx->match.route->scope == KC_SCOPE_PUSH)
			atomic_fetch_add(&srv->metrics.rejected_too_large, 1);
		return kc_respond_error(&r, KC_E_TOO_LARGE, "body exceeds the %zu-byte limit",
					ctx->match.route->max_body);
	}
	fill_body(&r, ctx);
	return ctx->match.route->handler(&r);
}

struct kc_defer *kc_req_defer(struct kc_req *r, void *state, kc_finish_fn finish,
			      void (*release)(void *state))
{
	struct conn_ctx *ctx = r->ctx;

	/* Counted before stopping is read: kc_server_stop sets stopping, then
	 * waits for no deferred request, so either it waits for this one or
	 * this one sees stopping. */
	atomic_fetch_add(&r->srv->deferred, 1);
	if (atomic_load(&r->srv->stopping)) {
		atomic_fetch_sub(&r->srv->deferred, 1);
		return NULL;
	}
	ctx->conn = r->conn;
	ctx->finish = finish;
	ctx->release = release;
	ctx->state = state;
	MHD_suspend_connection(r->conn);
	return (struct kc_defer *)ctx;
}

void kc_req_resume(struct kc_defer *d)
{
	MHD_resume_connection(((struct conn_ctx *)d)->conn);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct kc_server *srv = cls;
	struct conn_ctx *ctx = *con_cls;
	(void)conn;
	(void)toe;

	if (!ctx)
		return;
	/* Parked, resumed, but ended before its answer (the client went
	 * away): it is no longer suspended, so kc_server_stop must not wait
	 * for it. Its job is done: the writer resumes only after that. */
	if (ctx->finish)
		atomic_fetch_sub(&srv->deferred, 1);
	if (ctx->release)
		ctx->release(ctx->state);
	kc_buf_release(&ctx->body);
	for (unsigned i = 0; i < KC_ROUTE_MAX_PARAMS; i++)
		free(ctx->params[i]);
	free(ctx);
	*con_cls = NULL;
}

/* Runs on the writer connection: cap the database at *arg MiB. A write that
 * would grow it further fails as on a full disk (kc_db_cap_size). */
static int cap_db_size(void *arg, void *db, struct kc_err *err)
{
	return kc_db_cap_size(db, *(const unsigned *)arg, err);
}

int kc_server_start(struct kc_server *srv, const struct kc_server_opts *o, struct kc_err *err)
{
	struct sockaddr_in addr;
	const union MHD_DaemonInfo *info;
	struct MHD_OptionItem tls[4];
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
			 MHD_ALLOW_SUSPEND_RESUME, ntls = 0;
	struct timespec ts;

	memset(srv, 0, sizeof(*srv));
	if (o->wire_max > KC_WIRE_VERSION_MAX)
		return kc_err_set(err, KC_E_BAD_INPUT, "--wire-max %u: this kcovd speaks wire versions 1..%u",
				  o->wire_max, KC_WIRE_VERSION_MAX);
	srv->opts = *o;
	if (!srv->opts.wire_max)
		srv->opts.wire_max = KC_WIRE_VERSION_MAX;
	for (unsigned v = 1, n = 0; v <= srv->opts.wire_max; v++)
		n += (unsigned)snprintf(srv->wire_header + n, sizeof(srv->wire_header) - n,
					v > 1 ? ",%u" : "%u", v);
	pthread_mutex_init(&srv->pool_lock, NULL);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	srv->started = (double)ts.tv_sec;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons(o->port);
	if (inet_pton(AF_INET, o->listen_addr ? o->listen_addr : "127.0.0.1", &addr.sin_addr) != 1)
		return kc_err_set(err, KC_E_BAD_INPUT, "listen address '%s' is not an IPv4 address",
				  o->listen_addr);
	if (o->tls_cert) {
		if (!o->tls_key)
			return kc_err_set(err, KC_E_BAD_INPUT, "--tls-cert needs --tls-key");
		if (kc_tls_check(o->tls_cert, o->tls_key, o->tls_client_ca, err) < 0)
			return -1;
		flags |= MHD_USE_TLS;
		tls[ntls++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0,
						       (void *)o->tls_cert };
		tls[ntls++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0,
						       (void *)o->tls_key };
		if (o->tls_client_ca)
			tls[ntls++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0,
							       (void *)o->tls_client_ca };
	} else if (o->tls_key || o->tls_client_ca) {
		return kc_err_set(err, KC_E_BAD_INPUT, "--tls-key and --tls-client-ca need --tls-cert");
	}
	tls[ntls] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	srv->jobs = kc_jobs_new();
	if (!srv->jobs) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto fail;
	}
	if ((o->rate_token &&
	     !(srv->rl_token = kc_ratelimit_new(o->rate_token, o->burst_token, err))) ||
	    (o->rate_addr && !(srv->rl_addr = kc_ratelimit_new(o->rate_addr, o->burst_addr, err))))
		goto fail;
	srv->store = kc_store_open(o->db_path, err);
	if (!srv->store)
		goto fail;
	if (o->max_db_mb && kc_store_call(srv->store, cap_db_size, (void *)&o->max_db_mb, err) < 0) {
		kc_err_prefix(err, "--max-db-size");
		goto fail;
	}
	/* epoll with a small thread pool: thousands of idle or slow clients
	 * cost a socket each, not a thread, and cannot starve honest ones. */
	srv->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, srv,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE,
		(unsigned int)KC_HTTP_THREADS, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
		/* Room for a request target a little over KC_URI_MAX, so that
		 * kcovd (not MHD's connection reset) answers 414 with JSON. */
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)KC_CONN_MEMORY,
		MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)(o->max_connections ? o->max_connections : 4096),
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)(o->timeout_s ? o->timeout_s : 30),
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, 0u, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
	if (!srv->mhd) {
		kc_err_set(err, KC_E_UNAVAILABLE, "cannot listen on %s:%u (in use?)",
			   o->listen_addr ? o->listen_addr : "127.0.0.1", o->port);
		goto fail;
	}
	info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : o->port;
	return 0;
fail:
	kc_store_close(srv->store);
	srv->store = NULL;
	kc_jobs_free(srv->jobs);
	srv->jobs = NULL;
	kc_ratelimit_free(srv->rl_token);
	kc_ratelimit_free(srv->rl_addr);
	srv->rl_token = srv->rl_addr = NULL;
	return -1;
}

void kc_server_stop(struct kc_server *srv)
{
	/* Parked requests end when their jobs do (the writer still runs);
	 * from now on handlers answer synchronously. */
	atomic_store(&srv->stopping, 1);
	while (srv->mhd && atomic_load(&srv->deferred))
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	if (srv->mhd)
		MHD_stop_daemon(srv->mhd);
	kc_jobs_free(srv->jobs); /* waits for running jobs: they use the store */
	kc_store_close(srv->store);
	kc_ratelimit_free(srv->rl_token);
	kc_ratelimit_free(srv->rl_addr);
	for (unsigned i = 0; i < srv->npool; i++)
		kc_db_close(srv->pool[i]);
	pthread_mutex_destroy(&srv->pool_lock);
	memset(srv, 0, sizeof(*srv));
}

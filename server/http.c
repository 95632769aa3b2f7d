/*
 * http.c - kcovd's HTTP front: the libmicrohttpd daemon (epoll and a thread
 * pool, connection limit and idle timeout), body collection with a
 * hard size cap, early refusal (401, 413, 415) before a body is read,
 * routing to the API modules, and the JSON/error response helpers (which
 * advertise the accepted wire versions in X-Kcov-Wire).
 */
#include "server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "wire.h"

struct conn_ctx {
	struct kc_buf body;
	int too_large;
	int refused; /* a response was already queued on the first call */
};

enum MHD_Result kc_respond_text(struct kc_req *r, unsigned status, const char *type,
				const char *data, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Kcov-Wire", r->srv->wire_header);
	ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result kc_respond_json(struct kc_req *r, unsigned status, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	enum MHD_Result ret;

	json_decref(j);
	if (!text)
		return kc_respond_text(r, 500, "application/json",
				       "{\"error\":\"out of memory\"}", 25);
	ret = kc_respond_text(r, status, "application/json", text, strlen(text));
	free(text);
	return ret;
}

enum MHD_Result kc_respond_error(struct kc_req *r, unsigned status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	json_t *j;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	j = json_pack("{s:s, s:i}", "error", msg, "status", status);
	if (!j) {
		/* Not UTF-8 (a URL or name echoed from the request): JSON cannot
		 * carry it, so answer with the bytes replaced, not with a 500. */
		for (char *p = msg; *p; p++)
			if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
				*p = '?';
		j = json_pack("{s:s, s:i}", "error", msg, "status", status);
	}
	return kc_respond_json(r, status, j);
}

const char *kc_req_arg(struct kc_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

json_t *kc_json_addr(uint64_t a)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%016llx", (unsigned long long)a);
	return json_string(buf);
}

sqlite3 *kc_db_get(struct kc_server *srv, struct kc_err *err)
{
	sqlite3 *db = NULL;

	pthread_mutex_lock(&srv->pool_lock);
	if (srv->npool)
		db = srv->pool[--srv->npool];
	pthread_mutex_unlock(&srv->pool_lock);
	return db ? db : kc_db_open(srv->opts.db_path, 1, err);
}

void kc_db_put(struct kc_server *srv, sqlite3 *db)
{
	if (!db)
		return;
	pthread_mutex_lock(&srv->pool_lock);
	if (srv->npool < KC_READ_POOL) {
		srv->pool[srv->npool++] = db;
		db = NULL;
	}
	pthread_mutex_unlock(&srv->pool_lock);
	sqlite3_close(db);
}

int kc_req_authorized(struct kc_req *r, enum kc_scope need)
{
	const char *auth = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
	struct kc_err err;
	sqlite3 *db;
	enum kc_scope have;

	if (need == KC_SCOPE_READ && !r->srv->opts.read_auth)
		return 1;
	if (!auth)
		return 0;
	db = kc_db_get(r->srv, &err);
	if (!db)
		return 0;
	have = kc_token_check(db, auth);
	kc_db_put(r->srv, db);
	return kc_scope_allows(have, need);
}

static int is_post_route(const char *url)
{
	return strcmp(url, "/api/v1/reports") == 0 || strcmp(url, "/api/v1/boots") == 0;
}

/* Checks done before any body byte is read. Returns 1 when a refusal was
 * queued. */
static int refuse_early(struct kc_req *r, enum MHD_Result *ret)
{
	const char *type = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
	const char *len = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");

	if (!kc_req_authorized(r, KC_SCOPE_PUSH)) {
		atomic_fetch_add(&r->srv->metrics.rejected_auth, 1);
		*ret = kc_respond_error(r, 401, "a push token is required (Authorization: Bearer)");
		return 1;
	}
	if (!type || strncmp(type, "application/x-kcov", 18) != 0) {
		atomic_fetch_add(&r->srv->metrics.rejected_type, 1);
		*ret = kc_respond_error(r, 415, "Content-Type must be application/x-kcov");
		return 1;
	}
	if (len && strtoull(len, NULL, 10) > KC_WIRE_MAX_BODY) {
		atomic_fetch_add(&r->srv->metrics.rejected_too_large, 1);
		*ret = kc_respond_error(r, 413, "body of %s bytes exceeds the %u-byte limit", len,
					KC_WIRE_MAX_BODY);
		return 1;
	}
	return 0;
}

static enum MHD_Result route(struct kc_req *r)
{
	int handled = 0;
	enum MHD_Result ret;

	if (strcmp(r->method, "POST") == 0) {
		if (strcmp(r->url, "/api/v1/reports") == 0)
			return kc_api_post_report(r);
		if (strcmp(r->url, "/api/v1/boots") == 0)
			return kc_api_post_boot(r);
		if (strcmp(r->url, "/api/v1/builds") == 0)
			return kc_api_post_build(r);
	}
	if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0) {
		ret = kc_api_read(r, &handled);
		if (handled)
			return ret;
		ret = kc_api_static(r, &handled);
		if (handled)
			return ret;
		return kc_respond_error(r, 404, "no such resource: %s", r->url);
	}
	if (is_post_route(r->url))
		return kc_respond_error(r, 405, "%s needs POST", r->url);
	return kc_respond_error(r, 405, "method %s is not allowed here", r->method);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct kc_server *srv = cls;
	struct conn_ctx *ctx = *con_cls;
	struct kc_req r = { srv, conn, method, url, NULL, 0 };
	enum MHD_Result ret;
	(void)version;

	if (!ctx) {
		ctx = calloc(1, sizeof(*ctx));
		if (!ctx)
			return MHD_NO;
		*con_cls = ctx;
		atomic_fetch_add(&srv->metrics.http_requests, 1);
		if (strcmp(method, "POST") == 0 && is_post_route(url) && refuse_early(&r, &ret)) {
			ctx->refused = 1;
			return ret;
		}
		return MHD_YES;
	}
	if (ctx->refused)
		return MHD_YES;
	if (*upload_size) {
		if (!ctx->too_large && ctx->body.len + *upload_size <= KC_WIRE_MAX_BODY)
			kc_buf_add(&ctx->body, upload, *upload_size);
		else
			ctx->too_large = 1;
		if (ctx->body.oom)
			ctx->too_large = 1;
		*upload_size = 0;
		return MHD_YES;
	}
	if (ctx->too_large) {
		atomic_fetch_add(&srv->metrics.rejected_too_large, 1);
		return kc_respond_error(&r, 413, "body exceeds the %u-byte limit", KC_WIRE_MAX_BODY);
	}
	r.body = ctx->body.data;
	r.body_len = ctx->body.len;
	return route(&r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct conn_ctx *ctx = *con_cls;
	(void)cls;
	(void)conn;
	(void)toe;

	if (!ctx)
		return;
	kc_buf_release(&ctx->body);
	free(ctx);
	*con_cls = NULL;
}

/* Runs on the writer connection: cap the database at *arg MiB. A write that
 * would grow it further fails with SQLITE_FULL, as on a full disk. */
static int cap_db_size(void *arg, void *db, struct kc_err *err)
{
	char sql[64];
	int64_t page;

	if (kc_db_get_int(db, "PRAGMA page_size", 4096, &page, err) < 0)
		return -1;
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld",
		 (long long)(((int64_t)*(const unsigned *)arg << 20) / (page > 0 ? page : 4096)));
	return kc_db_exec(db, sql, err);
}

int kc_server_start(struct kc_server *srv, const struct kc_server_opts *o, struct kc_err *err)
{
	struct sockaddr_in addr;
	const union MHD_DaemonInfo *info;
	struct timespec ts;

	memset(srv, 0, sizeof(*srv));
	if (o->wire_max > KC_WIRE_VERSION_MAX)
		return kc_err_set(err, "--wire-max %u: this kcovd speaks wire versions 1..%u",
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
		return kc_err_set(err, "listen address '%s' is not an IPv4 address", o->listen_addr);
	srv->store = kc_store_open(o->db_path, err);
	if (!srv->store)
		return -1;
	if (o->max_db_mb && kc_store_call(srv->store, cap_db_size, (void *)&o->max_db_mb, err) < 0) {
		kc_store_close(srv->store);
		srv->store = NULL;
		return kc_err_prefix(err, "--max-db-size");
	}
	/* epoll with a small thread pool: thousands of idle or slow clients
	 * cost a socket each, not a thread, and cannot starve honest ones. */
	srv->mhd = MHD_start_daemon(
		MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, srv,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE,
		(unsigned int)(o->threads ? o->threads : 32), MHD_OPTION_NOTIFY_COMPLETED,
		on_completed, srv, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)(o->max_connections ? o->max_connections : 4096),
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)(o->timeout_s ? o->timeout_s : 30),
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, 0u, MHD_OPTION_END);
	if (!srv->mhd) {
		kc_store_close(srv->store);
		srv->store = NULL;
		return kc_err_set(err, "cannot listen on %s:%u (in use?)",
				  o->listen_addr ? o->listen_addr : "127.0.0.1", o->port);
	}
	info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : o->port;
	return 0;
}

void kc_server_stop(struct kc_server *srv)
{
	if (srv->mhd)
		MHD_stop_daemon(srv->mhd);
	kc_store_close(srv->store);
	for (unsigned i = 0; i < srv->npool; i++)
		sqlite3_close(srv->pool[i]);
	pthread_mutex_destroy(&srv->pool_lock);
	memset(srv, 0, sizeof(*srv));
}

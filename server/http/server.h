/*
 * server.h - kcovd's shared state and the HTTP plumbing every API module
 * uses: the request context, JSON and error responses, read connections.
 */
#ifndef KC_SERVER_H
#define KC_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "auth.h"
#include "err.h"
#include "sql.h"
#include "store.h"

/* Read connections kept open: more than KC_HTTP_THREADS, so a request
 * never opens (and prepares statements on) a connection of its own. */
#define KC_READ_POOL 40
#define KC_ROUTE_PARAMS 2 /* most path parameters of a route */
/* HTTP worker threads. An ingest request waiting for its group commit is
 * parked (kc_req_defer) and holds none, so this does not bound a batch. */
#define KC_HTTP_THREADS 32
/* Longest request target (path and query) answered; longer ones get 414. */
#define KC_URI_MAX (16u << 10)
/* Most bytes of request headers (names, values and separators) answered;
 * more get 431. */
#define KC_HEADERS_MAX (16u << 10)
/* Memory of one connection (MHD_OPTION_CONNECTION_MEMORY_LIMIT): holds a
 * request line over KC_URI_MAX or headers over KC_HEADERS_MAX, so those
 * are refused by kcovd with a JSON 414 or 431, not by MHD. Larger requests
 * get MHD's own 414 or 431 (HTML) or a closed connection. */
#define KC_CONN_MEMORY (64u << 10)

/* Counters exported at /metrics. */
struct kc_metrics {
	atomic_ullong reports_accepted, reports_duplicate, maps_accepted;
	atomic_ullong rejected_auth, rejected_decode, rejected_too_large, rejected_type,
		rejected_no_map, rejected_store, rejected_other;
	atomic_ullong rejected_client_cert; /* --tls-client-ca: no or bad certificate */
	atomic_ullong rate_limited_token, rate_limited_addr; /* 429s, by bucket key */
	atomic_ullong pcs_ingested, pcs_unknown;
	atomic_ullong http_requests;
	atomic_ullong runs[2], runs_overflowed[2]; /* [0] unique, [1] trace */
	atomic_ullong reports_wire[KC_WIRE_VERSION_MAX]; /* stored, by frame version - 1 */
};

struct kc_route;
struct kc_covq_cache;
struct kc_jobs;
struct kc_ratelimit;

/* Default request rates (per second) and bursts of the rate limits: above
 * what the writer takes (docs/performance.md), so honest fleets never see
 * a 429 unless an operator lowers them (docs/operations.md). */
#define KC_RATE_TOKEN_DEFAULT 5000
#define KC_BURST_TOKEN_DEFAULT 10000
#define KC_RATE_ADDR_DEFAULT 5000
#define KC_BURST_ADDR_DEFAULT 10000

struct kc_server_opts {
	const struct kc_route *routes; /* the route table (api/routes.c), borrowed */
	struct kc_covq_cache *covq_cache; /* the query layer's caches (required),
					   * borrowed: the HTTP layer only carries
					   * them to the handlers */
	const char *listen_addr; /* default 127.0.0.1 */
	uint16_t port;           /* 0 = any free port */
	const char *db_path;
	const char *web_dir;     /* static files for the browser UI, may be NULL */
	int read_auth;           /* reads need a read token */
	unsigned max_connections; /* default 4096 */
	unsigned timeout_s;      /* idle connection timeout */
	unsigned max_db_mb;      /* database size cap in MiB (PRAGMA max_page_count), 0 = none */
	unsigned wire_max;       /* newest REPORT wire version accepted (--wire-max), 0 = KC_WIRE_VERSION_MAX */
	/* HTTPS (docs/operations.md): PEM texts, NUL-terminated, borrowed until
	 * kc_server_stop. tls_cert NULL: plain HTTP. With tls_client_ca every
	 * request needs a client certificate that CA signed. */
	const char *tls_cert, *tls_key, *tls_client_ca;
	/* Rate limits (requests per second and bucket size; rate 0: none): per
	 * token on routes that need one, per client address on the others. */
	unsigned rate_token, burst_token, rate_addr, burst_addr;
};

struct kc_server {
	struct kc_server_opts opts; /* opts.wire_max is resolved (1..KC_WIRE_VERSION_MAX) */
	char wire_header[16];       /* X-Kcov-Wire value: the versions accepted, "1,2" */
	struct kc_store *store;
	struct MHD_Daemon *mhd;
	uint16_t port; /* actual port */
	struct kc_metrics metrics;
	struct kc_ratelimit *rl_token, *rl_addr; /* owned; NULL: that limit is off */
	pthread_mutex_t pool_lock;
	struct kc_sql *pool[KC_READ_POOL];
	unsigned npool;
	double started;
	/* Requests parked by kc_req_defer and not yet resumed; kc_server_stop
	 * sets stopping and waits for none (MHD must not stop with a
	 * suspended connection). */
	atomic_uint deferred;
	atomic_int stopping;
	struct kc_jobs *jobs; /* background jobs (jobs.h), owned: freed by
			       * kc_server_stop after the HTTP daemon stopped
			       * and before the store closes */
};

/* One HTTP request as the API modules see it. */
struct kc_req {
	struct kc_server *srv;
	struct MHD_Connection *conn;
	const char *method;
	const char *url;
	const unsigned char *body; /* complete body (POST), may be NULL */
	size_t body_len;
	const struct kc_token *token; /* the valid token the request carried (owned by
				       * the request), NULL when none was checked */
	const char *client; /* with --tls-client-ca: the verified subject DN of the
			     * client's certificate (owned by the request), else NULL */
	unsigned nparams; /* path parameters of the route (kc_req_param) */
	char param_names[KC_ROUTE_PARAMS][16];
	const char *params[KC_ROUTE_PARAMS];
	void *ctx; /* the HTTP layer's per-request state (http.c) */
};

int kc_server_start(struct kc_server *srv, const struct kc_server_opts *o,
		    struct kc_err *err) KC_MUST_CHECK;
void kc_server_stop(struct kc_server *srv);

/* Responses. All return the MHD result of queueing. kc_respond_json takes
 * ownership of j. Every response carries X-Kcov-Wire (srv->wire_header), so
 * a collector learns which report versions it may send from any answer. */
enum MHD_Result kc_respond_json(struct kc_req *r, unsigned status, json_t *j);
/* The same with one more header (hdr: value), e.g. Location. */
enum MHD_Result kc_respond_json_hdr(struct kc_req *r, unsigned status, json_t *j,
				    const char *hdr, const char *value);
enum MHD_Result kc_respond_text(struct kc_req *r, unsigned status, const char *type,
				const char *data, size_t len);

/* Error answers: the status is kc_errc_status(code), the body
 * {"error": message, "code": kc_errc_name(code), "status": status}
 * (docs/api.md). kc_respond_error formats the message itself. */
enum MHD_Result kc_respond_err(struct kc_req *r, const struct kc_err *err);
enum MHD_Result kc_respond_error(struct kc_req *r, enum kc_errc code, const char *fmt, ...)
	KC_PRINTF(3, 4);

/* The JSON error object of err (new reference, NULL when out of memory),
 * for answers that add fields to it. Bytes of the message that JSON cannot
 * carry are replaced by '?'. */
json_t *kc_error_json(const struct kc_err *err);

/* Query parameter, or NULL. */
const char *kc_req_arg(struct kc_req *r, const char *name);

/* A path parameter of the matched route ("build", "path"), or NULL when the
 * route's pattern has none of that name. Owned by the request. */
const char *kc_req_param(const struct kc_req *r, const char *name);

/* Deferred answers: a handler that waits for something slow (ingest: its
 * group commit) parks the request instead of blocking a worker thread.
 * kc_req_defer suspends r's connection and returns a handle; state is then
 * owned by the request. Once kc_req_resume(handle) is called (any thread,
 * exactly once) finish(r, state) runs on a worker thread and answers;
 * release(state) runs when the request ends. The handler returns MHD_YES
 * right after kc_req_defer and starts the work that resumes only after
 * it. Returns NULL when the server is stopping: the caller keeps state and
 * answers synchronously. */
struct kc_defer;
typedef enum MHD_Result (*kc_finish_fn)(struct kc_req *r, void *state);
struct kc_defer *kc_req_defer(struct kc_req *r, void *state, kc_finish_fn finish,
			      void (*release)(void *state));
void kc_req_resume(struct kc_defer *d);

/* Borrow a read-only connection; give it back with kc_db_put. */
struct kc_sql *kc_db_get(struct kc_server *srv, struct kc_err *err);
void kc_db_put(struct kc_server *srv, struct kc_sql *db);

#endif

/*
 * server.h - kcovd's shared state and the HTTP plumbing every API module
 * uses: the request context, JSON and error responses, read connections.
 */
#ifndef KC_SERVER_H
#define KC_SERVER_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "auth.h"
#include "err.h"
#include "store.h"

#define KC_READ_POOL 16

/* Counters exported at /metrics. */
struct kc_metrics {
	atomic_ullong reports_accepted, reports_duplicate, maps_accepted;
	atomic_ullong rejected_auth, rejected_decode, rejected_too_large, rejected_type,
		rejected_no_map, rejected_store, rejected_other;
	atomic_ullong pcs_ingested, pcs_unknown;
	atomic_ullong http_requests;
	atomic_ullong runs[2], runs_overflowed[2]; /* [0] unique, [1] trace */
	atomic_ullong reports_wire[KC_WIRE_VERSION_MAX]; /* stored, by frame version - 1 */
};

struct kc_server_opts {
	const char *listen_addr; /* default 127.0.0.1 */
	uint16_t port;           /* 0 = any free port */
	const char *db_path;
	const char *web_dir;     /* static files for the browser UI, may be NULL */
	int read_auth;           /* reads need a read token */
	unsigned max_connections; /* default 4096 */
	unsigned threads;         /* HTTP worker threads, default 32: ingest handlers wait for their group commit, so more of them make bigger batches */
	unsigned timeout_s;      /* idle connection timeout */
	unsigned max_db_mb;      /* database size cap in MiB (PRAGMA max_page_count), 0 = none */
	unsigned wire_max;       /* newest REPORT wire version accepted (--wire-max), 0 = KC_WIRE_VERSION_MAX */
};

struct kc_server {
	struct kc_server_opts opts; /* opts.wire_max is resolved (1..KC_WIRE_VERSION_MAX) */
	char wire_header[16];       /* X-Kcov-Wire value: the versions accepted, "1,2" */
	struct kc_store *store;
	struct MHD_Daemon *mhd;
	uint16_t port; /* actual port */
	struct kc_metrics metrics;
	pthread_mutex_t pool_lock;
	sqlite3 *pool[KC_READ_POOL];
	unsigned npool;
	double started;
};

/* One HTTP request as the API modules see it. */
struct kc_req {
	struct kc_server *srv;
	struct MHD_Connection *conn;
	const char *method;
	const char *url;
	const unsigned char *body; /* complete body (POST), may be NULL */
	size_t body_len;
};

int kc_server_start(struct kc_server *srv, const struct kc_server_opts *o,
		    struct kc_err *err) KC_MUST_CHECK;
void kc_server_stop(struct kc_server *srv);

/* Responses. All return the MHD result of queueing. kc_respond_json takes
 * ownership of j. Every response carries X-Kcov-Wire (srv->wire_header), so
 * a collector learns which report versions it may send from any answer. */
enum MHD_Result kc_respond_json(struct kc_req *r, unsigned status, json_t *j);
enum MHD_Result kc_respond_error(struct kc_req *r, unsigned status, const char *fmt, ...)
	KC_PRINTF(3, 4);
enum MHD_Result kc_respond_text(struct kc_req *r, unsigned status, const char *type,
				const char *data, size_t len);

/* Query parameter, or NULL. */
const char *kc_req_arg(struct kc_req *r, const char *name);

/* Does the request carry a token of (at least) this scope? */
int kc_req_authorized(struct kc_req *r, enum kc_scope need);

/* Borrow a read-only connection; give it back with kc_db_put. */
sqlite3 *kc_db_get(struct kc_server *srv, struct kc_err *err);
void kc_db_put(struct kc_server *srv, sqlite3 *db);

/* API modules. */
enum MHD_Result kc_api_post_report(struct kc_req *r);
enum MHD_Result kc_api_post_boot(struct kc_req *r);
/* Returns MHD_NO with *handled = 0 when the URL is not its own. */
enum MHD_Result kc_api_read(struct kc_req *r, int *handled);

/* Coverage queries of a build (api_coverage.c): /api/v1/builds/{build}/...
 * Returns with *handled = 0 when the URL is not its own. */
enum MHD_Result kc_api_coverage(struct kc_req *r, int *handled);
/* POST /api/v1/builds (admin): import a build (api_coverage.c). */
enum MHD_Result kc_api_post_build(struct kc_req *r);
/* Static files of the browser UI under opts.web_dir (static.c). */
enum MHD_Result kc_api_static(struct kc_req *r, int *handled);

/* Hex rendering of an address for JSON ("0xffffffff81000000"). */
json_t *kc_json_addr(uint64_t a);

#endif

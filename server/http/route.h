/*
 * route.h - what a route is and how a request is matched against a route
 * table. A route is (method, path pattern) plus what the HTTP layer checks
 * before reading a single body byte (token scope, Content-Type, largest
 * body) and its handler. http.c looks the request up on its first call
 * and refuses it at once when the path is unknown (404), the method is not
 * one the path has (405 with Allow), the token is missing or too weak
 * (401), the Content-Type is not the route's (415) or the declared body is
 * larger than the route takes (413). Only then is the body read and the
 * handler called. The table itself belongs to the API layer
 * (api/routes.c) and reaches http.c through struct kc_server_opts.
 *
 * Patterns are literal segments and parameters: "{name}" is exactly one
 * non-empty segment, "{name*}" (last only) is the rest of the path, which
 * may be empty or hold '/'. A parameter called "build" must be a build id
 * (1 to KC_BUILD_ID_MAX lowercase hex digits), otherwise the request is
 * refused with 400 before its handler runs. Paths under /api/ only match
 * patterns under /api/: an unknown API path is 404, never a static file.
 */
#ifndef KC_ROUTE_H
#define KC_ROUTE_H

#include <stddef.h>

#include "auth.h"
#include "err.h"
#include "server.h"

#define KC_ROUTE_MAX_PARAMS KC_ROUTE_PARAMS

typedef enum MHD_Result (*kc_handler)(struct kc_req *r);

struct kc_route {
	const char *method;       /* "GET" (which also answers HEAD), "POST" or "DELETE" */
	const char *pattern;      /* e.g. "/api/v1/builds/{build}/files/{path*}" */
	enum kc_scope scope;      /* KC_SCOPE_NONE: anyone; KC_SCOPE_READ: only with
				   * --read-auth; PUSH, ADMIN: always */
	const char *content_type; /* required Content-Type (its media type), NULL: any */
	size_t max_body;          /* largest body accepted in bytes, 0: none */
	kc_handler handler;
};

/* The parameters of a matched route; names and values point into the
 * route's pattern and the request path (not NUL-terminated). */
struct kc_route_match {
	const struct kc_route *route;
	unsigned nparams;
	struct {
		const char *name, *value;
		size_t name_len, value_len;
	} p[KC_ROUTE_MAX_PARAMS];
};

/* Find the route of (method, path) in table (ended by an entry whose
 * pattern is NULL); HEAD is looked up as GET. On success
 * fills *m and returns 0. Otherwise returns -1 with err set:
 * KC_E_NOT_FOUND when no pattern matches path, KC_E_METHOD_NOT_ALLOWED
 * when patterns match but none has method (allow, of allow_size bytes,
 * then receives the methods they have, e.g. "GET, HEAD, POST"), and
 * KC_E_BAD_INPUT when a {build} parameter is not a build id. */
int kc_route_lookup(const struct kc_route *table, const char *method, const char *path,
		    struct kc_route_match *m, char *allow, size_t allow_size,
		    struct kc_err *err) KC_MUST_CHECK;

#endif

/*
 * routes.c - the route table (the one place that names request handlers,
 * like git's commands[]). Each entry says who may call the route, what it
 * accepts and which handler answers; http/http.c looks requests up in it
 * (http/route.c) and applies the requirements before any body byte is
 * read. docs/api.md documents every
 * route; docs/architecture.md how a request travels.
 */
#include "routes.h"

#include "api.h"
#include "wire.h"

#define KCOV "application/x-kcov"
#define JSON "application/json"
#define BUILD_IMPORT_MAX_BODY (64u << 10)
#define ADMIN_MAX_BODY 1024

/* In lookup order: the first route whose pattern and method match wins.
 * The static files' catch-all comes last. */
const struct kc_route kc_routes[] = {
	{ "GET", "/healthz", KC_SCOPE_NONE, NULL, 0, kc_api_healthz },
	{ "GET", "/metrics", KC_SCOPE_NONE, NULL, 0, kc_api_metrics },
	{ "POST", "/api/v1/reports", KC_SCOPE_PUSH, KCOV, KC_WIRE_MAX_BODY, kc_api_post_report },
	{ "POST", "/api/v1/boots", KC_SCOPE_PUSH, KCOV, KC_WIRE_MAX_BODY, kc_api_post_boot },
	{ "POST", "/api/v1/builds", KC_SCOPE_ADMIN, JSON, BUILD_IMPORT_MAX_BODY, kc_api_post_build },
	{ "GET", "/api/v1/machines", KC_SCOPE_READ, NULL, 0, kc_api_machines },
	{ "GET", "/api/v1/builds", KC_SCOPE_READ, NULL, 0, kc_api_builds },
	{ "GET", "/api/v1/reports", KC_SCOPE_READ, NULL, 0, kc_api_reports },
	{ "GET", "/api/v1/labels", KC_SCOPE_READ, NULL, 0, kc_api_labels },
	{ "GET", "/api/v1/stats/overflow", KC_SCOPE_READ, NULL, 0, kc_api_overflow },
	{ "GET", "/api/v1/audit", KC_SCOPE_ADMIN, NULL, 0, kc_api_audit },
	{ "GET", "/api/v1/jobs/{job}", KC_SCOPE_ADMIN, NULL, 0, kc_api_job },
	{ "POST", "/api/v1/admin/gc", KC_SCOPE_ADMIN, JSON, ADMIN_MAX_BODY, kc_api_gc },
	{ "DELETE", "/api/v1/builds/{build}", KC_SCOPE_ADMIN, NULL, 0, kc_api_delete_build },
	{ "GET", "/api/v1/builds/{build}/pcs", KC_SCOPE_READ, NULL, 0, kc_api_pcs },
	{ "GET", "/api/v1/builds/{build}/tree", KC_SCOPE_READ, NULL, 0, kc_api_tree },
	{ "GET", "/api/v1/builds/{build}/files/{path*}", KC_SCOPE_READ, NULL, 0, kc_api_file },
	{ "GET", "/api/v1/builds/{build}/functions", KC_SCOPE_READ, NULL, 0, kc_api_functions },
	{ "GET", "/api/v1/builds/{build}/labels", KC_SCOPE_READ, NULL, 0, kc_api_build_labels },
	{ "GET", "/api/v1/builds/{build}/lcov", KC_SCOPE_READ, NULL, 0, kc_api_lcov },
	{ "GET", "/api/v1/builds/{build}/files.csv", KC_SCOPE_READ, NULL, 0, kc_api_files_csv },
	{ "GET", "/api/v1/builds/{build}/functions.csv", KC_SCOPE_READ, NULL, 0,
	  kc_api_functions_csv },
	{ "GET", "/api/v1/builds/{build}/subsystems", KC_SCOPE_READ, NULL, 0, kc_api_subsystems },
	{ "GET", "/api/v1/builds/{build}/summary", KC_SCOPE_READ, NULL, 0, kc_api_summary },
	{ "GET", "/api/v1/history", KC_SCOPE_READ, NULL, 0, kc_api_history },
	{ "GET", "/api/v1/builds/{build}/patch", KC_SCOPE_READ, NULL, 0, kc_api_patch },
	{ "GET", "/api/v1/builds/{build}/commits", KC_SCOPE_READ, NULL, 0, kc_api_commits },
	{ "GET", "/{file*}", KC_SCOPE_NONE, NULL, 0, kc_api_static },
	{ NULL, NULL, KC_SCOPE_NONE, NULL, 0, NULL },
};

/*
 * route.c - matching a request against a route table: literal segments,
 * "{name}" and "{name*}" parameters, the build-id check of {build}, and
 * the Allow list of a path whose pattern has other methods. The table
 * itself is the API layer's (api/routes.c); http.c gets it through
 * struct kc_server_opts, so this layer names no handler.
 */
#include "route.h"

#include <stdio.h>
#include <string.h>

#include "parse.h"
#include "wire.h"

static int is_api(const char *path)
{
	return strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0;
}

/* Does path match pattern? Records the parameters in *m. */
static int match(const char *pattern, const char *path, struct kc_route_match *m)
{
	const char *p = pattern, *s = path;

	m->nparams = 0;
	if (is_api(path) && !is_api(pattern))
		return 0;
	while (*p) {
		if (*p == '{') {
			const char *close = strchr(p, '}');
			int rest = close && close > p + 1 && close[-1] == '*';
			size_t n;

			if (!close || m->nparams == KC_ROUTE_MAX_PARAMS)
				return 0;
			n = rest ? strlen(s) : strcspn(s, "/");
			if (n == 0 && !rest)
				return 0;
			m->p[m->nparams].name = p + 1;
			m->p[m->nparams].name_len = (size_t)(close - p - 1 - rest);
			m->p[m->nparams].value = s;
			m->p[m->nparams].value_len = n;
			m->nparams++;
			p = close + 1;
			s += n;
			continue;
		}
		if (*p != *s)
			return 0;
		p++;
		s++;
	}
	return *s == '\0';
}

static int check_params(const struct kc_route_match *m, struct kc_err *err)
{
	for (unsigned i = 0; i < m->nparams; i++)
		if (m->p[i].name_len == 5 && strncmp(m->p[i].name, "build", 5) == 0 &&
		    !kc_build_id_valid(m->p[i].value, m->p[i].value_len, KC_BUILD_ID_MAX))
			return kc_err_set(err, KC_E_BAD_INPUT,
					  "a build id is 1 to %d lowercase hex digits", KC_BUILD_ID_MAX);
	return 0;
}

/* Append method (and HEAD after GET) to the Allow list unless present. */
static void allow_add(char *allow, size_t size, const char *method)
{
	const char *names[2] = { method, strcmp(method, "GET") == 0 ? "HEAD" : NULL };

	for (int i = 0; i < 2 && names[i]; i++) {
		size_t len = strlen(allow);

		if (strstr(allow, names[i]))
			continue;
		snprintf(allow + len, size - len, "%s%s", len ? ", " : "", names[i]);
	}
}

int kc_route_lookup(const struct kc_route *table, const char *method, const char *path,
		    struct kc_route_match *m, char *allow, size_t allow_size, struct kc_err *err)
{
	const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
	struct kc_route_match cand;
	int known = 0;

	if (allow_size)
		allow[0] = '\0';
	for (const struct kc_route *rt = table; rt->pattern; rt++) {
		if (!match(rt->pattern, path, &cand))
			continue;
		known = 1;
		if (strcmp(rt->method, want) != 0) {
			if (allow_size)
				allow_add(allow, allow_size, rt->method);
			continue;
		}
		cand.route = rt;
		if (check_params(&cand, err) < 0)
			return -1;
		*m = cand;
		return 0;
	}
	if (known)
		return kc_err_set(err, KC_E_METHOD_NOT_ALLOWED, "%s is not allowed on %s (allowed: %s)",
				  method, path, allow_size ? allow : "");
	return kc_err_set(err, KC_E_NOT_FOUND, "no such resource: %s", path);
}

/*
 * test_routes.c - the route table's lookup (the table of
 * server/api/routes.c, matched by server/http/route.c): literal and
 * parameter segments, HEAD as GET, 404 for unknown paths whatever the
 * method, 405 with the Allow list, {build} validation, the API/static
 * split, and that every entry is complete.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api.h"
#include "routes.h"
#include "wire.h"

static const struct kc_route *find(const char *method, const char *path, struct kc_route_match *m,
				   char *allow, size_t size, struct kc_err *err)
{
	kc_err_clear(err);
	return kc_route_lookup(kc_routes, method, path, m, allow, size, err) == 0 ? m->route : NULL;
}

static void test_found(void **state)
{
	struct kc_route_match m;
	struct kc_err err;
	char allow[64];

	(void)state;
	assert_ptr_equal(find("POST", "/api/v1/reports", &m, allow, sizeof(allow), &err)->handler,
			 kc_api_post_report);
	assert_ptr_equal(find("GET", "/api/v1/reports", &m, allow, sizeof(allow), &err)->handler,
			 kc_api_reports);
	assert_ptr_equal(find("HEAD", "/healthz", &m, allow, sizeof(allow), &err)->handler,
			 kc_api_healthz);
	assert_ptr_equal(find("GET", "/api/v1/builds/00ff/files/kernel/a/b.c", &m, allow,
			      sizeof(allow), &err)->handler, kc_api_file);
	assert_int_equal(m.nparams, 2);
	assert_int_equal(m.p[0].name_len, 5);
	assert_memory_equal(m.p[0].name, "build", 5);
	assert_int_equal(m.p[0].value_len, 4);
	assert_memory_equal(m.p[0].value, "00ff", 4);
	assert_int_equal(m.p[1].name_len, 4);
	assert_memory_equal(m.p[1].name, "path", 4);
	assert_int_equal(m.p[1].value_len, strlen("kernel/a/b.c"));
	assert_memory_equal(m.p[1].value, "kernel/a/b.c", m.p[1].value_len);
	assert_ptr_equal(find("GET", "/api/v1/builds/ab/files.csv", &m, allow, sizeof(allow), &err)
				 ->handler, kc_api_files_csv);
	/* Everything outside /api/ is a static file of the UI. */
	assert_ptr_equal(find("GET", "/", &m, allow, sizeof(allow), &err)->handler, kc_api_static);
	assert_ptr_equal(find("GET", "/report", &m, allow, sizeof(allow), &err)->handler,
			 kc_api_static);
	assert_ptr_equal(find("GET", "/static/app.js", &m, allow, sizeof(allow), &err)->handler,
			 kc_api_static);
}

static void test_refused(void **state)
{
	static const char *const unknown[] = { "/api/v1/nothing", "/api", "/api/", "/api/v1/builds/ab/x",
					       "/api/v1/builds/ab/tree/x", "/api/v1/reportsx",
					       "/healthz/x" };
	static const char *const methods[] = { "GET", "POST", "DELETE", "PUT", "HEAD" };
	struct kc_route_match m;
	struct kc_err err;
	char allow[64];

	(void)state;
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		for (size_t j = 0; j < sizeof(methods) / sizeof(methods[0]); j++) {
			if (strcmp(unknown[i], "/healthz/x") == 0 &&
			    (strcmp(methods[j], "GET") == 0 || strcmp(methods[j], "HEAD") == 0))
				continue; /* a static file path */
			assert_null(find(methods[j], unknown[i], &m, allow, sizeof(allow), &err));
			if (strcmp(unknown[i], "/healthz/x") != 0)
				assert_int_equal(err.code, KC_E_NOT_FOUND);
		}
	assert_null(find("DELETE", "/api/v1/reports", &m, allow, sizeof(allow), &err));
	assert_int_equal(err.code, KC_E_METHOD_NOT_ALLOWED);
	assert_string_equal(allow, "POST, GET, HEAD");
	/* A build: DELETE only (its data is under /api/v1/builds/{build}/...). */
	assert_non_null(find("DELETE", "/api/v1/builds/ab", &m, allow, sizeof(allow), &err));
	assert_null(find("GET", "/api/v1/builds/ab", &m, allow, sizeof(allow), &err));
	assert_int_equal(err.code, KC_E_METHOD_NOT_ALLOWED);
	assert_string_equal(allow, "DELETE");
	assert_null(find("GET", "/api/v1/boots", &m, allow, sizeof(allow), &err));
	assert_int_equal(err.code, KC_E_METHOD_NOT_ALLOWED);
	assert_string_equal(allow, "POST");
	assert_null(find("POST", "/healthz", &m, allow, sizeof(allow), &err));
	assert_string_equal(allow, "GET, HEAD");
	assert_null(find("POST", "/index.html", &m, allow, sizeof(allow), &err));
	assert_int_equal(err.code, KC_E_METHOD_NOT_ALLOWED);
	/* {build} must be 1..KC_BUILD_ID_MAX lowercase hex digits. */
	assert_null(find("GET", "/api/v1/builds/XYZ/tree", &m, allow, sizeof(allow), &err));
	assert_int_equal(err.code, KC_E_BAD_INPUT);
	assert_null(find("GET", "/api/v1/builds/ABCD/pcs", &m, allow, sizeof(allow), &err));
	assert_int_equal(err.code, KC_E_BAD_INPUT);
	{
		char hex[KC_BUILD_ID_MAX + 2], path[sizeof(hex) + 32];

		memset(hex, 'a', sizeof(hex) - 1);
		hex[sizeof(hex) - 1] = '\0';
		snprintf(path, sizeof(path), "/api/v1/builds/%s/pcs", hex); /* one digit too many */
		assert_null(find("GET", path, &m, allow, sizeof(allow), &err));
		assert_int_equal(err.code, KC_E_BAD_INPUT);
		snprintf(path, sizeof(path), "/api/v1/builds/%.*s/pcs", KC_BUILD_ID_MAX, hex);
		assert_non_null(find("GET", path, &m, allow, sizeof(allow), &err));
	}
}

static void test_table(void **state)
{
	(void)state;
	for (const struct kc_route *rt = kc_routes; rt->pattern; rt++) {
		assert_non_null(rt->handler);
		assert_true(strcmp(rt->method, "GET") == 0 || strcmp(rt->method, "POST") == 0 ||
			    strcmp(rt->method, "DELETE") == 0);
		/* Bodies only where a Content-Type says what they are. */
		assert_true((rt->max_body == 0) == (rt->content_type == NULL));
		/* Push and admin routes write; the admin reads are the audit
		 * of admin actions and the jobs admins started. */
		if (rt->scope == KC_SCOPE_PUSH)
			assert_string_equal(rt->method, "POST");
		if (rt->scope == KC_SCOPE_ADMIN && strcmp(rt->pattern, "/api/v1/audit") != 0 &&
		    strcmp(rt->pattern, "/api/v1/jobs/{job}") != 0)
			assert_string_not_equal(rt->method, "GET");
		/* Only admins delete. */
		if (strcmp(rt->method, "DELETE") == 0)
			assert_int_equal(rt->scope, KC_SCOPE_ADMIN);
		if (strcmp(rt->pattern, "/api/v1/audit") == 0 ||
		    strcmp(rt->pattern, "/api/v1/jobs/{job}") == 0)
			assert_int_equal(rt->scope, KC_SCOPE_ADMIN);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_found),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

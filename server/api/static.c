/*
 * static.c - serves the browser UI's files (HTML, JavaScript, CSS, the
 * vendored Chart.js) from the web directory given with --web-dir, for GET
 * and HEAD of every path outside /api/. "/" is index.html; a path whose last
 * segment has no extension and names no file is one of the single-page
 * app's routes (/report, /file, /machines, ...) and also gets index.html, so
 * deep links work when opened directly. Requests never leave the web
 * directory: segments starting with a dot ("..", ".", hidden files),
 * backslashes and empty segments are refused with 400, and the resolved path (realpath, so symlinks are
 * followed) must lie under the resolved web directory, otherwise 404. Only
 * regular files up to KC_STATIC_MAX bytes are served, read with open/read.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "path.h"

#define KC_STATIC_MAX (8u << 20)

struct ctype {
	const char *ext;
	const char *type;
};

static const struct ctype ctypes[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "json", "application/json" },
	{ "map", "application/json" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "ico", "image/x-icon" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "md", "text/plain; charset=utf-8" },
	{ "woff2", "font/woff2" },
};

/* The extension of the last segment of path (without the dot), or NULL. */
static const char *extension(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash ? slash : path, '.');

	return dot && dot[1] ? dot + 1 : NULL;
}

static const char *content_type(const char *path)
{
	const char *ext = extension(path);

	if (ext)
		for (size_t i = 0; i < sizeof(ctypes) / sizeof(ctypes[0]); i++)
			if (strcmp(ext, ctypes[i].ext) == 0)
				return ctypes[i].type;
	return "application/octet-stream";
}

/* 0 when every segment of url (which starts with '/') is a plain name
 * (kc_path_safe: no empty, ".", ".." or hidden segment; a trailing slash
 * is fine) and it holds no backslash. */
static int bad_path(const char *url)
{
	return url[0] != '/' || strchr(url, '\\') ||
	       !kc_path_safe(url + 1, KC_PATH_DIR | KC_PATH_NO_HIDDEN);
}

/* Read a whole regular file of at most KC_STATIC_MAX bytes. Returns
 * KC_E_NONE, KC_E_NOT_FOUND (not a file) or KC_E_INTERNAL (too large or
 * unreadable). */
static enum kc_errc read_file(const char *path, char **data, size_t *len)
{
	struct stat st;
	size_t got = 0;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW); /* path is a realpath */

	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? KC_E_NOT_FOUND
									       : KC_E_INTERNAL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return KC_E_NOT_FOUND;
	}
	if ((unsigned long long)st.st_size > KC_STATIC_MAX) {
		close(fd);
		return KC_E_INTERNAL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return KC_E_INTERNAL;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != (size_t)st.st_size) {
		free(buf);
		return KC_E_INTERNAL;
	}
	*data = buf;
	*len = got;
	return KC_E_NONE;
}

/* Resolve rel (relative, no leading '/') under root (a realpath). Returns
 * KC_E_NONE with the real path in out, KC_E_NOT_FOUND when missing,
 * KC_E_FORBIDDEN when it leads outside root, KC_E_INTERNAL on errors. */
static enum kc_errc resolve(const char *root, const char *rel, char *out)
{
	char joined[PATH_MAX];
	size_t rootlen = strlen(root);
	int n = snprintf(joined, sizeof(joined), "%s/%s", root, rel);

	if (n < 0 || (size_t)n >= sizeof(joined))
		return KC_E_NOT_FOUND;
	if (!realpath(joined, out))
		return errno == ENOENT || errno == ENOTDIR || errno == ENAMETOOLONG ? KC_E_NOT_FOUND
										    : KC_E_INTERNAL;
	if (strncmp(out, root, rootlen) != 0 || (out[rootlen] != '/' && out[rootlen] != '\0'))
		return KC_E_FORBIDDEN; /* a symlink that leads out of the web directory */
	return KC_E_NONE;
}

static enum MHD_Result send_file(struct kc_req *r, const char *path, char *data, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	const char *type = content_type(path);

	resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(data);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (strncmp(type, "text/html", 9) == 0) {
		MHD_add_response_header(resp, "Content-Security-Policy",
					"default-src 'self'; img-src 'self' data:; "
					"style-src 'self' 'unsafe-inline'; object-src 'none'; "
					"base-uri 'none'; frame-ancestors 'none'");
		MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	}
	ret = MHD_queue_response(r->conn, 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result serve(struct kc_req *r, const char *root)
{
	char real[PATH_MAX];
	const char *rel = r->url + 1;
	const char *name = strrchr(r->url, '/') + 1;
	char *data = NULL;
	size_t len = 0;
	enum kc_errc st;

	if (*rel == '\0')
		rel = "index.html";
	st = resolve(root, rel, real);
	if (st == KC_E_NONE)
		st = read_file(real, &data, &len);
	/* An app route: no extension in the last segment, no such file. */
	if (st == KC_E_NOT_FOUND && !strchr(name, '.')) {
		st = resolve(root, "index.html", real);
		if (st == KC_E_NONE)
			st = read_file(real, &data, &len);
	}
	if (st == KC_E_NOT_FOUND || st == KC_E_FORBIDDEN) /* outside: like a missing file */
		return kc_respond_error(r, KC_E_NOT_FOUND, "no such file: %s", r->url);
	if (st != KC_E_NONE)
		return kc_respond_error(r, KC_E_INTERNAL,
					"cannot serve %s (unreadable or over %u bytes)",
					r->url, KC_STATIC_MAX);
	return send_file(r, real, data, len);
}

enum MHD_Result kc_api_static(struct kc_req *r)
{
	char root[PATH_MAX];

	if (!r->srv->opts.web_dir)
		return kc_respond_error(r, KC_E_NOT_FOUND, "no such resource: %s", r->url);
	if (bad_path(r->url))
		return kc_respond_error(r, KC_E_BAD_INPUT, "bad path: %s", r->url);
	if (!realpath(r->srv->opts.web_dir, root))
		return kc_respond_error(r, KC_E_NOT_FOUND, "the web directory is not available");
	return serve(r, root);
}

/*
 * spool.c - the collector's on-disk outbox: reports and address maps are
 * made durable here before any network traffic, listed oldest first for
 * delivery, and removed only once acknowledged. File names carry the
 * creation time (for ordering), the boot id (to find the boot's address
 * map) and the upload id (which makes re-sends idempotent on the server).
 */
#include "grow.h"
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"

/* Boot ids become part of file names: allow only [0-9A-Za-z-]. */
static int safe_id(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z') || *s == '-'))
			return 0;
	return 1;
}

int kc_spool_open(struct kc_spool *s, const char *dir, struct kc_err *err)
{
	char rej[PATH_MAX];

	if (snprintf(s->dir, sizeof(s->dir), "%s", dir) >= (int)sizeof(s->dir))
		return kc_err_set(err, KC_E_IO, "%s: spool path too long", dir);
	if (snprintf(rej, sizeof(rej), "%s/rejected", s->dir) >= (int)sizeof(rej))
		return kc_err_set(err, KC_E_IO, "%s: spool path too long", dir);
	return kc_mkdirs(rej, err);
}

/* The path of boot_id's map (suffix "kcov") or unsent mark ("unsent"). */
static int boot_path(const struct kc_spool *s, const char *boot_id, const char *suffix,
		     char *path, size_t size, struct kc_err *err)
{
	if (!safe_id(boot_id))
		return kc_err_set(err, KC_E_IO,
				  "boot id '%s' has characters other than [0-9A-Za-z-]",
				  boot_id);
	if (snprintf(path, size, "%s/m.%s.%s", s->dir, boot_id, suffix) >= (int)size)
		return kc_err_set(err, KC_E_IO, "%s: spool path too long", s->dir);
	return 0;
}

static int map_path(const struct kc_spool *s, const char *boot_id, char *path, size_t size,
		    struct kc_err *err)
{
	return boot_path(s, boot_id, "kcov", path, size, err);
}

int kc_spool_has_map(const struct kc_spool *s, const char *boot_id)
{
	char path[PATH_MAX];

	return map_path(s, boot_id, path, sizeof(path), NULL) == 0 && access(path, F_OK) == 0;
}

int kc_spool_put_map(const struct kc_spool *s, const struct kc_addrmap *m, struct kc_err *err)
{
	struct kc_buf b = KC_BUF_INIT;
	char path[PATH_MAX];
	int ret = -1;

	if (map_path(s, m->boot_id, path, sizeof(path), err) < 0 ||
	    kc_wire_encode_addrmap(m, &b, err) < 0)
		goto out;
	ret = kc_write_file_atomic(path, b.data, b.len, err);
out:
	kc_buf_release(&b);
	return ret;
}

int kc_spool_update_map(const struct kc_spool *s, const struct kc_addrmap *m, struct kc_err *err)
{
	char path[PATH_MAX];

	if (boot_path(s, m->boot_id, "unsent", path, sizeof(path), err) < 0 ||
	    kc_write_file_atomic(path, "", 0, err) < 0)
		return -1;
	return kc_spool_put_map(s, m, err);
}

int kc_spool_map_unsent(const struct kc_spool *s, const char *boot_id)
{
	char path[PATH_MAX];

	return boot_path(s, boot_id, "unsent", path, sizeof(path), NULL) == 0 &&
	       access(path, F_OK) == 0;
}

int kc_spool_map_sent(const struct kc_spool *s, const char *boot_id, struct kc_err *err)
{
	char name[KC_BOOT_ID_MAX + 16];

	if (!safe_id(boot_id))
		return kc_err_set(err, KC_E_IO,
				  "boot id '%s' has characters other than [0-9A-Za-z-]",
				  boot_id);
	snprintf(name, sizeof(name), "m.%s.unsent", boot_id);
	return kc_spool_remove(s, name, err);
}

int kc_spool_read_map(const struct kc_spool *s, const char *boot_id, struct kc_buf *out,
		      struct kc_err *err)
{
	char path[PATH_MAX];

	if (map_path(s, boot_id, path, sizeof(path), err) < 0)
		return -1;
	return kc_read_file(path, KC_WIRE_MAX_BODY, out, err);
}

int kc_spool_put_report(const struct kc_spool *s, const struct kc_report *r, struct kc_err *err)
{
	struct kc_buf b = KC_BUF_INIT;
	char path[PATH_MAX], id[2 * KC_UPLOAD_ID_LEN + 1];
	struct timespec ts;
	int ret = -1;

	if (!safe_id(r->boot_id)) {
		kc_err_set(err, KC_E_IO,
			   "boot id '%s' has characters other than [0-9A-Za-z-]", r->boot_id);
		goto out;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	kc_upload_id_hex(r->upload_id, id);
	if (snprintf(path, sizeof(path), "%s/r.%010lld%09ld.%s.%s.kcov", s->dir,
		     (long long)ts.tv_sec, ts.tv_nsec, r->boot_id, id) >= (int)sizeof(path)) {
		kc_err_set(err, KC_E_IO, "%s: spool path too long", s->dir);
		goto out;
	}
	if (kc_wire_encode_report(r, &b, err) < 0)
		goto out;
	ret = kc_write_file_atomic(path, b.data, b.len, err);
out:
	kc_buf_release(&b);
	return ret;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void kc_spool_list_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int kc_spool_list(const struct kc_spool *s, char ***names_out, size_t *n_out, struct kc_err *err)
{
	DIR *d = opendir(s->dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int ret = -1;

	if (!d)
		return kc_err_errno(err, errno, "%s: %s", s->dir, strerror(errno));
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (strncmp(e->d_name, "r.", 2) != 0 || len < 7 ||
		    strcmp(e->d_name + len - 5, ".kcov") != 0)
			continue;
		if (KC_GROW(names, cap, n + 1) < 0 || !(names[n] = strdup(e->d_name))) {
			kc_err_set(err, KC_E_INTERNAL, "out of memory");
			goto out;
		}
		n++;
	}
	if (n > 1) /* qsort(NULL, 0, ...) is undefined (UBSan stops the push) */
		qsort(names, n, sizeof(*names), cmp_names);
	*names_out = names;
	*n_out = n;
	names = NULL;
	ret = 0;
out:
	if (names)
		kc_spool_list_free(names, n);
	closedir(d);
	return ret;
}

int kc_spool_boot_of(const char *name, char *boot_id, size_t size)
{
	/* r.TIME.BOOTID.UPLOADID.kcov */
	const char *a = strchr(name, '.'), *b, *c;

	if (!a || !(b = strchr(a + 1, '.')) || !(c = strchr(b + 1, '.')))
		return -1;
	if ((size_t)(c - b - 1) >= size)
		return -1;
	memcpy(boot_id, b + 1, (size_t)(c - b - 1));
	boot_id[c - b - 1] = '\0';
	return safe_id(boot_id) ? 0 : -1;
}

int kc_spool_read(const struct kc_spool *s, const char *name, struct kc_buf *out,
		  struct kc_err *err)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", s->dir, name);
	return kc_read_file(path, KC_WIRE_MAX_BODY, out, err);
}

int kc_spool_remove(const struct kc_spool *s, const char *name, struct kc_err *err)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", s->dir, name);
	if (unlink(path) < 0 && errno != ENOENT)
		return kc_err_errno(err, errno, "unlink %s: %s", path, strerror(errno));
	return kc_fsync_dir(s->dir, err);
}

int kc_spool_reject(const struct kc_spool *s, const char *name, struct kc_err *err)
{
	char from[PATH_MAX], to[PATH_MAX];

	snprintf(from, sizeof(from), "%s/%s", s->dir, name);
	snprintf(to, sizeof(to), "%s/rejected/%s", s->dir, name);
	if (rename(from, to) < 0)
		return kc_err_errno(err, errno, "rename %s: %s", from, strerror(errno));
	return kc_fsync_dir(s->dir, err);
}

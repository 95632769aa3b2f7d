/*
 * fileio.c - whole-file reads with a size cap and crash-safe writes
 * (temp file + fsync + rename + directory fsync), used by the collector's
 * spool and the address-map capture, and the one helper that joins a
 * directory (a sysroot) and a relative path.
 */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int kc_path_join(char *out, size_t size, const char *dir, const char *rel, struct kc_err *err)
{
	size_t dn = strlen(dir);
	const char *sep;
	int n;

	while (dn > 1 && dir[dn - 1] == '/')
		dn--;
	while (*rel == '/')
		rel++;
	sep = dn == 0 || dir[dn - 1] == '/' || *rel == '\0' ? "" : "/";
	n = snprintf(out, size, "%.*s%s%s", (int)dn, dir, sep, rel);
	if (n < 0 || (size_t)n >= size)
		return kc_err_set(err, KC_E_BAD_INPUT, "%.*s%s%s: path too long", (int)dn, dir, sep, rel);
	return 0;
}

int kc_read_file(const char *path, size_t max, struct kc_buf *out, struct kc_err *err)
{
	int fd, ret = -1;
	size_t start = out->len;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kc_err_errno(err, errno, "%s: %s", path, strerror(errno));
	for (;;) {
		ssize_t n;

		if (kc_buf_grow(out, 65536) < 0) {
			kc_err_set(err, KC_E_IO, "%s: out of memory", path);
			goto out;
		}
		n = read(fd, out->data + out->len, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			kc_err_errno(err, errno, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		if (out->len - start > max) {
			kc_err_set(err, KC_E_IO, "%s: larger than the %zu-byte limit", path, max);
			goto out;
		}
	}
	out->data[out->len] = '\0';
	ret = 0;
out:
	if (ret < 0)
		out->len = start;
	close(fd);
	return ret;
}

static int dir_of(const char *path, char *dir, size_t size)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return snprintf(dir, size, ".") >= (int)size ? -1 : 0;
	if (slash == path)
		return snprintf(dir, size, "/") >= (int)size ? -1 : 0;
	return snprintf(dir, size, "%.*s", (int)(slash - path), path) >= (int)size ? -1 : 0;
}

int kc_fsync_dir(const char *dir, struct kc_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return kc_err_errno(err, errno, "%s: %s", dir, strerror(errno));
	if (fsync(fd) < 0)
		ret = kc_err_errno(err, errno, "fsync %s: %s", dir, strerror(errno));
	close(fd);
	return ret;
}

int kc_write_file_atomic(const char *path, const void *data, size_t len, struct kc_err *err)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	const unsigned char *p = data;
	int fd, ret = -1;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp) ||
	    dir_of(path, dir, sizeof(dir)) < 0)
		return kc_err_set(err, KC_E_IO, "%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return kc_err_errno(err, errno, "%s: %s", tmp, strerror(errno));
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			kc_err_errno(err, errno, "write %s: %s", tmp, strerror(errno));
			goto out;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0) {
		kc_err_errno(err, errno, "fsync %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		kc_err_errno(err, errno, "close %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		kc_err_errno(err, errno, "rename %s: %s", path, strerror(errno));
		goto out;
	}
	ret = kc_fsync_dir(dir, err);
out:
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		unlink(tmp);
	return ret;
}

int kc_mkdirs(const char *path, struct kc_err *err)
{
	char tmp[PATH_MAX];
	size_t n;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return kc_err_set(err, KC_E_IO, "%s: path too long", path);
	n = strlen(tmp);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return kc_err_errno(err, errno, "mkdir %s: %s", tmp, strerror(errno));
		if (i < n)
			tmp[i] = '/';
	}
	return 0;
}

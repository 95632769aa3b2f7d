/*
 * unpack.c - compressed kernel binaries (see unpack.h): magic-byte
 * detection and bounded in-memory decompression with liblzma, libzstd and
 * zlib into a memfd that libelf/libdwfl then read as a plain ELF file.
 */
#include "unpack.h"

#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "buf.h"
#include "fileio.h"

const char *const kc_unpack_suffixes[] = { ".xz", ".zst", ".gz", NULL };

size_t kc_unpack_suffix_len(const char *path)
{
	size_t n = strlen(path);

	for (size_t i = 0; kc_unpack_suffixes[i]; i++) {
		size_t s = strlen(kc_unpack_suffixes[i]);

		if (n > s && memcmp(path + n - s, kc_unpack_suffixes[i], s) == 0)
			return s;
	}
	return 0;
}

enum kind { PLAIN, XZ, ZSTD, GZIP };

static enum kind sniff(int fd)
{
	unsigned char m[6];
	ssize_t n = pread(fd, m, sizeof(m), 0);

	if (n >= 6 && memcmp(m, "\xfd" "7zXZ\0", 6) == 0)
		return XZ;
	if (n >= 4 && memcmp(m, "\x28\xb5\x2f\xfd", 4) == 0)
		return ZSTD;
	if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
		return GZIP;
	return PLAIN;
}

/* Decompressors: append the output to out (at most KC_UNPACK_OUT_MAX
 * bytes) and return 0, or -1 with a message. */

/* Room for the next output chunk (growing out as needed, never beyond
 * KC_UNPACK_OUT_MAX bytes in all); 0 with a message when there is none. */
static size_t out_room(struct kc_buf *out, const char *path, struct kc_err *err)
{
	size_t room;

	if (out->len >= KC_UNPACK_OUT_MAX) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: decompresses to more than %u MiB", path,
			   KC_UNPACK_OUT_MAX >> 20);
		return 0;
	}
	if (out->cap == out->len && kc_buf_grow(out, out->cap ? out->cap : (1u << 20)) < 0) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		return 0;
	}
	room = out->cap - out->len;
	return room < KC_UNPACK_OUT_MAX - out->len ? room : KC_UNPACK_OUT_MAX - out->len;
}

static int unxz(const struct kc_buf *in, struct kc_buf *out, const char *path,
		struct kc_err *err)
{
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret rc;
	int ret = -1;

	if (lzma_stream_decoder(&s, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
		return kc_err_set(err, KC_E_INTERNAL, "%s: lzma_stream_decoder failed", path);
	s.next_in = in->data;
	s.avail_in = in->len;
	do {
		size_t room = out_room(out, path, err);

		if (!room)
			goto out;
		s.next_out = out->data + out->len;
		s.avail_out = room;
		rc = lzma_code(&s, LZMA_FINISH);
		out->len += room - s.avail_out;
	} while (rc == LZMA_OK);
	if (rc != LZMA_STREAM_END) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: bad xz data (liblzma error %d)", path, (int)rc);
		goto out;
	}
	ret = 0;
out:
	lzma_end(&s);
	return ret;
}

static int unzstd(const struct kc_buf *in, struct kc_buf *out, const char *path,
		  struct kc_err *err)
{
	ZSTD_DStream *z = ZSTD_createDStream();
	ZSTD_inBuffer ib = { in->data, in->len, 0 };
	size_t rc = 1;
	int ret = -1;

	if (!z)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	while (ib.pos < ib.size || rc != 0) {
		ZSTD_outBuffer ob;

		ob.size = out_room(out, path, err);
		if (!ob.size)
			goto out;
		ob.dst = out->data + out->len;
		ob.pos = 0;
		rc = ZSTD_decompressStream(z, &ob, &ib);
		out->len += ob.pos;
		if (ZSTD_isError(rc)) {
			kc_err_set(err, KC_E_BAD_INPUT, "%s: bad zstd data: %s", path,
				   ZSTD_getErrorName(rc));
			goto out;
		}
		if (ib.pos == ib.size && rc != 0 && ob.pos < ob.size) {
			kc_err_set(err, KC_E_BAD_INPUT, "%s: truncated zstd data", path);
			goto out;
		}
	}
	ret = 0;
out:
	ZSTD_freeDStream(z);
	return ret;
}

static int ungzip(const struct kc_buf *in, struct kc_buf *out, const char *path,
		  struct kc_err *err)
{
	z_stream s;
	int rc = Z_OK, ret = -1;

	memset(&s, 0, sizeof(s));
	if (inflateInit2(&s, 15 + 32) != Z_OK) /* +32: gzip header */
		return kc_err_set(err, KC_E_INTERNAL, "%s: inflateInit2 failed", path);
	s.next_in = in->data;
	s.avail_in = (uInt)in->len; /* in->len <= KC_UNPACK_IN_MAX fits */
	while (rc != Z_STREAM_END) {
		size_t room = out_room(out, path, err);

		if (!room)
			goto out;
		s.next_out = out->data + out->len;
		s.avail_out = room > UINT32_MAX ? UINT32_MAX : (uInt)room;
		rc = inflate(&s, Z_NO_FLUSH);
		out->len = (size_t)(s.next_out - out->data);
		if (rc != Z_OK && rc != Z_STREAM_END) {
			kc_err_set(err, KC_E_BAD_INPUT, "%s: bad gzip data (%s)", path,
				   rc == Z_BUF_ERROR ? "truncated" : s.msg ? s.msg : "zlib error");
			goto out;
		}
	}
	ret = 0;
out:
	inflateEnd(&s);
	return ret;
}

/* The decompressed bytes as a read-only-opened memfd. */
static int to_memfd(const struct kc_buf *b, const char *path, struct kc_err *err)
{
	int fd = memfd_create("kcovd-unpacked", MFD_CLOEXEC);
	size_t off = 0;

	if (fd < 0)
		return kc_err_set(err, KC_E_IO, "%s: memfd_create: %s", path, strerror(errno));
	while (off < b->len) {
		ssize_t n = write(fd, b->data + off, b->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			kc_err_set(err, KC_E_IO, "%s: writing the decompressed data: %s", path,
				   strerror(n < 0 ? errno : ENOSPC));
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	return fd;
}

int kc_unpack_open(const char *path, struct kc_err *err)
{
	struct kc_buf in, out;
	enum kind k;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: %s", path, strerror(errno));
	k = sniff(fd);
	close(fd);
	fd = -1;
	if (k == PLAIN) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return kc_err_set(err, KC_E_BAD_INPUT, "%s: %s", path, strerror(errno));
		return fd;
	}
	kc_buf_init(&in);
	kc_buf_init(&out);
	if (kc_read_file(path, KC_UNPACK_IN_MAX, &in, err) < 0)
		goto out;
	if (in.oom) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	rc = k == XZ ? unxz(&in, &out, path, err)
	   : k == ZSTD ? unzstd(&in, &out, path, err)
		       : ungzip(&in, &out, path, err);
	if (rc == 0)
		fd = to_memfd(&out, path, err);
out:
	kc_buf_release(&in);
	kc_buf_release(&out);
	return fd;
}

/*
 * unpack.c - compressed kernel binaries (see unpack.h): magic-byte
 * detection and bounded in-memory decompression with liblzma, libzstd and
 * zlib, streamed into a memfd that libelf/libdwfl then read as a plain
 * ELF file.
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

/* Where decompressed bytes go: a memfd, through a fixed chunk buffer, so
 * memory holds the result once (in the memfd), never a second copy. */
#define CHUNK (1u << 20)

struct sink {
	int fd;
	unsigned char *buf; /* CHUNK bytes */
	size_t len;         /* bytes of buf not written yet */
	uint64_t total;     /* bytes produced so far */
	const char *path;
};

static int sink_flush(struct sink *k, struct kc_err *err)
{
	size_t off = 0;

	while (off < k->len) {
		ssize_t n = write(k->fd, k->buf + off, k->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return kc_err_set(err, KC_E_IO, "%s: writing the decompressed data: %s",
					  k->path, strerror(n < 0 ? errno : ENOSPC));
		off += (size_t)n;
	}
	k->len = 0;
	return 0;
}

/* Room for the next output bytes at k->buf + k->len (never more than
 * KC_UNPACK_OUT_MAX in all); 0 with a message when there is none. */
static size_t sink_room(struct sink *k, struct kc_err *err)
{
	if (k->len == CHUNK && sink_flush(k, err) < 0)
		return 0;
	if (k->total >= KC_UNPACK_OUT_MAX) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: decompresses to more than %u MiB", k->path,
			   KC_UNPACK_OUT_MAX >> 20);
		return 0;
	}
	return CHUNK - k->len < KC_UNPACK_OUT_MAX - k->total ? CHUNK - k->len
							      : (size_t)(KC_UNPACK_OUT_MAX - k->total);
}

static void sink_produced(struct sink *k, size_t n)
{
	k->len += n;
	k->total += n;
}

/* Decompressors: everything in in goes to the sink; 0, or -1 with a
 * message naming the file. */

static int unxz(const struct kc_buf *in, struct sink *k, struct kc_err *err)
{
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret rc;
	int ret = -1;

	if (lzma_stream_decoder(&s, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
		return kc_err_set(err, KC_E_INTERNAL, "%s: lzma_stream_decoder failed", k->path);
	s.next_in = in->data;
	s.avail_in = in->len;
	do {
		size_t room = sink_room(k, err);

		if (!room)
			goto out;
		s.next_out = k->buf + k->len;
		s.avail_out = room;
		rc = lzma_code(&s, LZMA_FINISH);
		sink_produced(k, room - s.avail_out);
	} while (rc == LZMA_OK);
	if (rc != LZMA_STREAM_END) {
		kc_err_set(err, KC_E_BAD_INPUT, "%s: bad xz data (liblzma error %d)", k->path,
			   (int)rc);
		goto out;
	}
	ret = 0;
out:
	lzma_end(&s);
	return ret;
}

static int unzstd(const struct kc_buf *in, struct sink *k, struct kc_err *err)
{
	ZSTD_DStream *z = ZSTD_createDStream();
	ZSTD_inBuffer ib = { in->data, in->len, 0 };
	size_t rc = 1;
	int ret = -1;

	if (!z)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	while (ib.pos < ib.size || rc != 0) {
		ZSTD_outBuffer ob;

		ob.size = sink_room(k, err);
		if (!ob.size)
			goto out;
		ob.dst = k->buf + k->len;
		ob.pos = 0;
		rc = ZSTD_decompressStream(z, &ob, &ib);
		sink_produced(k, ob.pos);
		if (ZSTD_isError(rc)) {
			kc_err_set(err, KC_E_BAD_INPUT, "%s: bad zstd data: %s", k->path,
				   ZSTD_getErrorName(rc));
			goto out;
		}
		if (ib.pos == ib.size && rc != 0 && ob.pos < ob.size) {
			kc_err_set(err, KC_E_BAD_INPUT, "%s: truncated zstd data", k->path);
			goto out;
		}
	}
	ret = 0;
out:
	ZSTD_freeDStream(z);
	return ret;
}

static int ungzip(const struct kc_buf *in, struct sink *k, struct kc_err *err)
{
	z_stream s;
	int rc = Z_OK, ret = -1;

	memset(&s, 0, sizeof(s));
	if (inflateInit2(&s, 15 + 32) != Z_OK) /* +32: gzip header */
		return kc_err_set(err, KC_E_INTERNAL, "%s: inflateInit2 failed", k->path);
	s.next_in = in->data;
	s.avail_in = (uInt)in->len; /* in->len <= KC_UNPACK_IN_MAX fits */
	while (rc != Z_STREAM_END) {
		size_t room = sink_room(k, err);

		if (!room)
			goto out;
		s.next_out = k->buf + k->len;
		s.avail_out = (uInt)room; /* room <= CHUNK */
		rc = inflate(&s, Z_NO_FLUSH);
		sink_produced(k, room - s.avail_out);
		if (rc != Z_OK && rc != Z_STREAM_END) {
			kc_err_set(err, KC_E_BAD_INPUT, "%s: bad gzip data (%s)", k->path,
				   rc == Z_BUF_ERROR ? "truncated" : s.msg ? s.msg : "zlib error");
			goto out;
		}
	}
	ret = 0;
out:
	inflateEnd(&s);
	return ret;
}

/* Decompress in (of kind k) into a new memfd; its descriptor or -1. */
static int unpack(const struct kc_buf *in, int kind, const char *path, struct kc_err *err)
{
	struct sink k = { -1, NULL, 0, 0, path };
	int rc = -1;

	k.fd = memfd_create("kcovd-unpacked", MFD_CLOEXEC);
	if (k.fd < 0)
		return kc_err_set(err, KC_E_IO, "%s: memfd_create: %s", path, strerror(errno));
	k.buf = malloc(CHUNK);
	if (!k.buf) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	rc = kind == XZ ? unxz(in, &k, err) : kind == ZSTD ? unzstd(in, &k, err) : ungzip(in, &k, err);
	if (rc == 0)
		rc = sink_flush(&k, err);
out:
	free(k.buf);
	if (rc < 0) {
		close(k.fd);
		return -1;
	}
	return k.fd;
}

int kc_unpack_open(const char *path, struct kc_err *err)
{
	struct kc_buf in;
	enum kind k;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s: %s", path, strerror(errno));
	k = sniff(fd);
	if (k == PLAIN)
		return fd;
	close(fd);
	fd = -1;
	kc_buf_init(&in);
	if (kc_read_file(path, KC_UNPACK_IN_MAX, &in, err) < 0)
		goto out;
	if (in.oom) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	fd = unpack(&in, k, path, err);
out:
	kc_buf_release(&in);
	return fd;
}

/*
 * maint_source.c - MAINTAINERS of a build's source: read through
 * source.h (a directory or a git revision) and parsed by maintainers.c.
 * Apart from the parser so that the parser (fuzzed on its own) needs
 * neither libgit2 nor the file system.
 */
#include "maintainers.h"

#include "buf.h"
#include "source.h"

static int source_is_dir(void *ctx, const char *path)
{
	return kc_source_is_dir(ctx, path);
}

struct kc_maint *kc_maint_load(struct kc_source *src, struct kc_err *err)
{
	struct kc_buf text = KC_BUF_INIT;
	struct kc_maint *m = NULL;
	char id[KC_SOURCE_ID_LEN + 1];
	int rc = kc_source_read_file(src, "MAINTAINERS", KC_MAINT_MAX_TEXT, &text, id, err);

	if (rc < 0)
		goto out;
	if (rc == 0) {
		kc_err_set(err, KC_E_NOT_FOUND, "no MAINTAINERS (or larger than %u bytes)",
			   (unsigned)KC_MAINT_MAX_TEXT);
		goto out;
	}
	m = kc_maint_parse((const char *)text.data, text.len, source_is_dir, src, err);
out:
	kc_buf_release(&text);
	return m;
}

/*
 * path.c - kc_path_safe, the segment rule of every outside path kcovd
 * resolves below a directory (path.h).
 */
#include "path.h"

#include <string.h>

int kc_path_safe(const char *p, unsigned flags)
{
	if ((flags & KC_PATH_ABSOLUTE) && *p == '/')
		p++;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (len == 0)
			return !slash && (flags & KC_PATH_DIR); /* only a last, empty one */
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if ((flags & KC_PATH_NO_HIDDEN) && p[0] == '.')
			return 0;
		if (!slash)
			return 1;
		p = slash + 1;
	}
}

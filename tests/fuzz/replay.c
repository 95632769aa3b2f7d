/*
 * replay.c - a main() for the fuzz targets without libFuzzer: runs
 * LLVMFuzzerTestOneInput once on every file named on the command line (a
 * directory means every regular file in it, sorted). ctest uses it to
 * replay the committed seed corpora and every input that once crashed a
 * target, in the normal and the sanitizer build.
 */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "fuzz.h"

static int replay_file(const char *path, unsigned long *n)
{
	struct kc_buf b;
	struct kc_err err;

	kc_buf_init(&b);
	kc_err_clear(&err);
	if (kc_read_file(path, KC_WIRE_MAX_BODY, &b, &err) < 0) {
		fprintf(stderr, "replay: %s\n", err.msg);
		kc_buf_release(&b);
		return -1;
	}
	LLVMFuzzerTestOneInput(b.data ? b.data : (const uint8_t *)"", b.len);
	kc_buf_release(&b);
	(*n)++;
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int replay_path(const char *path, unsigned long *n)
{
	struct dirent **ents;
	struct stat st;
	char sub[4096];
	int k, ret = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: %s: not found\n", path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path, n);
	k = scandir(path, &ents, NULL, by_name);
	if (k < 0)
		return -1;
	for (int i = 0; i < k; i++) {
		if (ents[i]->d_name[0] != '.' &&
		    snprintf(sub, sizeof(sub), "%s/%s", path, ents[i]->d_name) < (int)sizeof(sub) &&
		    stat(sub, &st) == 0 && S_ISREG(st.st_mode) && replay_file(sub, n) < 0)
			ret = -1;
		free(ents[i]);
	}
	free(ents);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned long n = 0;
	int ret = 0;

	for (int i = 1; i < argc; i++)
		if (replay_path(argv[i], &n) < 0)
			ret = 1;
	printf("replayed %lu inputs\n", n);
	if (n == 0) {
		fprintf(stderr, "replay: no inputs found\n");
		return 1;
	}
	return ret;
}

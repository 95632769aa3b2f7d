/*
 * api_coverage.c - coverage queries of an imported build (tree, files,
 * functions, LCOV) and build import over HTTP. Being written (issue 4).
 */
#include "server.h"

enum MHD_Result kc_api_coverage(struct kc_req *r, int *handled)
{
	(void)r;
	*handled = 0;
	return MHD_NO;
}

enum MHD_Result kc_api_post_build(struct kc_req *r)
{
	return kc_respond_error(r, 501, "build import over HTTP is not available yet");
}

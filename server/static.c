/*
 * static.c - serves the browser UI's files from the web directory.
 * Being written (issue 5).
 */
#include "server.h"

enum MHD_Result kc_api_static(struct kc_req *r, int *handled)
{
	(void)r;
	*handled = 0;
	return MHD_NO;
}

/*
 * routes.h - kcovd's route table: every request the server answers, with
 * its scope, Content-Type, largest body and handler (http/route.h says
 * what each field means and how a request is matched).
 */
#ifndef KC_ROUTES_H
#define KC_ROUTES_H

#include "route.h"

/* Every route, in lookup order; ends with an entry whose pattern is NULL.
 * Exposed for documentation checks and tests. */
extern const struct kc_route kc_routes[];

#endif

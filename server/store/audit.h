/*
 * audit.h - the audit table (schema/007): one row per admin action (token
 * add and revoke, build import and delete, gc, vacuum, restore), written by whoever performs the action on
 * the connection it writes with, read by `kcovd audit` and GET
 * /api/v1/audit.
 */
#ifndef KC_AUDIT_H
#define KC_AUDIT_H

#include <jansson.h>

#include "err.h"
#include "sql.h"

/* Longest actor text ("token NAME (kc_ID)"); longer names are cut. */
#define KC_AUDIT_ACTOR_MAX 128

/* Append a row (at = now). All strings are borrowed; detail may be NULL. */
int kc_audit_add(struct kc_sql *db, const char *actor, const char *action, const char *target,
		 const char *detail, struct kc_err *err) KC_MUST_CHECK;

/* The newest limit rows, newest first: a JSON array of {id, at, actor,
 * action, target, detail} (new reference), or NULL with err set. */
json_t *kc_audit_list(struct kc_sql *db, unsigned limit, struct kc_err *err);

#endif

/*
 * auth.h - bearer tokens for collectors, readers and administrators.
 *
 * A token reads "kc_" + 16 hex digits (its public id) + "." + 64 hex digits
 * (its secret). Only a salted BLAKE2b hash of the secret is stored; checks
 * use a constant-time comparison (libsodium).
 *
 * Lifecycle (schema/007): a token may expire (set at creation) and be
 * revoked; kc_token_check reads the tokens table on every call, so a
 * revocation committed by `kcovd token revoke` is seen by the next request
 * of a running server. A push token may be bound to an fnmatch pattern of
 * machine names, which the ingest handlers apply. Token changes write their
 * audit row (audit.h) in the same transaction.
 */
#ifndef KC_AUTH_H
#define KC_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "sql.h"

enum kc_scope {
	KC_SCOPE_NONE = 0,
	KC_SCOPE_READ = 1,
	KC_SCOPE_PUSH = 2,
	KC_SCOPE_ADMIN = 3, /* may do everything */
};

#define KC_TOKEN_LEN (3 + 16 + 1 + 64)

/* sodium_init(); call once per process. */
int kc_auth_init(struct kc_err *err) KC_MUST_CHECK;

/* Parse "push" / "read" / "admin". */
int kc_scope_parse(const char *s, enum kc_scope *scope);
const char *kc_scope_name(enum kc_scope scope);

#define KC_TOKEN_ID_LEN 16
#define KC_TOKEN_MACHINES_MAX 256 /* longest --machines pattern */

/* What to create: expires_days 0 = never; machines NULL = any machine. */
struct kc_token_spec {
	const char *name;
	enum kc_scope scope;
	unsigned expires_days;
	const char *machines;
};

/* Create a token, store its hash and its audit row (actor: who asks, e.g.
 * "cli"), write the token text into out. Runs in one transaction of its
 * own on db. */
int kc_token_add(struct kc_sql *db, const struct kc_token_spec *spec, const char *actor,
		 char out[KC_TOKEN_LEN + 1], struct kc_err *err) KC_MUST_CHECK;

/* Revoke every live token whose name is name_or_id, or whose id is it
 * (with or without "kc_"), with an audit row each; *count receives how
 * many. No live token of that name or id: KC_E_NOT_FOUND. */
int kc_token_revoke(struct kc_sql *db, const char *name_or_id, const char *actor, unsigned *count,
		    struct kc_err *err) KC_MUST_CHECK;

/* A token a request presented, as kc_token_check found it. */
struct kc_token {
	enum kc_scope scope;                        /* KC_SCOPE_NONE: no valid token */
	char id[KC_TOKEN_ID_LEN + 1];               /* public id (hex) */
	char name[64];                              /* cut when longer */
	char machines[KC_TOKEN_MACHINES_MAX + 1];   /* "" any machine */
	int64_t last_used;                          /* 0: never */
	char last_addr[64];
	int unavailable; /* the database could not be asked (KC_E_UNAVAILABLE): 503, not 401 */
};

/* Check an Authorization header value ("Bearer TOKEN") at time now (unix
 * seconds) and fill *t. t->scope is KC_SCOPE_NONE when the header is
 * absent or malformed, or the token unknown, revoked or expired; when the
 * lookup itself failed for a passing reason (database busy or connection
 * lost), t->unavailable is set as well. */
void kc_token_check(struct kc_sql *db, const char *authorization, int64_t now, struct kc_token *t);

/* Record a use of token id at now from addr (on a writable connection). */
int kc_token_touch(struct kc_sql *db, const char *id, int64_t now, const char *addr,
		   struct kc_err *err) KC_MUST_CHECK;

/* Does machine match the token's pattern (always when it has none)? */
int kc_token_machine_allowed(const struct kc_token *t, const char *machine);

/* "token NAME (kc_ID)" into out, the actor of an audit row. */
void kc_token_actor(const struct kc_token *t, char *out, size_t size);

/* Does a token of scope `have` allow an action that needs `need`? */
int kc_scope_allows(enum kc_scope have, enum kc_scope need);

#endif

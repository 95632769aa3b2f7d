/*
 * auth.h - bearer tokens for collectors, readers and administrators.
 *
 * A token reads "kc_" + 16 hex digits (its public id) + "." + 64 hex digits
 * (its secret). Only a salted BLAKE2b hash of the secret is stored; checks
 * use a constant-time comparison (libsodium).
 */
#ifndef KC_AUTH_H
#define KC_AUTH_H

#include <sqlite3.h>

#include "err.h"

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

/* Create a token, store its hash, write the token text into out. */
int kc_token_add(sqlite3 *db, const char *name, enum kc_scope scope,
		 char out[KC_TOKEN_LEN + 1], struct kc_err *err) KC_MUST_CHECK;

/* Check an Authorization header value ("Bearer TOKEN"). Returns the token's
 * scope, or KC_SCOPE_NONE when absent, malformed or unknown. */
enum kc_scope kc_token_check(sqlite3 *db, const char *authorization);

/* Does a token of scope `have` allow an action that needs `need`? */
int kc_scope_allows(enum kc_scope have, enum kc_scope need);

#endif

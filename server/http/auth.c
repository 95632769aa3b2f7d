/*
 * auth.c - token issue and verification. Tokens are random (libsodium),
 * stored as (public id, salt, keyed BLAKE2b hash of the secret); a request's
 * token is looked up by id and its secret compared in constant time, so
 * neither the database nor timing reveals a usable token.
 */
#include "auth.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "audit.h"
#include "db.h"

#define ID_BYTES 8
#define SECRET_BYTES 32
#define SALT_BYTES 16
#define HASH_BYTES 32

int kc_auth_init(struct kc_err *err)
{
	if (sodium_init() < 0)
		return kc_err_set(err, KC_E_INTERNAL, "libsodium failed to initialize");
	return 0;
}

static const char *const scope_names[] = { "none", "read", "push", "admin" };

int kc_scope_parse(const char *s, enum kc_scope *scope)
{
	for (int i = 1; i <= 3; i++)
		if (strcmp(s, scope_names[i]) == 0) {
			*scope = (enum kc_scope)i;
			return 0;
		}
	return -1;
}

const char *kc_scope_name(enum kc_scope scope)
{
	return scope_names[scope <= KC_SCOPE_ADMIN ? scope : 0];
}

int kc_scope_allows(enum kc_scope have, enum kc_scope need)
{
	return have == KC_SCOPE_ADMIN || (have != KC_SCOPE_NONE && have == need);
}

static void hash_secret(const unsigned char *secret, const unsigned char *salt,
			unsigned char out[HASH_BYTES])
{
	crypto_generichash(out, HASH_BYTES, secret, SECRET_BYTES, salt, SALT_BYTES);
}

/* Run fn(db, arg) in a transaction of its own: commit on 0, roll back on -1. */
static int in_transaction(struct kc_sql *db, int (*fn)(struct kc_sql *db, void *arg, struct kc_err *err),
			  void *arg, struct kc_err *err)
{
	if (kc_db_begin(db, err) < 0)
		return -1;
	if (fn(db, arg, err) < 0 || kc_db_exec(db, "COMMIT", err) < 0) {
		kc_db_exec(db, "ROLLBACK", NULL);
		return -1;
	}
	return 0;
}

struct add_job {
	const struct kc_token_spec *spec;
	const char *actor;
	char *out;
};

static int add_token(struct kc_sql *db, void *arg, struct kc_err *err)
{
	struct add_job *a = arg;
	const struct kc_token_spec *spec = a->spec;
	unsigned char id[ID_BYTES], secret[SECRET_BYTES], salt[SALT_BYTES], hash[HASH_BYTES];
	char id_hex[2 * ID_BYTES + 1], secret_hex[2 * SECRET_BYTES + 1];
	char target[256], detail[KC_TOKEN_MACHINES_MAX + 64];
	struct kc_stmt *st;
	time_t now = time(NULL);
	int ret = -1;

	randombytes_buf(id, sizeof(id));
	randombytes_buf(secret, sizeof(secret));
	randombytes_buf(salt, sizeof(salt));
	hash_secret(secret, salt, hash);
	sodium_bin2hex(id_hex, sizeof(id_hex), id, sizeof(id));
	sodium_bin2hex(secret_hex, sizeof(secret_hex), secret, sizeof(secret));
	st = kc_db_prepare(db,
			   "INSERT INTO tokens (id, name, scope, salt, hash, created, expires, machines) "
			   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			   err);
	if (!st)
		goto out;
	kc_stmt_bind_text(st, 1, id_hex, -1, KC_SQL_STATIC);
	kc_stmt_bind_text(st, 2, spec->name, -1, KC_SQL_STATIC);
	kc_stmt_bind_text(st, 3, kc_scope_name(spec->scope), -1, KC_SQL_STATIC);
	kc_stmt_bind_blob(st, 4, salt, sizeof(salt), KC_SQL_STATIC);
	kc_stmt_bind_blob(st, 5, hash, sizeof(hash), KC_SQL_STATIC);
	kc_stmt_bind_int64(st, 6, (int64_t)now);
	if (spec->expires_days)
		kc_stmt_bind_int64(st, 7, (int64_t)now + (int64_t)spec->expires_days * 86400);
	if (spec->machines)
		kc_stmt_bind_text(st, 8, spec->machines, -1, KC_SQL_STATIC);
	if (kc_db_step(db, st, err) < 0) {
		kc_err_prefix(err, "storing the token");
		goto out;
	}
	snprintf(target, sizeof(target), "%s (kc_%s)", spec->name, id_hex);
	snprintf(detail, sizeof(detail), "scope=%s expires_days=%u machines=%s",
		 kc_scope_name(spec->scope), spec->expires_days, spec->machines ? spec->machines : "*");
	if (kc_audit_add(db, a->actor, "token.add", target, detail, err) < 0)
		goto out;
	snprintf(a->out, KC_TOKEN_LEN + 1, "kc_%s.%s", id_hex, secret_hex);
	ret = 0;
out:
	kc_stmt_finalize(st);
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(secret_hex, sizeof(secret_hex));
	return ret;
}

int kc_token_add(struct kc_sql *db, const struct kc_token_spec *spec, const char *actor,
		 char out[KC_TOKEN_LEN + 1], struct kc_err *err)
{
	struct add_job a = { spec, actor, out };

	if (spec->machines && (!*spec->machines || strlen(spec->machines) > KC_TOKEN_MACHINES_MAX))
		return kc_err_set(err, KC_E_BAD_INPUT, "--machines: a pattern of 1 to %d bytes",
				  KC_TOKEN_MACHINES_MAX);
	if (spec->machines && spec->scope != KC_SCOPE_PUSH)
		return kc_err_set(err, KC_E_BAD_INPUT, "--machines binds push tokens only");
	return in_transaction(db, add_token, &a, err);
}

struct revoke_job {
	const char *key, *actor;
	unsigned count;
};

static int revoke_tokens(struct kc_sql *db, void *arg, struct kc_err *err)
{
	struct revoke_job *r = arg;
	const char *id = strncmp(r->key, "kc_", 3) == 0 ? r->key + 3 : r->key;
	struct kc_stmt *st;
	char target[256];
	int rc, ret = -1;

	st = kc_db_prepare(db, "UPDATE tokens SET revoked = ? WHERE revoked IS NULL AND "
			       "(name = ? OR id = ?) RETURNING id, name", err);
	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, (int64_t)time(NULL));
	kc_stmt_bind_text(st, 2, r->key, -1, KC_SQL_STATIC);
	kc_stmt_bind_text(st, 3, id, -1, KC_SQL_STATIC);
	while ((rc = kc_db_step(db, st, err)) == KC_ROW) {
		snprintf(target, sizeof(target), "%s (kc_%s)", kc_stmt_column_text(st, 1),
			 kc_stmt_column_text(st, 0));
		if (kc_audit_add(db, r->actor, "token.revoke", target, NULL, err) < 0)
			goto out;
		r->count++;
	}
	if (rc < 0)
		goto out;
	if (r->count == 0) {
		kc_err_set(err, KC_E_NOT_FOUND, "no live token named or with id '%s'", r->key);
		goto out;
	}
	ret = 0;
out:
	kc_stmt_finalize(st);
	return ret;
}

int kc_token_revoke(struct kc_sql *db, const char *name_or_id, const char *actor, unsigned *count,
		    struct kc_err *err)
{
	struct revoke_job r = { name_or_id, actor, 0 };
	int ret = in_transaction(db, revoke_tokens, &r, err);

	*count = r.count;
	return ret;
}

static void copy_text(char *out, size_t size, const unsigned char *text)
{
	snprintf(out, size, "%s", text ? (const char *)text : "");
}

void kc_token_check(struct kc_sql *db, const char *authorization, int64_t now, struct kc_token *t)
{
	unsigned char secret[SECRET_BYTES], hash[HASH_BYTES];
	const char *tok;
	struct kc_stmt *st = NULL;
	enum kc_scope scope = KC_SCOPE_NONE;
	struct kc_err err;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	kc_err_clear(&err);
	if (!authorization || strncmp(authorization, "Bearer ", 7) != 0)
		return;
	tok = authorization + 7;
	if (strlen(tok) != KC_TOKEN_LEN || strncmp(tok, "kc_", 3) != 0 || tok[19] != '.')
		return;
	memcpy(t->id, tok + 3, 2 * ID_BYTES);
	t->id[2 * ID_BYTES] = '\0';
	if (sodium_hex2bin(secret, sizeof(secret), tok + 20, 2 * SECRET_BYTES, NULL, NULL, NULL) != 0)
		goto out;
	/* Every request checks its token: the statement stays prepared. */
	st = kc_db_cached(db, "SELECT scope, salt, hash, name, machines, last_used, last_addr "
			      "FROM tokens WHERE id = ? AND revoked IS NULL AND "
			      "(expires IS NULL OR expires > ?)", &err);
	if (!st)
		goto out;
	kc_stmt_bind_text(st, 1, t->id, -1, KC_SQL_STATIC);
	kc_stmt_bind_int64(st, 2, (int64_t)now);
	if ((rc = kc_db_step(db, st, &err)) != KC_ROW || kc_stmt_column_bytes(st, 1) != SALT_BYTES ||
	    kc_stmt_column_bytes(st, 2) != HASH_BYTES)
		goto out;
	hash_secret(secret, kc_stmt_column_blob(st, 1), hash);
	if (sodium_memcmp(hash, kc_stmt_column_blob(st, 2), HASH_BYTES) != 0 ||
	    kc_scope_parse((const char *)kc_stmt_column_text(st, 0), &scope) < 0)
		goto out;
	t->scope = scope;
	copy_text(t->name, sizeof(t->name), kc_stmt_column_text(st, 3));
	copy_text(t->machines, sizeof(t->machines), kc_stmt_column_text(st, 4));
	t->last_used = kc_stmt_column_int64(st, 5);
	copy_text(t->last_addr, sizeof(t->last_addr), kc_stmt_column_text(st, 6));
out:
	t->unavailable = (!st || rc < 0) && err.code == KC_E_UNAVAILABLE;
	kc_stmt_reset(st);
	sodium_memzero(secret, sizeof(secret));
}

int kc_token_touch(struct kc_sql *db, const char *id, int64_t now, const char *addr, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(db, "UPDATE tokens SET last_used = ?, last_addr = ? "
					     "WHERE id = ?", err);
	int ret;

	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, (int64_t)now);
	kc_stmt_bind_text(st, 2, addr, -1, KC_SQL_STATIC);
	kc_stmt_bind_text(st, 3, id, -1, KC_SQL_STATIC);
	ret = kc_db_step(db, st, err) < 0 ? -1 : 0;
	kc_stmt_finalize(st);
	return ret;
}

int kc_token_machine_allowed(const struct kc_token *t, const char *machine)
{
	return !t || !t->machines[0] || fnmatch(t->machines, machine, 0) == 0;
}

void kc_token_actor(const struct kc_token *t, char *out, size_t size)
{
	snprintf(out, size, "token %s (kc_%s)", t->name, t->id);
}

/*
 * auth.c - token issue and verification. Tokens are random (libsodium),
 * stored as (public id, salt, keyed BLAKE2b hash of the secret); a request's
 * token is looked up by id and its secret compared in constant time, so
 * neither the database nor timing reveals a usable token.
 */
#include "auth.h"

#include <string.h>
#include <time.h>

#include <sodium.h>

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

int kc_token_add(sqlite3 *db, const char *name, enum kc_scope scope, char out[KC_TOKEN_LEN + 1],
		 struct kc_err *err)
{
	unsigned char id[ID_BYTES], secret[SECRET_BYTES], salt[SALT_BYTES], hash[HASH_BYTES];
	char id_hex[2 * ID_BYTES + 1], secret_hex[2 * SECRET_BYTES + 1];
	sqlite3_stmt *st;
	int ret = -1;

	randombytes_buf(id, sizeof(id));
	randombytes_buf(secret, sizeof(secret));
	randombytes_buf(salt, sizeof(salt));
	hash_secret(secret, salt, hash);
	sodium_bin2hex(id_hex, sizeof(id_hex), id, sizeof(id));
	sodium_bin2hex(secret_hex, sizeof(secret_hex), secret, sizeof(secret));
	st = kc_db_prepare(db,
			   "INSERT INTO tokens (id, name, scope, salt, hash, created) "
			   "VALUES (?, ?, ?, ?, ?, ?)",
			   err);
	if (!st)
		goto out;
	sqlite3_bind_text(st, 1, id_hex, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, kc_scope_name(scope), -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, salt, sizeof(salt), SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, hash, sizeof(hash), SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE) {
		kc_err_set(err, kc_db_errc(db), "storing the token: %s", sqlite3_errmsg(db));
		goto out;
	}
	snprintf(out, KC_TOKEN_LEN + 1, "kc_%s.%s", id_hex, secret_hex);
	ret = 0;
out:
	sqlite3_finalize(st);
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(secret_hex, sizeof(secret_hex));
	return ret;
}

enum kc_scope kc_token_check(sqlite3 *db, const char *authorization)
{
	unsigned char secret[SECRET_BYTES], hash[HASH_BYTES];
	char id_hex[2 * ID_BYTES + 1];
	const char *tok;
	sqlite3_stmt *st = NULL;
	enum kc_scope scope = KC_SCOPE_NONE;

	if (!authorization || strncmp(authorization, "Bearer ", 7) != 0)
		return KC_SCOPE_NONE;
	tok = authorization + 7;
	if (strlen(tok) != KC_TOKEN_LEN || strncmp(tok, "kc_", 3) != 0 || tok[19] != '.')
		return KC_SCOPE_NONE;
	memcpy(id_hex, tok + 3, 2 * ID_BYTES);
	id_hex[2 * ID_BYTES] = '\0';
	if (sodium_hex2bin(secret, sizeof(secret), tok + 20, 2 * SECRET_BYTES, NULL, NULL, NULL) != 0)
		return KC_SCOPE_NONE;
	st = kc_db_prepare(db, "SELECT scope, salt, hash FROM tokens WHERE id = ?", NULL);
	if (!st)
		goto out;
	sqlite3_bind_text(st, 1, id_hex, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_bytes(st, 1) != SALT_BYTES ||
	    sqlite3_column_bytes(st, 2) != HASH_BYTES)
		goto out;
	hash_secret(secret, sqlite3_column_blob(st, 1), hash);
	if (sodium_memcmp(hash, sqlite3_column_blob(st, 2), HASH_BYTES) == 0 &&
	    kc_scope_parse((const char *)sqlite3_column_text(st, 0), &scope) < 0)
		scope = KC_SCOPE_NONE;
out:
	sqlite3_finalize(st);
	sodium_memzero(secret, sizeof(secret));
	return scope;
}

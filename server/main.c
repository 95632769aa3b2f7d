/*
 * main.c - the kcovd command line: `serve` (the default) runs the HTTP
 * service (HTTP, or HTTPS with --tls-cert) until SIGINT/SIGTERM; `token
 * add NAME [--scope S] [--expires DAYS] [--machines PAT]` issues a token and
 * prints it once; `token revoke` ends one; `token list` shows who has
 * tokens and when they were last used; `audit` lists admin actions; `gc
 * --keep-days N`, `build delete ID` and `vacuum` remove old data and give
 * the space back (while no kcovd serves the file; a serving kcovd takes the
 * same actions over its admin API, or runs gc itself with --gc-keep-days);
 * `backup FILE` copies the live database, `restore FILE` installs a copy.
 * Configuration comes from flags, then KCOVD_* environment variables.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "auth.h"
#include "covquery.h"
#include "db.h"
#include "fileio.h"
#include "import.h"
#include "parse.h"
#include "retention.h"
#include "routes.h"
#include "server.h"

#define KC_STR_(x) #x
#define KC_STR(x) KC_STR_(x)

static const char usage[] =
	"usage: kcovd [serve] [options]\n"
	"       kcovd token add NAME [--scope push|read|admin] [--expires DAYS]\n"
	"                            [--machines PATTERN] [options]\n"
	"       kcovd token revoke NAME_OR_ID [options]\n"
	"       kcovd token list [options]\n"
	"       kcovd audit [--limit N] [options]\n"
	"       kcovd gc --keep-days N [options]      (kcovd must not be serving)\n"
	"       kcovd build delete BUILD_ID [options] (kcovd must not be serving)\n"
	"       kcovd vacuum [options]                (kcovd must not be serving)\n"
	"       kcovd backup FILE [options]           (also while kcovd serves)\n"
	"       kcovd restore FILE [options]          (kcovd must not be serving)\n"
	"       kcovd import-build --vmlinux PATH [--modules DIR]\n"
	"                          [--source DIR | --git REPO [--rev REV]]\n"
	"                          [--debug-dir DIR] [--strip-prefix P]... [options]\n"
	"  import-build: --modules DIR is a build tree or a make modules_install\n"
	"  tree (lib/modules/RELEASE; .ko, .ko.xz, .ko.zst, .ko.gz); --debug-dir DIR\n"
	"  holds separate debug files by build id (DIR/.build-id/xx/yyyy.debug, as\n"
	"  /usr/lib/debug) or .gnu_debuglink name, for binaries without DWARF\n"
	"options (environment variable in brackets):\n"
	"  --listen ADDR:PORT   listen address (KCOVD_LISTEN; default 127.0.0.1:8080)\n"
	"  --data-dir DIR       data directory (KCOVD_DATA_DIR; default ./kcovd-data)\n"
	"  --db PATH            database file (KCOVD_DB; default DATA_DIR/kcovd.db)\n"
	"  --web-dir DIR        browser UI files (KCOVD_WEB_DIR)\n"
	"  --read-auth          reads need a read token too (KCOVD_READ_AUTH=1)\n"
	"  --port-file FILE     write the bound port to FILE once listening\n"
	"  --max-connections N  (default 4096)   --timeout SEC idle timeout (default 30)\n"
	"  --max-db-size SIZE   cap the database size (ingest answers 503 when full):\n"
	"                       MiB, or with a K, M, G or T suffix (10G = 10240 MiB)\n"
	"  --wire-max N         newest report wire version accepted and advertised in\n"
	"                       X-Kcov-Wire (1 or 2; default 2)\n"
	"  --tls-cert FILE      serve HTTPS only, with this PEM certificate (chain)\n"
	"  --tls-key FILE       the PEM private key of --tls-cert\n"
	"  --tls-client-ca FILE require client certificates signed by this PEM CA;\n"
	"                       pushes are logged with the certificate's subject\n"
	"  --cache-mb MB        memory for cached point indexes of imported builds\n"
	"                       (KCOVD_CACHE_MB; default %d)\n"
	"  --patch-blame-files N  most files with new lines one commits request\n"
	"                       attributes by blame (default " KC_STR(KC_PATCH_BLAME_FILES_DEFAULT) "); more get 400\n"
	"  --rate-limit N       requests per second per token on routes that need one\n"
	"                       (0: no limit; default " KC_STR(KC_RATE_TOKEN_DEFAULT) "); more get 429\n"
	"  --rate-burst N       requests a token may send at once (default " KC_STR(KC_BURST_TOKEN_DEFAULT) ")\n"
	"  --addr-rate-limit N  requests per second per client address on the other\n"
	"                       routes (0: no limit; default " KC_STR(KC_RATE_ADDR_DEFAULT) ")\n"
	"  --addr-rate-burst N  (default " KC_STR(KC_BURST_ADDR_DEFAULT) ")\n"
	"  --gc-keep-days N     serve: run gc --keep-days N at start and then every\n"
	"                       --gc-interval seconds (default 86400); default off\n";


/* Largest PEM file read for --tls-*: a long chain fits. */
#define KC_PEM_MAX (1u << 20)

struct cli {
	char listen[256];
	const char *data_dir, *db, *web_dir, *port_file, *scope;
	const char *tls_cert, *tls_key, *tls_client_ca; /* file names */
	unsigned expires_days, limit;                    /* token add, audit */
	const char *machines;
	int read_auth;
	unsigned max_conn, timeout, max_db_mb, cache_mb, wire_max;
	unsigned rate_token, burst_token, rate_addr, burst_addr;
	unsigned keep_days, gc_interval; /* gc, serve --gc-keep-days */
	unsigned blame_files;            /* serve --patch-blame-files */
	const char *cache_mb_from; /* where cache_mb was read, for messages */
	const char *vmlinux, *modules, *source, *debug_dir; /* import-build */
	const char *git, *rev;                              /* import-build */
	const char *strip[KC_IMPORT_MAX_STRIP];
	size_t nstrip;
};

static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v && *v ? v : dflt;
}

/* A number flag or variable `what` in [min, max] into *out. */
static int num(const char *s, const char *what, uint64_t min, uint64_t max, unsigned *out,
	       struct kc_err *err)
{
	uint64_t v;

	if (kc_parse_u64(s, what, min, max, &v, err) < 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* --max-db-size: MiB, or a size with a unit suffix, as whole MiB. */
static int db_size(const char *s, unsigned *out, struct kc_err *err)
{
	uint64_t v;

	if (kc_parse_size(s, "--max-db-size", 1u << 20, 1, UINT32_MAX, &v, err) < 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse(int argc, char **argv, struct cli *c, struct kc_err *err)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "db", required_argument, NULL, 'b' },
		{ "web-dir", required_argument, NULL, 'w' },
		{ "read-auth", no_argument, NULL, 'r' },
		{ "port-file", required_argument, NULL, 'p' },
		{ "scope", required_argument, NULL, 's' },
		{ "max-connections", required_argument, NULL, 'm' },
		{ "timeout", required_argument, NULL, 't' },
		{ "max-db-size", required_argument, NULL, 'z' },
		{ "cache-mb", required_argument, NULL, 'c' },
		{ "patch-blame-files", required_argument, NULL, 'c' + 256 },
		{ "wire-max", required_argument, NULL, 'W' },
		{ "expires", required_argument, NULL, 'e' },
		{ "machines", required_argument, NULL, 'x' },
		{ "limit", required_argument, NULL, 'n' },
		{ "tls-cert", required_argument, NULL, 'C' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "tls-client-ca", required_argument, NULL, 'A' },
		{ "vmlinux", required_argument, NULL, 'V' },
		{ "modules", required_argument, NULL, 'M' },
		{ "source", required_argument, NULL, 'S' },
		{ "debug-dir", required_argument, NULL, 'D' + 256 },
		{ "strip-prefix", required_argument, NULL, 'P' },
		{ "git", required_argument, NULL, 'G' },
		{ "rev", required_argument, NULL, 'R' + 256 },
		{ "rate-limit", required_argument, NULL, 'R' },
		{ "rate-burst", required_argument, NULL, 'B' },
		{ "addr-rate-limit", required_argument, NULL, 'r' + 256 },
		{ "addr-rate-burst", required_argument, NULL, 'b' + 256 },
		{ "keep-days", required_argument, NULL, 'k' },
		{ "gc-keep-days", required_argument, NULL, 'k' },
		{ "gc-interval", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'l': snprintf(c->listen, sizeof(c->listen), "%s", optarg); break;
		case 'd': c->data_dir = optarg; break;
		case 'b': c->db = optarg; break;
		case 'w': c->web_dir = optarg; break;
		case 'r': c->read_auth = 1; break;
		case 'p': c->port_file = optarg; break;
		case 's': c->scope = optarg; break;
		case 'm':
			if (num(optarg, "--max-connections", 1, 1000000, &c->max_conn, err) < 0)
				return -1;
			break;
		case 't':
			if (num(optarg, "--timeout", 1, 86400, &c->timeout, err) < 0)
				return -1;
			break;
		case 'z':
			if (db_size(optarg, &c->max_db_mb, err) < 0)
				return -1;
			break;
		case 'c':
			c->cache_mb_from = NULL;
			if (num(optarg, "--cache-mb", 0, UINT32_MAX >> 20, &c->cache_mb, err) < 0)
				return -1;
			break;
		case 'c' + 256:
			if (num(optarg, "--patch-blame-files", 1, 1000000, &c->blame_files, err) < 0)
				return -1;
			break;
		case 'W':
			if (num(optarg, "--wire-max", 1, KC_WIRE_VERSION_MAX, &c->wire_max, err) < 0)
				return -1;
			break;
		case 'e':
			if (num(optarg, "--expires", 1, 36500, &c->expires_days, err) < 0)
				return -1;
			break;
		case 'x': c->machines = optarg; break;
		case 'n':
			if (num(optarg, "--limit", 1, 100000, &c->limit, err) < 0)
				return -1;
			break;
		case 'C': c->tls_cert = optarg; break;
		case 'K': c->tls_key = optarg; break;
		case 'A': c->tls_client_ca = optarg; break;
		case 'V': c->vmlinux = optarg; break;
		case 'M': c->modules = optarg; break;
		case 'S': c->source = optarg; break;
		case 'D' + 256: c->debug_dir = optarg; break;
		case 'G': c->git = optarg; break;
		case 'R' + 256: c->rev = optarg; break;
		case 'P':
			if (c->nstrip == KC_IMPORT_MAX_STRIP)
				return kc_err_set(err, KC_E_BAD_INPUT, "at most %d --strip-prefix",
						  KC_IMPORT_MAX_STRIP);
			c->strip[c->nstrip++] = optarg;
			break;
		case 'R':
			if (num(optarg, "--rate-limit", 0, 1000000, &c->rate_token, err) < 0)
				return -1;
			break;
		case 'B':
			if (num(optarg, "--rate-burst", 1, 1000000, &c->burst_token, err) < 0)
				return -1;
			break;
		case 'r' + 256:
			if (num(optarg, "--addr-rate-limit", 0, 1000000, &c->rate_addr, err) < 0)
				return -1;
			break;
		case 'b' + 256:
			if (num(optarg, "--addr-rate-burst", 1, 1000000, &c->burst_addr, err) < 0)
				return -1;
			break;
		case 'k':
			if (num(optarg, "--keep-days", 1, 36500, &c->keep_days, err) < 0)
				return -1;
			break;
		case 'i':
			if (num(optarg, "--gc-interval", 1, 86400 * 365, &c->gc_interval, err) < 0)
				return -1;
			break;
		case 'h': printf(usage, KC_COVQ_CACHE_MB_DEFAULT); exit(0);
		default:
			fprintf(stderr, usage, KC_COVQ_CACHE_MB_DEFAULT);
			return kc_err_set(err, KC_E_BAD_INPUT, "bad command line");
		}
	}
	return 0;
}

static int split_listen(const char *s, char *host, size_t size, uint16_t *port, struct kc_err *err)
{
	const char *colon = strrchr(s, ':');
	uint64_t p;

	if (!colon || (size_t)(colon - s) >= size)
		return kc_err_set(err, KC_E_BAD_INPUT, "--listen '%s' is not ADDR:PORT", s);
	if (kc_parse_u64(colon + 1, "--listen port", 0, 65535, &p, err) < 0)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	*port = (uint16_t)p;
	return 0;
}

static int db_path(struct cli *c, char *out, size_t size, struct kc_err *err)
{
	/* SQLite would open "" as a private temporary database per connection. */
	if (c->db && !*c->db)
		return kc_err_set(err, KC_E_BAD_INPUT, "--db is empty");
	if (c->db) {
		snprintf(out, size, "%s", c->db);
		return 0;
	}
	if (kc_mkdirs(c->data_dir, err) < 0)
		return -1;
	if (snprintf(out, size, "%s/kcovd.db", c->data_dir) >= (int)size)
		return kc_err_set(err, KC_E_BAD_INPUT, "data directory path too long");
	return 0;
}

/* Read the PEM file of flag what (NULL: not given) into b; *pem is then
 * its NUL-terminated text, or NULL. */
static int read_pem(const char *file, const char *what, struct kc_buf *b, const char **pem,
		    struct kc_err *err)
{
	*pem = NULL;
	if (!file)
		return 0;
	if (kc_read_file(file, KC_PEM_MAX, b, err) < 0)
		return kc_err_prefix(err, "%s", what);
	*pem = (const char *)b->data;
	return 0;
}

/* Log one gc run's result. */
static void print_gc(const struct kc_gc_job *j)
{
	fprintf(stderr,
		"kcovd: gc kept %u days (before day %lld): %lld unions extended, %lld day rows, "
		"%lld reports, %lld overflow day rows rolled up per month, %lld pages freed\n",
		j->keep_days, (long long)j->res.cutoff_day, (long long)j->res.folded,
		(long long)j->res.day_rows, (long long)j->res.reports,
		(long long)j->res.overflow_rows, (long long)j->freed_pages);
}

/* Wait for SIGINT/SIGTERM; with --gc-keep-days run gc now and every
 * --gc-interval seconds meanwhile. Returns the signal. */
static int wait_signal(struct kc_server *srv, const struct cli *c, const sigset_t *set)
{
	struct timespec every = { (time_t)(c->gc_interval ? c->gc_interval : 86400), 0 };
	int sig;

	if (!c->keep_days) {
		while (sigwait(set, &sig) != 0)
			;
		return sig;
	}
	for (;;) {
		struct kc_gc_job job = { .keep_days = c->keep_days, .actor = "serve --gc-keep-days" };
		struct kc_err err;

		if (kc_store_maintain(srv->store, kc_gc_call, &job, &err) < 0)
			fprintf(stderr, "kcovd: periodic gc failed: %s\n", err.msg);
		else
			print_gc(&job);
		sig = sigtimedwait(set, NULL, &every);
		if (sig > 0)
			return sig;
	}
}

static int cmd_serve(struct cli *c, struct kc_err *err)
{
	struct kc_server srv;
	struct kc_server_opts o;
	struct kc_buf cert = KC_BUF_INIT, key = KC_BUF_INIT, ca = KC_BUF_INIT;
	char host[256], path[PATH_MAX];
	sigset_t set;
	int sig, ret = -1;

	memset(&o, 0, sizeof(o));
	if (split_listen(c->listen, host, sizeof(host), &o.port, err) < 0 ||
	    db_path(c, path, sizeof(path), err) < 0 ||
	    read_pem(c->tls_cert, "--tls-cert", &cert, &o.tls_cert, err) < 0 ||
	    read_pem(c->tls_key, "--tls-key", &key, &o.tls_key, err) < 0 ||
	    read_pem(c->tls_client_ca, "--tls-client-ca", &ca, &o.tls_client_ca, err) < 0)
		goto out;
	o.covq_cache = kc_covq_cache_new(c->cache_mb, err);
	if (!o.covq_cache)
		goto out;
	kc_covq_cache_set_blame_files(o.covq_cache, c->blame_files);
	o.routes = kc_routes;
	o.listen_addr = host;
	o.db_path = path;
	o.web_dir = c->web_dir;
	o.read_auth = c->read_auth;
	o.max_connections = c->max_conn;
	o.timeout_s = c->timeout;
	o.max_db_mb = c->max_db_mb;
	o.wire_max = c->wire_max;
	o.rate_token = c->rate_token;
	o.burst_token = c->burst_token;
	o.rate_addr = c->rate_addr;
	o.burst_addr = c->burst_addr;
	/* Room for many concurrent connections: raise the soft fd limit. */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (kc_server_start(&srv, &o, err) < 0)
		goto out;
	if (c->port_file) {
		char buf[16];
		int n = snprintf(buf, sizeof(buf), "%u\n", srv.port);

		if (kc_write_file_atomic(c->port_file, buf, (size_t)n, err) < 0) {
			kc_server_stop(&srv);
			goto out;
		}
	}
	fprintf(stderr, "kcovd: listening on %s://%s:%u/ (database %s, schema v%d%s)\n",
		o.tls_cert ? "https" : "http", host, srv.port, path, kc_db_schema_version(),
		o.tls_client_ca ? ", client certificates required" : "");
	sig = wait_signal(&srv, c, &set);
	fprintf(stderr, "kcovd: signal %d, stopping after the queued writes\n", sig);
	kc_server_stop(&srv);
	ret = 0;
out:
	kc_covq_cache_free(o.covq_cache);
	if (key.data)
		sodium_memzero(key.data, key.len);
	kc_buf_release(&cert);
	kc_buf_release(&key);
	kc_buf_release(&ca);
	return ret;
}

static int open_db(struct cli *c, struct kc_sql **db, struct kc_err *err)
{
	char path[PATH_MAX];

	if (db_path(c, path, sizeof(path), err) < 0)
		return -1;
	*db = kc_db_open(path, 0, err);
	if (!*db)
		return -1;
	if (kc_db_migrate(*db, err) < 0) {
		kc_db_close(*db);
		return -1;
	}
	return 0;
}

/* A unix time as "2026-12-01T11:50:04Z", or "-" for 0 (never). */
static const char *when(int64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || !gmtime_r(&tt, &tm) || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, size, "-");
	return out;
}

static int token_list(struct kc_sql *db, struct kc_err *err)
{
	struct kc_stmt *st = kc_db_prepare(
		db, "SELECT id, name, scope, created, expires, last_used, last_addr, machines, "
		    "CASE WHEN revoked IS NOT NULL THEN 'revoked' "
		    "WHEN expires IS NOT NULL AND expires <= ?1 THEN 'expired' "
		    "ELSE 'live' END FROM tokens ORDER BY created, id", err);
	char created[32], expires[32], used[32];
	int rc;

	if (!st)
		return -1;
	kc_stmt_bind_int64(st, 1, (int64_t)time(NULL));
	printf("ID\tNAME\tSCOPE\tSTATE\tCREATED\tEXPIRES\tLAST_USED\tLAST_ADDRESS\tMACHINES\n");
	while ((rc = kc_db_step(db, st, err)) == KC_ROW)
		printf("kc_%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", kc_stmt_column_text(st, 0),
		       kc_stmt_column_text(st, 1), kc_stmt_column_text(st, 2),
		       kc_stmt_column_text(st, 8),
		       when(kc_stmt_column_int64(st, 3), created, sizeof(created)),
		       when(kc_stmt_column_int64(st, 4), expires, sizeof(expires)),
		       when(kc_stmt_column_int64(st, 5), used, sizeof(used)),
		       kc_stmt_column_text(st, 6) ? (const char *)kc_stmt_column_text(st, 6) : "-",
		       kc_stmt_column_text(st, 7) ? (const char *)kc_stmt_column_text(st, 7) : "*");
	kc_stmt_finalize(st);
	return rc == KC_DONE ? 0 : -1;
}

static int cmd_token(struct cli *c, int argc, char **argv, struct kc_err *err)
{
	struct kc_token_spec spec = { NULL, KC_SCOPE_PUSH, c->expires_days, c->machines };
	char token[KC_TOKEN_LEN + 1];
	const char *sub = optind < argc ? argv[optind] : "";
	const char *arg = optind + 1 < argc ? argv[optind + 1] : NULL;
	unsigned count;
	struct kc_sql *db;
	int ret = -1;

	if (!((strcmp(sub, "add") == 0 && arg) || (strcmp(sub, "revoke") == 0 && arg) ||
	      strcmp(sub, "list") == 0))
		return kc_err_set(err, KC_E_BAD_INPUT,
				  "token needs 'add NAME', 'revoke NAME_OR_ID' or 'list'");
	if (c->scope && kc_scope_parse(c->scope, &spec.scope) < 0)
		return kc_err_set(err, KC_E_BAD_INPUT, "--scope must be push, read or admin");
	if (open_db(c, &db, err) < 0)
		return -1;
	if (strcmp(sub, "add") == 0) {
		spec.name = arg;
		if (kc_token_add(db, &spec, "cli", token, err) < 0)
			goto out;
		printf("%s\n", token);
		fprintf(stderr, "kcovd: token '%s' (%s) created; it is shown only this once\n", arg,
			kc_scope_name(spec.scope));
	} else if (strcmp(sub, "revoke") == 0) {
		if (kc_token_revoke(db, arg, "cli", &count, err) < 0)
			goto out;
		fprintf(stderr, "kcovd: %u token(s) '%s' revoked\n", count, arg);
	} else if (token_list(db, err) < 0) {
		goto out;
	}
	ret = 0;
out:
	kc_db_close(db);
	return ret;
}

static int cmd_audit(struct cli *c, struct kc_err *err)
{
	json_t *rows = NULL, *row;
	char at[32];
	struct kc_sql *db;
	size_t i;

	if (open_db(c, &db, err) < 0)
		return -1;
	rows = kc_audit_list(db, c->limit ? c->limit : 100, err);
	kc_db_close(db);
	if (!rows)
		return -1;
	printf("ID\tAT\tACTOR\tACTION\tTARGET\tDETAIL\n");
	json_array_foreach(rows, i, row)
		printf("%lld\t%s\t%s\t%s\t%s\t%s\n",
		       (long long)json_integer_value(json_object_get(row, "id")),
		       when(json_integer_value(json_object_get(row, "at")), at, sizeof(at)),
		       json_string_value(json_object_get(row, "actor")),
		       json_string_value(json_object_get(row, "action")),
		       json_string_value(json_object_get(row, "target")),
		       json_string_value(json_object_get(row, "detail")));
	json_decref(rows);
	return 0;
}

static int cmd_gc(struct cli *c, struct kc_err *err)
{
	struct kc_gc_job job = { .keep_days = c->keep_days, .actor = "cli" };
	char path[PATH_MAX];

	if (!c->keep_days)
		return kc_err_set(err, KC_E_BAD_INPUT, "gc needs --keep-days N");
	if (db_path(c, path, sizeof(path), err) < 0 ||
	    kc_db_run_locked(path, kc_gc_call, &job, err) < 0)
		return -1;
	print_gc(&job);
	return 0;
}

static int cmd_build(struct cli *c, int argc, char **argv, struct kc_err *err)
{
	struct kc_build_delete_job job = { .actor = "cli" };
	char path[PATH_MAX];

	if (optind + 2 != argc || strcmp(argv[optind], "delete") != 0)
		return kc_err_set(err, KC_E_BAD_INPUT, "build needs 'delete BUILD_ID'");
	job.build_id = argv[optind + 1];
	if (db_path(c, path, sizeof(path), err) < 0 ||
	    kc_db_run_locked(path, kc_build_delete_call, &job, err) < 0)
		return -1;
	fprintf(stderr,
		"kcovd: build %s deleted: %lld binaries, %lld boots, %lld reports, %lld coverage "
		"rows, %lld files; %lld pages freed\n",
		job.build_id, (long long)job.res.binaries, (long long)job.res.boots,
		(long long)job.res.reports, (long long)job.res.coverage_rows,
		(long long)job.res.files, (long long)job.freed_pages);
	return 0;
}

/* VACUUM needs the file to itself (and no transaction): under the lock. */
static int cmd_vacuum(struct cli *c, struct kc_err *err)
{
	char path[PATH_MAX], detail[64];
	int64_t freed = 0;
	struct kc_sql *db = NULL;
	int fd, ret = -1;

	if (db_path(c, path, sizeof(path), err) < 0)
		return -1;
	if (kc_sql_target_is_pg(path))
		return kc_err_set(err, KC_E_BAD_INPUT, KC_VACUUM_PG_REFUSAL);
	if ((fd = kc_db_lock(path, err)) < 0)
		return -1;
	if (open_db(c, &db, err) < 0)
		goto out;
	if (kc_db_vacuum(db, 1, &freed, err) < 0)
		goto out;
	snprintf(detail, sizeof(detail), "%lld pages freed", (long long)freed);
	if (kc_audit_add(db, "cli", "vacuum", path, detail, err) < 0)
		goto out;
	fprintf(stderr, "kcovd: vacuum of %s: %s\n", path, detail);
	ret = 0;
out:
	kc_db_close(db);
	close(fd);
	return ret;
}

/* backup FILE / restore FILE */
static int cmd_backup(struct cli *c, const char *cmd, int argc, char **argv, struct kc_err *err)
{
	char path[PATH_MAX];

	if (optind + 1 != argc)
		return kc_err_set(err, KC_E_BAD_INPUT, "%s needs one FILE", cmd);
	if (db_path(c, path, sizeof(path), err) < 0)
		return -1;
	if (strcmp(cmd, "backup") == 0) {
		if (kc_db_backup(path, argv[optind], err) < 0)
			return -1;
		fprintf(stderr, "kcovd: %s backed up to %s (integrity_check ok)\n", path,
			argv[optind]);
		return 0;
	}
	if (kc_db_restore(argv[optind], path, "cli", err) < 0)
		return -1;
	fprintf(stderr, "kcovd: %s restored from %s; the database before is %s.pre-restore\n",
		path, argv[optind], path);
	return 0;
}

static double mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* import-build's progress on a terminal: one line rewritten in place, at
 * most ten times a second, and every change of stage. */
struct import_tty {
	double last;
	int shown;
};

static void import_progress(void *ctx, const struct kc_import_progress *p)
{
	struct import_tty *t = ctx;
	double now = mono_seconds();

	if (!p->files && p->binaries_done < p->binaries_total && t->shown && now - t->last < 0.1)
		return;
	t->last = now;
	t->shown = 1;
	fprintf(stderr, "\rimport-build: %u/%u binaries, %llu points", p->binaries_done,
		p->binaries_total, (unsigned long long)p->points);
	if (p->files)
		fprintf(stderr, ", %u files; storing\n", p->files);
	fflush(stderr);
}

/* The final line of an import (stderr, terminal or not). */
static void import_summary_line(const json_t *s, double seconds)
{
	fprintf(stderr,
		"import-build: imported build %s: %zu binaries, %lld points, %lld files, "
		"%lld functions, %lld sources in %.1f s\n",
		json_string_value(json_object_get(s, "build_id")),
		json_array_size(json_object_get(s, "images")),
		(long long)json_integer_value(json_object_get(s, "points")),
		(long long)json_integer_value(json_object_get(s, "files")),
		(long long)json_integer_value(json_object_get(s, "functions")),
		(long long)json_integer_value(json_object_get(s, "sources")), seconds);
}

static int cmd_import_build(struct cli *c, struct kc_err *err)
{
	struct kc_import_opts o = { .vmlinux = c->vmlinux,
				    .modules_dir = c->modules,
				    .source_dir = c->source,
				    .strip_prefixes = c->strip,
				    .nstrip = c->nstrip,
				    .debug_dir = c->debug_dir,
				    .git_repo = c->git,
				    .git_rev = c->rev };
	struct import_tty tty = { 0, 0 };
	double t0 = mono_seconds();
	json_t *summary = NULL;
	struct kc_sql *db;
	char *text;
	int ret;

	if (!c->vmlinux)
		return kc_err_set(err, KC_E_BAD_INPUT, "import-build needs --vmlinux PATH");
	if (isatty(STDERR_FILENO)) {
		o.progress = import_progress;
		o.progress_ctx = &tty;
	}
	if (open_db(c, &db, err) < 0)
		return -1;
	ret = kc_import_run(db, &o, "cli", &summary, err);
	kc_db_close(db);
	if (ret < 0) {
		if (tty.shown)
			fputc('\n', stderr);
		return -1;
	}
	text = summary ? json_dumps(summary, JSON_INDENT(2)) : NULL;
	if (text)
		printf("%s\n", text);
	if (summary)
		import_summary_line(summary, mono_seconds() - t0);
	free(text);
	json_decref(summary);
	return 0;
}

int main(int argc, char **argv)
{
	struct cli c;
	struct kc_err err;
	const char *cmd = "serve";
	int ret;

	memset(&c, 0, sizeof(c));
	kc_err_clear(&err);
	snprintf(c.listen, sizeof(c.listen), "%s", env_or("KCOVD_LISTEN", "127.0.0.1:8080"));
	c.data_dir = env_or("KCOVD_DATA_DIR", "kcovd-data");
	c.db = env_or("KCOVD_DB", NULL); /* empty: unset, like the other variables */
	c.web_dir = getenv("KCOVD_WEB_DIR");
	c.read_auth = strcmp(env_or("KCOVD_READ_AUTH", "0"), "1") == 0;
	c.cache_mb = KC_COVQ_CACHE_MB_DEFAULT;
	c.blame_files = KC_PATCH_BLAME_FILES_DEFAULT;
	c.rate_token = KC_RATE_TOKEN_DEFAULT;
	c.burst_token = KC_BURST_TOKEN_DEFAULT;
	c.rate_addr = KC_RATE_ADDR_DEFAULT;
	c.burst_addr = KC_BURST_ADDR_DEFAULT;
	c.cache_mb_from = getenv("KCOVD_CACHE_MB");
	if (argc > 1 && argv[1][0] != '-') {
		cmd = argv[1];
		optind = 2;
	}
	if (parse(argc, argv, &c, &err) < 0 ||
	    (c.cache_mb_from && num(c.cache_mb_from, "KCOVD_CACHE_MB", 0, UINT32_MAX >> 20,
				    &c.cache_mb, &err) < 0)) {
		fprintf(stderr, "kcovd: %s\n", err.msg);
		return 2;
	}
	if (kc_auth_init(&err) < 0) {
		fprintf(stderr, "kcovd: %s\n", err.msg);
		return 1;
	}
	if (strcmp(cmd, "serve") == 0) {
		ret = cmd_serve(&c, &err);
	} else if (strcmp(cmd, "token") == 0) {
		ret = cmd_token(&c, argc, argv, &err);
	} else if (strcmp(cmd, "audit") == 0) {
		ret = cmd_audit(&c, &err);
	} else if (strcmp(cmd, "gc") == 0) {
		ret = cmd_gc(&c, &err);
	} else if (strcmp(cmd, "build") == 0) {
		ret = cmd_build(&c, argc, argv, &err);
	} else if (strcmp(cmd, "vacuum") == 0) {
		ret = cmd_vacuum(&c, &err);
	} else if (strcmp(cmd, "backup") == 0 || strcmp(cmd, "restore") == 0) {
		ret = cmd_backup(&c, cmd, argc, argv, &err);
	} else if (strcmp(cmd, "import-build") == 0) {
		ret = cmd_import_build(&c, &err);
	} else {
		fprintf(stderr, "kcovd: unknown command '%s'\n", cmd);
		fprintf(stderr, usage, KC_COVQ_CACHE_MB_DEFAULT);
		return 2;
	}
	if (ret < 0) {
		fprintf(stderr, "kcovd: %s\n", err.msg);
		return 1;
	}
	return 0;
}

/*
 * test_syzkaller.c - the syzkaller bridge's parsers of syz-manager answers:
 * what syzkaller's code prints is accepted (including uint64 addresses
 * above 2^63 in JSON and Go's exponent floats), anything else is refused
 * with a message naming the line or row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "syzkaller.h"

static int rawcover(const char *text, uint64_t **pcs, size_t *n, struct kc_err *err)
{
	kc_err_clear(err);
	return kc_syz_parse_rawcover(text, strlen(text), 5, pcs, n, err);
}

static void test_rawcover(void **state)
{
	struct kc_err err;
	uint64_t *pcs = NULL;
	size_t n = 0;
	(void)state;

	assert_int_equal(rawcover("0xffffffff81000010\n0xffffffffa0010008\n", &pcs, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_true(pcs[0] == 0xffffffff81000015ull && pcs[1] == 0xffffffffa001000dull);
	free(pcs);
	pcs = NULL;
	assert_int_equal(rawcover("", &pcs, &n, &err), 0);
	assert_int_equal(n, 0);
	free(pcs);
	pcs = NULL;
	assert_int_equal(rawcover("0x10\n0xFF\n", &pcs, &n, &err), -1);
	assert_string_equal(err.msg, "/rawcover line 2: '0xFF' is not a PC (0x and lowercase hex digits)");
	assert_int_equal(rawcover("0x010\n", &pcs, &n, &err), -1);   /* Go prints no leading 0 */
	assert_int_equal(rawcover("10\n", &pcs, &n, &err), -1);
	assert_int_equal(rawcover("0x\n", &pcs, &n, &err), -1);
	assert_int_equal(rawcover("0x1 \n", &pcs, &n, &err), -1);
	assert_int_equal(rawcover("0x10000000000000000\n", &pcs, &n, &err), -1);
	assert_int_equal(rawcover("0xfffffffffffffffe\n", &pcs, &n, &err), -1); /* + 5 wraps */
	assert_non_null(strstr(err.msg, "too large"));
	assert_int_equal(rawcover("0x10\n0x20", &pcs, &n, &err), -1);
	assert_non_null(strstr(err.msg, "line 2 ('0x20'): no newline at the end"));
	assert_null(pcs);
}

static int modules(const char *text, struct kc_module **m, uint32_t *n, struct kc_err *err)
{
	kc_err_clear(err);
	return kc_syz_parse_modules(text, strlen(text), NULL, m, n, err);
}

static void test_modules(void **state)
{
	/* json.MarshalIndent([]*vminfo.KernelModule, "", "\t") */
	static const char good[] =
		"[\n\t{\n\t\t\"Name\": \"\",\n\t\t\"Addr\": 18446744071578845184,\n"
		"\t\t\"Size\": 131072,\n\t\t\"Path\": \"/k/vmlinux\"\n\t},\n"
		"\t{\n\t\t\"Name\": \"kvm\",\n\t\t\"Addr\": 18446744072099004416,\n"
		"\t\t\"Size\": 4096,\n\t\t\"Path\": \"/k/2024 \\\"12\\\" kvm.ko\"\n\t}\n]";
	struct kc_err err;
	struct kc_module *m = NULL;
	uint32_t n = 9;
	(void)state;

	assert_int_equal(modules(good, &m, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(m[0].name, "kvm");
	assert_true(m[0].core_base == 0xffffffffa0010000ull && m[0].text_addr == m[0].core_base);
	assert_int_equal(m[0].core_size, 4096);
	assert_string_equal(m[0].build_id, "");
	free(m);
	m = NULL;
	assert_int_equal(modules("null", &m, &n, &err), 0);
	assert_int_equal(n, 0);
	free(m);
	m = NULL;
	assert_int_equal(modules("[]", &m, &n, &err), 0);
	assert_int_equal(n, 0);
	free(m);
	m = NULL;
	assert_int_equal(modules("[{\"Name\":\"a\",\"Addr\":18446744073709551616,\"Size\":1,"
				 "\"Path\":\"\"}]", &m, &n, &err), -1); /* 2^64 */
	assert_int_equal(modules("[{\"Name\":\"a\",\"Addr\":-1,\"Size\":1,\"Path\":\"\"}]",
				 &m, &n, &err), -1);
	assert_int_equal(modules("[{\"Name\":\"a\",\"Addr\":1e3,\"Size\":1,\"Path\":\"\"}]",
				 &m, &n, &err), -1);
	assert_int_equal(modules("[{\"Name\":\"a\",\"Addr\":\"#12\",\"Size\":1,\"Path\":\"\"}]",
				 &m, &n, &err), 0); /* the documented laxity of the quoting pass */
	free(m);
	m = NULL;
	assert_int_equal(modules("[{\"Name\":\"a\",\"Addr\":4096,\"Size\":0,\"Path\":\"\"}]",
				 &m, &n, &err), -1);
	assert_non_null(strstr(err.msg, "module a: bad range"));
	assert_int_equal(modules("[{\"Name\":\"a\",\"Addr\":1,\"Size\":1}]", &m, &n, &err), -1);
	assert_string_equal(err.msg, "/modules: entry 0 is not {Name, Addr, Size, Path} with "
				     "string names and unsigned integer Addr and Size");
	assert_int_equal(modules("[{\"Name\":\"a\",\"Name\":\"b\",\"Addr\":1,\"Size\":1,"
				 "\"Path\":\"\"}]", &m, &n, &err), -1);
	assert_int_equal(modules("{\"Name\":\"a\"}", &m, &n, &err), -1);
	assert_int_equal(modules("[", &m, &n, &err), -1);
	assert_non_null(strstr(err.msg, "/modules: not JSON"));
	assert_int_equal(modules("[\"unterminated]", &m, &n, &err), -1);
	assert_null(m);
}

static int metrics(const char *text, struct kc_syz_counters *c, struct kc_err *err)
{
	kc_err_clear(err);
	return kc_syz_parse_metrics(text, strlen(text), c, err);
}

static void test_metrics(void **state)
{
	struct kc_syz_counters c;
	struct kc_err err;
	(void)state;

	memset(&c, 0, sizeof(c));
	assert_int_equal(metrics("# HELP process_start_time_seconds Start time.\n"
				 "# TYPE process_start_time_seconds gauge\n"
				 "process_start_time_seconds 1.76458000025e+09\n"
				 "# HELP syz_exec_total Total test program executions\n"
				 "# TYPE syz_exec_total gauge\nsyz_exec_total 1.2345678e+07\n"
				 "syz_exec_total_x 3\n", &c, &err), 0);
	assert_int_equal(c.execs, 12345678);
	assert_true(c.start_time == 1764580000.25);
	assert_int_equal(metrics("syz_exec_total 80\n", &c, &err), 0);
	assert_int_equal(c.execs, 80);
	assert_int_equal(metrics("syz_exec_total 1e+06 1700000000000\n", &c, &err), 0);
	assert_int_equal(c.execs, 1000000);
	assert_int_equal(metrics("syz_exec_total 80.5\n", &c, &err), -1);
	assert_string_equal(err.msg, "/metrics line 1: 'syz_exec_total 80.5': value is not a count");
	assert_int_equal(metrics("syz_exec_total -1\n", &c, &err), -1);
	assert_int_equal(metrics("syz_exec_total NaN\n", &c, &err), -1);
	assert_int_equal(metrics("syz_exec_total 1\nsyz_exec_total 2\n", &c, &err), -1);
	assert_non_null(strstr(err.msg, "appears twice"));
	assert_int_equal(metrics("syz_exec_total{pool=\"a\"} 1\n", &c, &err), -1);
	assert_int_equal(metrics("go_goroutines 3\n", &c, &err), -1);
	assert_string_equal(err.msg, "/metrics: no syz_exec_total sample (not a syz-manager?)");
	assert_int_equal(c.execs, 1000000); /* untouched on error */
}

static const char row_fmt[] =
	"\n\t<tr>\n\t\t<td>%s</td>\n\t\t<td><a href='/corpus?call=x'>3</a></td>\n"
	"\t\t<td>5</td>\n\t\t<td><a href='/cover?call=x'>40</a></td>\n\t\t<td>%s</td>\n"
	"\t\t<td>1</td>\n\t\t<td><a href='/prio?call=x'>prio</a></td>\n\t</tr>\n\t";

static int syscalls(const char *rows, struct kc_syz_counters *c, struct kc_err *err)
{
	char page[4096];

	snprintf(page, sizeof(page), "<html><body><table class=\"list_table\">\n"
		 "\t<caption>Per-syscall coverage:</caption>\n\t<thead>\n\t<tr>\n\t\t<th>Syscall"
		 "</th>\n\t</tr>\n\t</thead>\n\t<tbody>\n\t%s\n\t</tbody>\n</table></body></html>",
		 rows);
	kc_err_clear(err);
	return kc_syz_parse_syscalls(page, strlen(page), c, err);
}

static void test_syscalls(void **state)
{
	struct kc_syz_counters c;
	struct kc_err err;
	char rows[2048], a[512], b[512];
	(void)state;

	memset(&c, 0, sizeof(c));
	snprintf(a, sizeof(a), row_fmt, "openat [257]", "7");
	snprintf(b, sizeof(b), row_fmt, ".extra", "2");
	snprintf(rows, sizeof(rows), "%s%s", a, b);
	assert_int_equal(syscalls(rows, &c, &err), 0);
	assert_int_equal(c.novf, 2);
	assert_string_equal(c.ovf[0].name, ".extra"); /* sorted */
	assert_int_equal(c.ovf[0].n, 2);
	assert_string_equal(c.ovf[1].name, "openat");
	assert_int_equal(c.ovf[1].n, 7);
	free(c.ovf);
	memset(&c, 0, sizeof(c));
	assert_int_equal(syscalls("", &c, &err), 0);
	assert_int_equal(c.novf, 0);
	free(c.ovf);
	memset(&c, 0, sizeof(c));
	snprintf(a, sizeof(a), row_fmt, "ioctl$KVM_RUN [1042]", "x");
	assert_int_equal(syscalls(a, &c, &err), -1);
	assert_string_equal(err.msg, "/syscalls: row 1: cover overflows is not a count");
	snprintf(a, sizeof(a), row_fmt, "open&lt;", "1");
	assert_int_equal(syscalls(a, &c, &err), -1);
	assert_string_equal(err.msg, "/syscalls: row 1: bad syscall name cell");
	snprintf(a, sizeof(a), row_fmt, "openat", "1");
	snprintf(rows, sizeof(rows), "%s%s", a, a);
	assert_int_equal(syscalls(rows, &c, &err), -1);
	assert_string_equal(err.msg, "/syscalls: openat listed twice");
	assert_int_equal(syscalls("<tr><td>a</td></tr>", &c, &err), -1);
	assert_string_equal(err.msg, "/syscalls: row 1: expected 7 <td> cells");
	assert_int_equal(kc_syz_parse_syscalls("<table>", 7, &c, &err), -1);
	assert_null(c.ovf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rawcover),
		cmocka_unit_test(test_modules),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_syscalls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

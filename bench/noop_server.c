/*
 * noop_server.c - the ingest ceiling of bench/run: a libmicrohttpd server
 * started with the same flags and options as kcovd (server/http.c: epoll
 * thread pool of 8, 4096 connections, 30 s idle timeout) that reads each
 * request body into memory the way kcovd does and answers 200 with a small
 * JSON body, doing nothing else. kcovd's ingest rate divided by this one is
 * the share of the HTTP ceiling that decoding, canonicalization and the
 * durable group commit leave.
 *
 * usage: bench-noop-server --port-file FILE   (runs until SIGINT/SIGTERM)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "buf.h"
#include "wire.h"

static char *answer;           /* the constant JSON answer */
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct kc_buf *body = *con_cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	(void)cls;
	(void)url;
	(void)method;
	(void)version;

	if (!body) {
		body = calloc(1, sizeof(*body));
		if (!body)
			return MHD_NO;
		*con_cls = body;
		return MHD_YES;
	}
	if (*upload_size) {
		if (body->len + *upload_size <= KC_WIRE_MAX_BODY)
			kc_buf_add(body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	resp = MHD_create_response_from_buffer(strlen(answer), answer, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct kc_buf *body = *con_cls;
	(void)cls;
	(void)conn;
	(void)toe;

	if (!body)
		return;
	kc_buf_release(body);
	free(body);
	*con_cls = NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	json_t *j;
	FILE *f;

	if (argc != 3 || strcmp(argv[1], "--port-file") != 0) {
		fprintf(stderr, "usage: bench-noop-server --port-file FILE\n");
		return 2;
	}
	j = json_pack("{s:s, s:b}", "status", "stored", "duplicate", 0);
	answer = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!answer)
		return 1;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = 0;
	inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
			     on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
			     MHD_OPTION_THREAD_POOL_SIZE, 8u, MHD_OPTION_NOTIFY_COMPLETED,
			     on_completed, NULL, MHD_OPTION_CONNECTION_LIMIT, 4096u,
			     MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
			     0u, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "bench-noop-server: cannot listen\n");
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	f = fopen(argv[2], "w");
	if (!f || !info) {
		fprintf(stderr, "bench-noop-server: cannot write %s\n", argv[2]);
		MHD_stop_daemon(d);
		return 1;
	}
	fprintf(f, "%u\n", info->port);
	fclose(f);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	while (!stop)
		pause();
	MHD_stop_daemon(d);
	free(answer);
	return 0;
}

/*
 * tls.c - what kcovd does with GnuTLS itself. libmicrohttpd does the TLS
 * (MHD_USE_TLS, started by http.c); this module only checks the PEM texts
 * given on the command line before the daemon starts, and, for
 * --tls-client-ca, verifies a connection's client certificate and reads its
 * subject, which http.c hands to the handlers as the pushing identity.
 */
#include "tls.h"

#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

static gnutls_datum_t datum(const char *pem)
{
	gnutls_datum_t d = { (unsigned char *)pem, (unsigned int)strlen(pem) };

	return d;
}

int kc_tls_check(const char *cert, const char *key, const char *client_ca, struct kc_err *err)
{
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_datum_t c = datum(cert), k = datum(key), ca;
	int rc, ret = -1;

	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return kc_err_set(err, KC_E_UNAVAILABLE,
				  "--tls-cert: this libmicrohttpd was built without TLS support; "
				  "kcovd cannot serve HTTPS with it");
	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return kc_err_set(err, KC_E_INTERNAL, "out of memory");
	rc = gnutls_certificate_set_x509_key_mem(cred, &c, &k, GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		kc_err_set(err, KC_E_BAD_INPUT, "--tls-cert/--tls-key: %s", gnutls_strerror(rc));
		goto out;
	}
	if (client_ca) {
		ca = datum(client_ca);
		rc = gnutls_certificate_set_x509_trust_mem(cred, &ca, GNUTLS_X509_FMT_PEM);
		if (rc <= 0) {
			kc_err_set(err, KC_E_BAD_INPUT, "--tls-client-ca: no CA certificate (%s)",
				   rc < 0 ? gnutls_strerror(rc) : "none in the file");
			goto out;
		}
	}
	ret = 0;
out:
	gnutls_certificate_free_credentials(cred);
	return ret;
}

int kc_tls_client_subject(struct MHD_Connection *conn, char *subject, size_t size,
			  struct kc_err *err)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	gnutls_session_t s;
	const gnutls_datum_t *peers;
	unsigned int npeers = 0, status = 0;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t why = { NULL, 0 };
	size_t n = size;
	int ret = -1;

	if (!ci || !ci->tls_session)
		return kc_err_set(err, KC_E_UNAUTHORIZED, "a TLS client certificate is required");
	s = (gnutls_session_t)ci->tls_session;
	peers = gnutls_certificate_get_peers(s, &npeers);
	if (!peers || npeers == 0)
		return kc_err_set(err, KC_E_UNAUTHORIZED,
				  "a TLS client certificate signed by the server's client CA is required");
	if (gnutls_certificate_verify_peers2(s, &status) < 0 || status != 0) {
		if (status)
			gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0);
		kc_err_set(err, KC_E_UNAUTHORIZED, "the TLS client certificate is not accepted: %s",
			   why.data ? (const char *)why.data : "verification failed");
		goto out;
	}
	if (gnutls_x509_crt_init(&crt) < 0) {
		kc_err_set(err, KC_E_INTERNAL, "out of memory");
		goto out;
	}
	if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_x509_crt_get_dn(crt, subject, &n) < 0) {
		kc_err_set(err, KC_E_UNAUTHORIZED,
			   "the TLS client certificate's subject cannot be read (longer than %zu bytes?)",
			   size - 1);
		goto out;
	}
	ret = 0;
out:
	if (crt)
		gnutls_x509_crt_deinit(crt);
	gnutls_free(why.data);
	return ret;
}

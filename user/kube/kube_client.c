/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One libcurl easy handle, and so one connection, per request. TLS sessions
 * and DNS answers are shared between requests and threads through a share
 * handle, so a new connection resumes the TLS session instead of a full
 * handshake. Connections themselves are not shared: libcurl does not support
 * a connection cache shared by concurrent threads (CURLSHOPT_SHARE(3)), and
 * a reflector's requests are few and long (watches of minutes), so
 * keep-alive would save little. HTTP/1.1: every watch holds its own
 * connection, as with client-go's HTTP/1 transport.
 */
#include "kube_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"

#define KC_TOKEN_MAX_AGE_S   60.0
#define KC_CONNECT_TIMEOUT_S 10L

struct kube_client {
	char *server;
	char *ca_file, *ca_data;
	size_t ca_len;
	char *cert_file, *key_file, *cert_data, *key_data;
	size_t cert_len, key_len;
	char *token_file;
	bool insecure;

	pthread_mutex_t lock; /* token, token_read_at */
	char *token;
	double token_read_at; /* monotonic; 0: never read */

	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
};

static pthread_once_t kc_curl_once = PTHREAD_ONCE_INIT;
static CURLcode kc_curl_init_rc;

static void kc_curl_init(void)
{
	kc_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static double kc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void kc_share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
	struct kube_client *c = arg;

	(void)h;
	(void)access;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&c->share_locks[data]);
}

static void kc_share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct kube_client *c = arg;

	(void)h;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&c->share_locks[data]);
}

static int kc_dup(char **dst, const char *src)
{
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

static int kc_dupmem(char **dst, const char *src, size_t len)
{
	if (!src)
		return 0;
	*dst = malloc(len + 1);
	if (!*dst)
		return -ENOMEM;
	memcpy(*dst, src, len);
	(*dst)[len] = 0;
	return 0;
}

int kube_client_new(const struct kube_config *cfg, struct kube_client **out)
{
	struct kube_client *c;
	int i;

	pthread_once(&kc_curl_once, kc_curl_init);
	if (kc_curl_init_rc != CURLE_OK) {
		log_error("libcurl initialisation failed: %s", curl_easy_strerror(kc_curl_init_rc));
		return -EIO;
	}
	if (!cfg->server)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	c->insecure = cfg->insecure;
	c->ca_len = cfg->ca_len;
	c->cert_len = cfg->cert_len;
	c->key_len = cfg->key_len;
	if (kc_dup(&c->server, cfg->server) || kc_dup(&c->ca_file, cfg->ca_file) ||
	    kc_dupmem(&c->ca_data, cfg->ca_data, cfg->ca_len) ||
	    kc_dup(&c->cert_file, cfg->cert_file) || kc_dup(&c->key_file, cfg->key_file) ||
	    kc_dupmem(&c->cert_data, cfg->cert_data, cfg->cert_len) ||
	    kc_dupmem(&c->key_data, cfg->key_data, cfg->key_len) || kc_dup(&c->token, cfg->token) ||
	    kc_dup(&c->token_file, cfg->token_file))
		goto nomem;
	c->share = curl_share_init();
	if (!c->share)
		goto nomem;
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, kc_share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, kc_share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	*out = c;
	return 0;
nomem:
	kube_client_free(c);
	return -ENOMEM;
}

void kube_client_free(struct kube_client *c)
{
	int i;

	if (!c)
		return;
	if (c->share)
		curl_share_cleanup(c->share);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	pthread_mutex_destroy(&c->lock);
	free(c->server);
	free(c->ca_file);
	free(c->ca_data);
	free(c->cert_file);
	free(c->key_file);
	free(c->cert_data);
	free(c->key_data);
	free(c->token);
	free(c->token_file);
	free(c);
}

const char *kube_client_server(const struct kube_client *c)
{
	return c->server;
}

/* The token file's content without surrounding whitespace. 0 or -errno. */
static int kc_read_token(const char *path, char **out)
{
	FILE *f = fopen(path, "re");
	char buf[16384];
	size_t n, b = 0;
	int err;

	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	err = ferror(f) ? -EIO : 0;
	fclose(f);
	if (err)
		return err;
	buf[n] = 0;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
		     buf[n - 1] == '\t'))
		buf[--n] = 0;
	while (buf[b] == ' ' || buf[b] == '\t' || buf[b] == '\n' || buf[b] == '\r')
		b++;
	if (!buf[b])
		return -ENODATA;
	*out = strdup(buf + b);
	return *out ? 0 : -ENOMEM;
}

/* The bearer token to send (a copy, NULL when none): token_file re-read
 * when force or older than 60 s; on a read failure the last one is kept. */
static char *kc_token(struct kube_client *c, bool force)
{
	char *tok = NULL;

	pthread_mutex_lock(&c->lock);
	if (c->token_file &&
	    (force || !c->token_read_at || kc_now() - c->token_read_at >= KC_TOKEN_MAX_AGE_S)) {
		char *fresh = NULL;
		int err = kc_read_token(c->token_file, &fresh);

		c->token_read_at = kc_now();
		if (!err) {
			if (c->token && strcmp(c->token, fresh))
				log_debug("bearer token re-read from %s (changed)", c->token_file);
			free(c->token);
			c->token = fresh;
		} else {
			log_warn("cannot read the bearer token from %s: %s%s", c->token_file,
				 strerror(-err), c->token ? "; keeping the previous one" : "");
		}
	}
	if (c->token)
		tok = strdup(c->token);
	pthread_mutex_unlock(&c->lock);
	return tok;
}

struct kc_req {
	kube_body_fn fn;
	void *arg;
	double idle_s;
	struct kube_cancel *cancel;
	struct kube_response *resp;
	CURL *h;
	double last_rx;
	int err;	    /* set by a callback that aborted */
	bool discard;	    /* a 401 about to be retried: its body is not the caller's */
	bool may_retry_401; /* this attempt may be retried after a 401 */
	bool status_known;
};

static size_t kc_on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct kc_req *r = arg;
	size_t len = size * nmemb;
	int err;

	r->last_rx = kc_now();
	if (!r->status_known) {
		long code = 0;

		curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &code);
		r->status_known = true;
		r->resp->status = code;
		r->discard = code == 401 && r->may_retry_401;
	}
	if (r->discard || !len)
		return len;
	err = r->fn(ptr, len, r->arg);
	if (err) {
		r->err = err < 0 ? err : -EIO;
		return 0; /* CURLE_WRITE_ERROR */
	}
	return len;
}

static double kc_parse_retry_after(const char *v)
{
	char *end;
	double s;
	time_t t;

	while (*v == ' ' || *v == '\t')
		v++;
	s = strtod(v, &end);
	if (end != v) {
		while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
			end++;
		if (!*end && s >= 0)
			return s;
	}
	t = curl_getdate(v, NULL);
	if (t != (time_t)-1) {
		double d = difftime(t, time(NULL));

		return d > 0 ? d : 0;
	}
	return -1;
}

static size_t kc_on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct kc_req *r = arg;
	size_t len = size * nmemb;
	static const char ra[] = "retry-after:";

	r->last_rx = kc_now();
	if (len >= 5 && !strncmp(ptr, "HTTP/", 5)) {
		/* a new response (after a 100 Continue, say) */
		r->resp->retry_after_s = -1;
		r->status_known = false;
	} else if (len > sizeof(ra) - 1 && !strncasecmp(ptr, ra, sizeof(ra) - 1)) {
		char v[128];
		size_t n = len - (sizeof(ra) - 1);

		if (n >= sizeof(v))
			n = sizeof(v) - 1;
		memcpy(v, ptr + sizeof(ra) - 1, n);
		v[n] = 0;
		r->resp->retry_after_s = kc_parse_retry_after(v);
	}
	return len;
}

static int kc_on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			  curl_off_t ulnow)
{
	struct kc_req *r = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (r->cancel && __atomic_load_n(&r->cancel->stop, __ATOMIC_RELAXED)) {
		r->err = -ECANCELED;
		return 1;
	}
	if (r->idle_s > 0 && kc_now() - r->last_rx > r->idle_s) {
		r->err = -ETIMEDOUT;
		return 1;
	}
	return 0;
}

static int kc_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return -ECONNRESET;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_USE_SSL_FAILED:
		return -EPROTO;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EINVAL;
	default:
		return -EIO;
	}
}

static int kc_setup(struct kube_client *c, CURL *h, const char *url, struct kc_req *r,
		    struct curl_slist **hdrs, const char *token)
{
	struct curl_slist *l = NULL, *n;
	char *auth = NULL;

	n = curl_slist_append(l, "Accept: application/json");
	if (!n)
		return -ENOMEM;
	l = n;
	if (token) {
		if (asprintf(&auth, "Authorization: Bearer %s", token) < 0)
			goto nomem;
		n = curl_slist_append(l, auth);
		free(auth);
		if (!n)
			goto nomem;
		l = n;
	}
	*hdrs = l;

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "npbpf/0.1");
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, KC_CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 15L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, kc_on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, kc_on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, kc_on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, r);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (c->ca_data) {
		struct curl_blob blob = {
			.data = c->ca_data, .len = c->ca_len, .flags = CURL_BLOB_COPY};

		/* only the cluster's CA, not the system's too */
		curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
	} else if (c->ca_file) {
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	}
	if (c->cert_data) {
		struct curl_blob blob = {
			.data = c->cert_data, .len = c->cert_len, .flags = CURL_BLOB_COPY};

		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
	} else if (c->cert_file) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert_file);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (c->key_data) {
		struct curl_blob blob = {
			.data = c->key_data, .len = c->key_len, .flags = CURL_BLOB_COPY};

		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	} else if (c->key_file) {
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->key_file);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	}
	return 0;
nomem:
	curl_slist_free_all(l);
	return -ENOMEM;
}

/* One attempt. 0 with resp filled, or -errno. */
static int kc_attempt(struct kube_client *c, const char *url, const char *path, struct kc_req *r,
		      bool force_token)
{
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	char *token = kc_token(c, force_token);
	CURL *h = curl_easy_init();
	CURLcode rc;
	int err;

	if (!h) {
		free(token);
		return -ENOMEM;
	}
	r->h = h;
	r->err = 0;
	r->discard = false;
	r->status_known = false;
	r->last_rx = kc_now();
	r->resp->status = 0;
	r->resp->retry_after_s = -1;
	r->resp->error[0] = 0;
	err = kc_setup(c, h, url, r, &hdrs, token);
	free(token);
	if (err) {
		curl_easy_cleanup(h);
		return err;
	}
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->resp->status);
	if (rc == CURLE_OK) {
		err = 0;
	} else if (r->err) {
		err = r->err;
		snprintf(r->resp->error, sizeof(r->resp->error), "%s", strerror(-err));
	} else {
		err = kc_errno(rc);
		snprintf(r->resp->error, sizeof(r->resp->error), "%s",
			 errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
	if (err && err != -ECANCELED)
		log_debug("GET %s: %s", path, r->resp->error);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return err;
}

int kube_get(struct kube_client *c, const char *path, kube_body_fn fn, void *arg, double idle_s,
	     struct kube_cancel *cancel, struct kube_response *resp)
{
	struct kc_req r = {.fn = fn, .arg = arg, .idle_s = idle_s, .cancel = cancel, .resp = resp};
	char *url;
	int err;

	resp->status = 0;
	resp->retry_after_s = -1;
	resp->error[0] = 0;
	if (asprintf(&url, "%s%s", c->server, path) < 0)
		return -ENOMEM;
	r.may_retry_401 = c->token_file != NULL;
	err = kc_attempt(c, url, path, &r, false);
	if (!err && resp->status == 401 && r.may_retry_401) {
		log_debug("GET %s: 401 Unauthorized, re-reading the token from %s and retrying",
			  path, c->token_file);
		r.may_retry_401 = false;
		err = kc_attempt(c, url, path, &r, true);
	}
	free(url);
	return err;
}

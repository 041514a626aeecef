/* http.c - one bounded HTTP exchange over libcurl. */
#include "config.h"
#include "http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEFAULT_TIMEOUT 60L
#define DEFAULT_MAX (1024u * 1024u)

typedef struct sink {
	ofp_http_resp_t *resp;
	size_t max;
	bool too_big;
} sink_t;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static bool host_is(const char *rest, const char *host)
{
	size_t n = strlen(host);
	return strncasecmp(rest, host, n) == 0 && (rest[n] == ':' || rest[n] == '/' || rest[n] == '\0');
}

bool ofp_http_url_allowed(const char *url)
{
	if (strncasecmp(url, "https://", 8) == 0)
		return url[8] != '\0';
	if (strncasecmp(url, "http://", 7) != 0)
		return false;
	url += 7;
	return host_is(url, "127.0.0.1") || host_is(url, "[::1]") || host_is(url, "localhost");
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	sink_t *s = ctx;
	size_t len = size * n;
	uint8_t *p;

	if (len > s->max - s->resp->len) {
		s->too_big = true;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	p = realloc(s->resp->body, s->resp->len + len + 1);
	if (p == NULL)
		return 0;
	memcpy(p + s->resp->len, data, len);
	s->resp->body = p;
	s->resp->len += len;
	p[s->resp->len] = '\0';
	return len;
}

/* "ETag: value" -> resp->etag (the last one). */
static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	ofp_http_resp_t *r = ctx;
	size_t len = size * n, v;

	if (len > 5 && strncasecmp(data, "ETag:", 5) == 0) {
		v = 5;
		while (v < len && data[v] == ' ')
			v++;
		size_t end = len;
		while (end > v && (data[end - 1] == '\r' || data[end - 1] == '\n' || data[end - 1] == ' '))
			end--;
		if (end - v < sizeof(r->etag))
			snprintf(r->etag, sizeof(r->etag), "%.*s", (int)(end - v), data + v);
	}
	return len;
}

static struct curl_slist *request_headers(const ofp_http_req_t *req)
{
	struct curl_slist *h = NULL, *t;
	char line[160];

	h = curl_slist_append(NULL, "Accept: application/json, application/octet-stream");
	if (h != NULL && req->content_type != NULL) {
		snprintf(line, sizeof(line), "Content-Type: %s", req->content_type);
		t = curl_slist_append(h, line);
		h = t != NULL ? t : h;
	}
	if (h != NULL && req->if_none_match != NULL && strlen(req->if_none_match) < 100) {
		snprintf(line, sizeof(line), "If-None-Match: %s", req->if_none_match);
		t = curl_slist_append(h, line);
		h = t != NULL ? t : h;
	}
	if (h != NULL && req->authorization != NULL && strlen(req->authorization) < 120) {
		snprintf(line, sizeof(line), "Authorization: %s", req->authorization);
		t = curl_slist_append(h, line);
		h = t != NULL ? t : h;
	}
	/* No "Expect: 100-continue" round trip for batch uploads. */
	t = curl_slist_append(h, "Expect:");
	return t != NULL ? t : h;
}

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t ofp_http_deadline(long seconds)
{
	return monotonic_ms() + (uint64_t)(seconds > 0 ? seconds : 0) * 1000u;
}

/* Milliseconds this exchange may take: the time-out, cut to what is left
 * before the deadline; 0 when the deadline has passed. */
static long exchange_ms(const ofp_http_opts_t *o)
{
	long ms = (o->timeout != 0 ? o->timeout : DEFAULT_TIMEOUT) * 1000L;
	uint64_t now;

	if (o->deadline_ms == 0)
		return ms;
	now = monotonic_ms();
	if (now >= o->deadline_ms)
		return 0;
	return o->deadline_ms - now < (uint64_t)ms ? (long)(o->deadline_ms - now) : ms;
}

int ofp_http_do(const ofp_http_opts_t *o, const ofp_http_req_t *req, ofp_http_resp_t *resp, char *err,
		size_t err_len)
{
	sink_t sink = { resp, o->max_response != 0 ? o->max_response : DEFAULT_MAX, false };
	struct curl_slist *headers = NULL;
	char cerr[CURL_ERROR_SIZE] = "";
	const char *ct = NULL;
	long time_ms;
	CURLcode rc;
	CURL *c;

	memset(resp, 0, sizeof(*resp));
	if (!ofp_http_url_allowed(req->url)) {
		snprintf(err, err_len, "%s: https only (plain http to 127.0.0.1, [::1] or localhost)", req->url);
		return -1;
	}
	time_ms = exchange_ms(o);
	if (time_ms == 0) {
		snprintf(err, err_len, "%s: not asked, the time allowed for the exchange is spent", req->url);
		return -1;
	}
	pthread_once(&curl_once, curl_init);
	c = curl_easy_init();
	headers = c != NULL ? request_headers(req) : NULL;
	if (c == NULL || headers == NULL) {
		curl_slist_free_all(headers);
		if (c != NULL)
			curl_easy_cleanup(c);
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, time_ms);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
	if (o->cacert != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->cacert);
	if (strcmp(req->method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body != NULL ? (const char *)req->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
		if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != NULL)
			snprintf(resp->content_type, sizeof(resp->content_type), "%s", ct);
	}
	curl_slist_free_all(headers);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		if (sink.too_big)
			snprintf(err, err_len, "%s: response larger than %zu bytes", req->url, sink.max);
		else
			snprintf(err, err_len, "%s: %s", req->url, cerr[0] != '\0' ? cerr : curl_easy_strerror(rc));
		ofp_http_resp_free(resp);
		return -1;
	}
	if (resp->body == NULL && (resp->body = calloc(1, 1)) == NULL) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	return 0;
}

void ofp_http_resp_free(ofp_http_resp_t *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}

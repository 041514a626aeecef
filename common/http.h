/* http.h - the clients' HTTP (offpass-holder, offpass-gate talking to
 * offpass-issuerd), through libcurl: https, or plain http to a loopback
 * host only; no redirects; bounded time and response size. */
#ifndef OFFPASS_HTTP_H
#define OFFPASS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compiler.h"

typedef struct ofp_http_opts {
	const char *cacert;    /* a CA bundle (PEM) to trust instead of the system's; NULL: system */
	long timeout;	       /* seconds for the whole exchange; 0: 60 */
	size_t max_response;   /* bytes; 0: 1 MiB */
	/* CLOCK_MONOTONIC milliseconds (ofp_http_deadline) by which every
	 * exchange made with these options must be over; 0: none. A client
	 * that makes several exchanges in a row (discovery, nonce, credential)
	 * is then bounded as a whole, not once per exchange. */
	uint64_t deadline_ms;
} ofp_http_opts_t;

typedef struct ofp_http_req {
	const char *method; /* "GET", "POST" */
	const char *url;
	const char *content_type;  /* POST body's; NULL: none */
	const uint8_t *body;
	size_t body_len;
	const char *if_none_match; /* NULL: none */
	const char *authorization; /* the Authorization header's value (a secret); NULL: none */
} ofp_http_req_t;

typedef struct ofp_http_resp {
	long status;
	uint8_t *body; /* malloc'ed, NUL-terminated (not counted in len) */
	size_t len;
	char etag[64];
	char content_type[64];
} ofp_http_resp_t;

/* True for https:// URLs, and http:// ones whose host is 127.0.0.1,
 * [::1] or localhost. */
bool ofp_http_url_allowed(const char *url);
/* One exchange. 0 with resp filled (any status), or -1 with err (no
 * answer: refused URL, connection, TLS, time-out, response too big). */
int ofp_http_do(const ofp_http_opts_t *o, const ofp_http_req_t *req, ofp_http_resp_t *resp, char *err,
		size_t err_len) OFP_WUR;
void ofp_http_resp_free(ofp_http_resp_t *resp);
/* The deadline_ms seconds from now. */
uint64_t ofp_http_deadline(long seconds);

#endif

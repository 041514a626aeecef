/* offpass-issuerd - the issuer online: OpenID4VCI refresh, gate batches
 * and the signed lists over HTTPS (libmicrohttpd with GnuTLS), on the
 * same issuer directory and ledger as offpass-issuer. The HTTP layer only
 * bounds, reads and logs; issuer/api.c decides.
 *
 * A thread per connection reads, parses and verifies in parallel (on
 * every core); requests borrow one of --handles issuer handles (each its
 * own ledger connection and token session) for their ledger reads and
 * settlements; refreshes and enrollments issue through one committer
 * thread that groups the transactions of concurrent requests into one
 * commit (issuer/committer.h). Several processes may still share one
 * ledger. */
#include "config.h"
#include "issuer/api.h"
#include "issuer/committer.h"
#include "atomic_file.h"
#include "cli.h"
#include "secmem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define PROG "offpass-issuerd"
#define PEM_MAX (64u * 1024u)
#define CONNECTION_TIMEOUT 15
#define CONNECTION_LIMIT 256
#define PER_IP_LIMIT 32
#define HANDLES_DEFAULT 4

typedef struct server {
	ofp_api_t *api;
	ofp_clock_t clock;
	pthread_mutex_t log_lock;
	FILE *log;
} server_t;

/* One request being read. */
typedef struct request_ctx {
	uint8_t *body;
	size_t len, cap, limit;
	bool too_big;
	struct timespec start;
} request_ctx_t;

static const char usage_msg[] =
	"Usage: " PROG " --dir DIR [options]\n"
	"Serve the issuer in DIR over HTTPS: OpenID4VCI metadata, nonces and credential\n"
	"refresh, gate batch settlement, the trust and deny lists (docs/ISSUER.md).\n"
	"\n"
	"  --dir DIR            the issuer directory (offpass-issuer init)\n"
	"  --ledger URL         the ledger (default: issuer.conf's ledger, else DIR/ledger.db);\n"
	"                       several processes may share one PostgreSQL ledger\n"
	"  --listen ADDR:PORT   address to listen on (default 127.0.0.1:8443; [::1]:PORT for IPv6;\n"
	"                       port 0 picks a free one, see --port-file)\n"
	"  --cert FILE --key FILE  TLS certificate chain and key (PEM); without them only a\n"
	"                       loopback address is served, in plain HTTP\n"
	"  --issuer-url URL     the Credential Issuer Identifier proofs must name (default\n"
	"                       http(s)://ADDR:PORT as listened on)\n"
	"  --port-file FILE     write the port listened on (for tests and scripts)\n"
	"  --batch-max BYTES    largest sealed batch accepted (default 8 MiB)\n"
	"  --max-failures N     failed proofs/batches per address and per holder in 10 min (10)\n"
	"  --handles N          issuer handles (ledger connections, token sessions) requests\n"
	"                       share for reads and settlement (1..32, default 4)\n"
	"  --group-max N        most issuances committed in one transaction (1..64, default 64)\n"
	"  --pin-file FILE, --pin-env VAR   the token's user PIN (read at start)\n"
	"  --log FILE           append the request log there (default: standard output)\n";

static void log_request(server_t *s, struct MHD_Connection *conn, const char *method, const char *url,
			const ofp_api_response_t *r, const request_ctx_t *ctx, const char *peer)
{
	struct timespec end;
	char when[32];
	time_t t = time(NULL);
	struct tm tm;
	double ms;

	(void)conn;
	clock_gettime(CLOCK_MONOTONIC, &end);
	ms = (double)(end.tv_sec - ctx->start.tv_sec) * 1e3 + (double)(end.tv_nsec - ctx->start.tv_nsec) / 1e6;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* The url is the path we routed on: no query string (none is used)
	 * and never a body, a code, a token or a proof. */
	pthread_mutex_lock(&s->log_lock);
	fprintf(s->log, "%s %s %s %s %u %zu %.1fms %s\n", when, peer, method, url, r->status, r->body_len, ms,
		r->summary[0] != '\0' ? r->summary : "-");
	fflush(s->log);
	pthread_mutex_unlock(&s->log_lock);
}

static void peer_text(struct MHD_Connection *conn, char *out, size_t len)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

	snprintf(out, len, "?");
	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)len);
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, (socklen_t)len);
}

static enum MHD_Result send_response(server_t *s, struct MHD_Connection *conn, const char *method, const char *url,
				     ofp_api_response_t *r, request_ctx_t *ctx, const char *peer)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char retry[16];

	resp = MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		ofp_api_response_free(r);
		return MHD_NO;
	}
	r->body = NULL; /* MHD frees it */
	if (r->content_type != NULL && r->status != 304)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	if (r->etag[0] != '\0')
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, r->etag);
	if (r->no_store)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (r->retry_after != 0) {
		snprintf(retry, sizeof(retry), "%" PRIu32, r->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry);
	}
	log_request(s, conn, method, url, r, ctx, peer);
	ret = MHD_queue_response(conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Take the next piece of the body, within the route's limit. */
static void take_upload(request_ctx_t *ctx, const char *data, size_t n)
{
	if (ctx->too_big || n > ctx->limit - ctx->len) {
		ctx->too_big = true;
		return;
	}
	if (ctx->len + n > ctx->cap) {
		size_t cap = ctx->cap == 0 ? 4096 : ctx->cap;
		uint8_t *p;
		while (cap < ctx->len + n)
			cap *= 2;
		if (cap > ctx->limit)
			cap = ctx->limit;
		p = realloc(ctx->body, cap);
		if (p == NULL) {
			ctx->too_big = true;
			return;
		}
		ctx->body = p;
		ctx->cap = cap;
	}
	memcpy(ctx->body + ctx->len, data, n);
	ctx->len += n;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	server_t *s = cls;
	request_ctx_t *ctx = *con_cls;
	ofp_api_request_t req;
	ofp_api_response_t r;
	char peer[64];
	const char *cl;

	(void)version;
	peer_text(conn, peer, sizeof(peer));
	if (ctx == NULL) {
		ctx = calloc(1, sizeof(*ctx));
		if (ctx == NULL)
			return MHD_NO;
		clock_gettime(CLOCK_MONOTONIC, &ctx->start);
		ctx->limit = ofp_api_body_limit(s->api, method, url);
		*con_cls = ctx;
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && strtoull(cl, NULL, 10) > ctx->limit)
			ctx->too_big = true; /* answered below without reading the body */
		else
			return MHD_YES;
	}
	if (*upload_size != 0 && !ctx->too_big) {
		take_upload(ctx, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	*upload_size = 0;
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = url;
	req.peer = peer;
	req.content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	req.authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	req.if_none_match = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	req.body = ctx->body != NULL ? ctx->body : (const uint8_t *)"";
	req.body_len = ctx->len;
	if (ctx->too_big) {
		memset(&r, 0, sizeof(r));
		r.status = 413;
		r.content_type = "application/json";
		r.body = strdup("{\"error\":\"invalid_request\",\"error_description\":\"body too long\",\"field\":\"body\"}");
		r.body_len = r.body != NULL ? strlen(r.body) : 0;
		snprintf(r.summary, sizeof(r.summary), "invalid_request body: too long");
	} else {
		ofp_api_handle(s->api, &req, ofp_clock_now(&s->clock), &r);
	}
	return send_response(s, conn, method, url, &r, ctx, peer);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	request_ctx_t *ctx = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (ctx != NULL) {
		free(ctx->body);
		free(ctx);
		*con_cls = NULL;
	}
}

/* ---- start-up ------------------------------------------------------------------------------- */

typedef struct options {
	const char *dir, *listen, *cert, *key, *issuer_url, *port_file, *pin_file, *pin_env, *log, *ledger;
	unsigned handles, group_max;
	ofp_api_config_t api;
	ofp_clock_t clock;
} options_t;

enum { OPT_DIR = 256, OPT_LISTEN, OPT_CERT, OPT_KEY, OPT_URL, OPT_PORT_FILE, OPT_BATCH_MAX, OPT_MAX_FAIL,
       OPT_PIN_FILE, OPT_PIN_ENV, OPT_LOG, OPT_NOW, OPT_HANDLES, OPT_GROUP_MAX, OPT_LEDGER };

static int parse_options(int argc, char **argv, options_t *o)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, OPT_DIR },	     { "listen", required_argument, NULL, OPT_LISTEN },
		{ "cert", required_argument, NULL, OPT_CERT },	     { "key", required_argument, NULL, OPT_KEY },
		{ "issuer-url", required_argument, NULL, OPT_URL },  { "port-file", required_argument, NULL, OPT_PORT_FILE },
		{ "batch-max", required_argument, NULL, OPT_BATCH_MAX },
		{ "max-failures", required_argument, NULL, OPT_MAX_FAIL },
		{ "pin-file", required_argument, NULL, OPT_PIN_FILE }, { "pin-env", required_argument, NULL, OPT_PIN_ENV },
		{ "log", required_argument, NULL, OPT_LOG },	     { "now", required_argument, NULL, OPT_NOW },
		{ "handles", required_argument, NULL, OPT_HANDLES }, { "group-max", required_argument, NULL, OPT_GROUP_MAX },
		{ "ledger", required_argument, NULL, OPT_LEDGER },
		{ "help", no_argument, NULL, 'h' },		     { 0 }
	};
	uint64_t v;
	int c;

	o->listen = "127.0.0.1:8443";
	o->handles = HANDLES_DEFAULT;
	o->group_max = OFP_COMMITTER_GROUP_MAX;
	ofp_api_config_defaults(&o->api);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(usage_msg, stdout); return -1;
		case OPT_DIR: o->dir = optarg; break;
		case OPT_LISTEN: o->listen = optarg; break;
		case OPT_CERT: o->cert = optarg; break;
		case OPT_KEY: o->key = optarg; break;
		case OPT_URL: o->issuer_url = optarg; break;
		case OPT_PORT_FILE: o->port_file = optarg; break;
		case OPT_PIN_FILE: o->pin_file = optarg; break;
		case OPT_PIN_ENV: o->pin_env = optarg; break;
		case OPT_LOG: o->log = optarg; break;
		case OPT_LEDGER: o->ledger = optarg; break;
		case OPT_BATCH_MAX:
			if (ofp_parse_u64(optarg, OFP_BATCH_MAX + OFP_SEALED_BATCH_OVERHEAD, &v) != 0 || v == 0)
				return ofp_usage("--batch-max: 1..%u bytes", OFP_BATCH_MAX + OFP_SEALED_BATCH_OVERHEAD);
			o->api.batch_max = (size_t)v;
			break;
		case OPT_MAX_FAIL:
			if (ofp_parse_u64(optarg, 1000000, &v) != 0 || v == 0)
				return ofp_usage("--max-failures: 1..1000000");
			o->api.max_failures = (uint32_t)v;
			break;
		case OPT_HANDLES:
			if (ofp_parse_u64(optarg, OFP_API_HANDLES_MAX, &v) != 0 || v == 0)
				return ofp_usage("--handles: 1..%u", OFP_API_HANDLES_MAX);
			o->handles = (unsigned)v;
			break;
		case OPT_GROUP_MAX:
			if (ofp_parse_u64(optarg, OFP_COMMITTER_GROUP_MAX, &v) != 0 || v == 0)
				return ofp_usage("--group-max: 1..%u", OFP_COMMITTER_GROUP_MAX);
			o->group_max = (unsigned)v;
			break;
		case OPT_NOW:
			if (ofp_clock_option(&o->clock, optarg) != OFP_EXIT_OK)
				return OFP_EXIT_USAGE;
			break;
		default: return ofp_usage("unknown option");
		}
	}
	if (optind != argc)
		return ofp_usage("unexpected argument '%s'", argv[optind]);
	if (o->dir == NULL)
		return ofp_usage("--dir is required");
	if ((o->cert == NULL) != (o->key == NULL))
		return ofp_usage("--cert and --key go together");
	return 0;
}

/* "host:port" or "[v6]:port" into a socket address. */
static int parse_listen(const char *text, struct sockaddr_storage *ss, bool *loopback)
{
	char host[128];
	const char *colon = strrchr(text, ':'), *h = text;
	size_t hlen;
	uint32_t port;

	if (colon == NULL || ofp_parse_u32(colon + 1, 65535, &port) != 0)
		return -1;
	hlen = (size_t)(colon - text);
	if (hlen >= 2 && text[0] == '[' && text[hlen - 1] == ']') {
		h = text + 1;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
		return 0;
	}
	return -1;
}

static char *read_pem(const char *path)
{
	unsigned char *data = NULL;
	size_t len = 0;
	char *s;

	if (file_read_all(path, PEM_MAX, &data, &len) != 0)
		return NULL;
	s = realloc(data, len + 1);
	if (s == NULL) {
		free(data);
		return NULL;
	}
	s[len] = '\0';
	return s;
}

static struct MHD_Daemon *start_daemon(server_t *s, const options_t *o, const struct sockaddr_storage *ss,
				       char *cert, char *key)
{
	/* A thread per connection: a request waiting for its group's commit
	 * holds only its own thread. */
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
			 MHD_USE_AUTO;

	if (ss->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (cert != NULL) {
		flags |= MHD_USE_TLS;
		return MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, ss,
					MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_HTTPS_MEM_KEY, key,
					MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT,
					MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
					MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)PER_IP_LIMIT,
					MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
	}
	return MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, ss,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT, MHD_OPTION_CONNECTION_LIMIT,
				(unsigned)CONNECTION_LIMIT, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)PER_IP_LIMIT,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
}

static int write_port(const char *path, uint16_t port)
{
	char text[16];
	int n = snprintf(text, sizeof(text), "%u\n", (unsigned)port);
	return atomic_file_write(path, text, (size_t)n, 0644);
}

/* Serve until SIGINT or SIGTERM. Signals are blocked before MHD starts its
 * thread, so only this one takes them. */
static int serve(server_t *s, const options_t *o, const struct sockaddr_storage *ss, char *cert, char *key,
		 const char *scheme)
{
	sigset_t set;
	int sig = 0;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *di;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	d = start_daemon(s, o, ss, cert, key);
	if (d == NULL)
		return ofp_fail("cannot listen on %s (in use? TLS files valid?)", o->listen);
	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	/* The URL with the port picked (port 0) is set before the port is
	 * told to anyone: requests run on their own threads meanwhile. */
	if (o->issuer_url == NULL && di != NULL) {
		char url[300], host[128];
		const char *colon = strrchr(o->listen, ':');
		snprintf(host, sizeof(host), "%.*s", (int)(colon - o->listen), o->listen);
		snprintf(url, sizeof(url), "%s://%s:%u", scheme, host, (unsigned)di->port);
		if (ofp_api_set_issuer_url(s->api, url) != 0) {
			MHD_stop_daemon(d);
			return ofp_fail("issuer URL '%s' too long", url);
		}
	}
	if (o->port_file != NULL && (di == NULL || write_port(o->port_file, di->port) != 0)) {
		MHD_stop_daemon(d);
		return ofp_fail("cannot write %s", o->port_file);
	}
	fprintf(stderr, "%s: serving %s on %s port %u\n", PROG, scheme, o->listen, di != NULL ? (unsigned)di->port : 0u);
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	fprintf(stderr, "%s: stopped (signal %d)\n", PROG, sig);
	return OFP_EXIT_OK;
}

/* One issuer handle on the directory, logged in to its token. */
static int open_handle(const options_t *o, ofp_issuer_t **iss)
{
	ofp_issuer_args_t a = { 0 };
	char err[1024];

	a.dir = o->dir;
	a.now = ofp_clock_now(&o->clock);
	a.pin_file = o->pin_file;
	a.pin_env = o->pin_env;
	a.ledger = o->ledger;
	if (ofp_issuer_open(&a, iss, err, sizeof(err)) != OFP_ISSUER_OK)
		return ofp_fail("%s", err);
	if (ofp_issuer_unlock(*iss) != OFP_ISSUER_OK)
		return ofp_fail("%s", ofp_issuer_error(*iss));
	return OFP_EXIT_OK;
}

/* The handles requests borrow (the first is the API's own), and the
 * committer's. */
typedef struct handles {
	ofp_issuer_t *lent[OFP_API_HANDLES_MAX];
	unsigned n;
	ofp_issuer_t *committing;
	ofp_committer_t *committer;
} handles_t;

static int open_handles(const options_t *o, handles_t *h)
{
	int rc = OFP_EXIT_OK;

	for (h->n = 0; rc == OFP_EXIT_OK && h->n < o->handles; h->n++)
		rc = open_handle(o, &h->lent[h->n]);
	if (rc == OFP_EXIT_OK)
		rc = open_handle(o, &h->committing);
	if (rc == OFP_EXIT_OK && ofp_committer_new(h->committing, o->group_max, &h->committer) != 0)
		rc = ofp_fail("cannot start the committer thread");
	return rc;
}

static int start_api(const options_t *o, const handles_t *h, const uint8_t *mac_key, server_t *s)
{
	char err[1024];

	if (ofp_api_new(h->lent[0], &o->api, mac_key, &s->api, err, sizeof(err)) != 0)
		return ofp_fail("%s", err);
	for (unsigned i = 1; i < h->n; i++)
		if (ofp_api_add_handle(s->api, h->lent[i]) != 0)
			return ofp_fail("too many handles");
	ofp_api_set_committer(s->api, h->committer);
	return OFP_EXIT_OK;
}

/* One line on stderr at the end: what the ledger handles did, so that a
 * bench or an operator sees the round trips per request and how often
 * the database refused a transaction for a concurrent one. */
static void report_ledger(const handles_t *h)
{
	ofp_ledger_stats_t sum = { 0 }, one;
	ofp_committer_stats_t cs = { 0 };

	for (unsigned i = 0; i <= h->n; i++) {
		ofp_issuer_t *iss = i < h->n ? h->lent[i] : h->committing;
		if (iss == NULL)
			continue;
		ofp_ledger_stats(ofp_issuer_ledger(iss), &one);
		sum.transactions += one.transactions;
		sum.commits += one.commits;
		sum.conflicts += one.conflicts;
		sum.statements += one.statements;
		sum.round_trips += one.round_trips;
	}
	if (h->committer != NULL)
		ofp_committer_stats(h->committer, &cs);
	fprintf(stderr,
		"%s: ledger: %" PRIu64 " transactions, %" PRIu64 " committed, %" PRIu64
		" refused for a concurrent one (run again), %" PRIu64 " statements, %" PRIu64
		" round trips; committer: %" PRIu64 " groups, %" PRIu64 " units, %" PRIu64 " group retries\n",
		PROG, sum.transactions, sum.commits, sum.conflicts, sum.statements, sum.round_trips, cs.groups,
		cs.units, cs.retries);
}

static void close_handles(handles_t *h)
{
	ofp_committer_free(h->committer);
	ofp_issuer_close(h->committing);
	for (unsigned i = 0; i < h->n; i++)
		ofp_issuer_close(h->lent[i]);
}

static int run(options_t *o)
{
	struct sockaddr_storage ss;
	bool loopback = false;
	char *cert = NULL, *key = NULL, url[300];
	uint8_t mac_key[OFP_API_KEY_LEN];
	handles_t h;
	server_t s = { 0 };
	int rc = OFP_EXIT_FAILURE;

	memset(&h, 0, sizeof(h));
	pthread_mutex_init(&s.log_lock, NULL);
	if (parse_listen(o->listen, &ss, &loopback) != 0)
		return ofp_usage("--listen: ADDR:PORT with a numeric address ('%s')", o->listen);
	if (o->cert == NULL && !loopback)
		return ofp_usage("plain HTTP only on a loopback address: give --cert and --key");
	if (o->cert != NULL && ((cert = read_pem(o->cert)) == NULL || (key = read_pem(o->key)) == NULL)) {
		rc = ofp_fail("cannot read %s", cert == NULL ? o->cert : o->key);
		goto out;
	}
	rc = open_handles(o, &h);
	if (rc != OFP_EXIT_OK)
		goto out;
	if (ofp_api_load_key(o->dir, mac_key) != 0) {
		rc = ofp_fail("cannot read or create %s/%s", o->dir, OFP_API_KEY_FILE);
		goto out;
	}
	if (o->issuer_url == NULL) {
		snprintf(url, sizeof(url), "%s://%s", cert != NULL ? "https" : "http", o->listen);
		o->api.issuer_url = url;
	} else {
		o->api.issuer_url = o->issuer_url;
	}
	rc = start_api(o, &h, mac_key, &s);
	if (rc != OFP_EXIT_OK)
		goto out;
	s.clock = o->clock;
	s.log = o->log != NULL ? fopen(o->log, "a") : stdout;
	if (s.log == NULL) {
		rc = ofp_fail("cannot open %s: %s", o->log, strerror(errno));
		goto out;
	}
	rc = serve(&s, o, &ss, cert, key, cert != NULL ? "https" : "http");
out:
	if (s.log != NULL && s.log != stdout)
		fclose(s.log);
	secmem_wipe(mac_key, sizeof(mac_key));
	report_ledger(&h);
	close_handles(&h); /* the committer first: it drains its queue */
	ofp_api_free(s.api);
	pthread_mutex_destroy(&s.log_lock);
	if (key != NULL)
		secmem_wipe(key, strlen(key));
	free(key);
	free(cert);
	return rc;
}

int main(int argc, char **argv)
{
	options_t o;
	int rc;

	ofp_set_prog(PROG);
	memset(&o, 0, sizeof(o));
	rc = parse_options(argc, argv, &o);
	if (rc != 0)
		return rc < 0 ? OFP_EXIT_OK : rc;
	return run(&o);
}

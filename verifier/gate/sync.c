/* sync.c - offpass-gate sync: the gate online for a moment. Every batch
 * the issuer has not confirmed goes up (offpass_verifier_next_batch offers
 * the oldest unconfirmed one again until seal_done), each confirmed only
 * on the issuer's "settled" or "already settled"; then newer trust and
 * deny lists come down (ETag / If-None-Match). Safe to run from cron or a
 * loop: one sync at a time per state directory (a lock), any failure
 * leaves every unconfirmed batch to the next run, and a batch sent twice is
 * settled once (the issuer answers "already settled"). */
#include "config.h"
#include "gatecli.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "atomic_file.h"
#include "format/format.h"
#include "http.h"

#define LIST_MAX (85u + 9u * 1048576u)
#define BATCH_RESPONSE_MAX 65536u

static const char sync_help[] =
	"Usage: offpass-gate --dir DIR sync --issuer URL [--cacert FILE]\n"
	"Upload every batch the issuer has not confirmed (the oldest first, sealed\n"
	"again when it was sealed before), confirm each on the issuer's answer\n"
	"(settled or already settled), then install newer trust and deny lists.\n"
	"Safe to repeat: a failure leaves the unconfirmed batches for the next run;\n"
	"a batch the issuer refuses (exit 3) stays unconfirmed for the operator.\n"
	"The clock read is kept first, even when the issuer cannot be reached; a clock\n"
	"set back behind the latest one read is refused (exit 3, nothing sent).\n"
	"https only (plain http to a loopback address); --cacert trusts that CA.\n";

typedef struct sync_args {
	const char *issuer, *cacert;
} sync_args_t;

enum { OPT_ISSUER = 0x300, OPT_CACERT };

static int sync_option(int c, const char *arg, void *ctx)
{
	sync_args_t *a = ctx;

	if (c == OPT_ISSUER)
		a->issuer = arg;
	else if (c == OPT_CACERT)
		a->cacert = arg;
	else
		return ofp_usage("sync: unknown option");
	return -1;
}

/* One sync per state directory at a time: DIR/sync.lock, flock'ed. */
static int lock_dir(int *fd)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/sync.lock", gate_opt.dir);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0)
		return ofp_fail("%s: %s", path, strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		close(*fd);
		*fd = -1;
		return ofp_fail("%s: another sync is running", gate_opt.dir);
	}
	return OFP_EXIT_OK;
}

static void url_join(char *out, size_t len, const char *base, const char *path)
{
	size_t n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	snprintf(out, len, "%.*s%s", (int)n, base, path);
}

/* The issuer's answer to one batch: 0 confirmed, else an exit status. */
static int upload_one(offpass_verifier_t *v, const ofp_http_opts_t *http, const char *url, uint64_t seq,
		      const uint8_t *batch, size_t len)
{
	ofp_http_req_t req = { "POST", url, "application/octet-stream", batch, len, NULL, NULL };
	ofp_http_resp_t resp;
	char err[1024];
	json_t *o;
	const char *result;
	int rv;

	if (ofp_http_do(http, &req, &resp, err, sizeof(err)) != 0)
		return ofp_fail("batch %llu not sent: %s (it will be sent again)", (unsigned long long)seq, err);
	o = json_loadb((const char *)resp.body, resp.len, 0, NULL);
	result = json_string_value(json_object_get(o, "result"));
	if (resp.status == 200 && result != NULL &&
	    (strcmp(result, "settled") == 0 || strcmp(result, "already_settled") == 0)) {
		offpass_status_t st = offpass_verifier_seal_done(v, seq);
		if (st != OFFPASS_STATUS_OK)
			rv = ofp_fail("batch %llu %s at the issuer but not confirmed here: %s", (unsigned long long)seq,
				      result, offpass_verifier_error(v));
		else {
			printf("batch %llu: %s (%lld records, %lld charged, total %lld)\n", (unsigned long long)seq, result,
			       (long long)json_integer_value(json_object_get(o, "records")),
			       (long long)json_integer_value(json_object_get(o, "charged")),
			       (long long)json_integer_value(json_object_get(o, "amount_charged")));
			rv = OFP_EXIT_OK;
		}
	} else if (resp.status == 422) {
		const char *why = json_string_value(json_object_get(o, "error_description"));
		char text[512];

		/* The issuer's text, printable only (no terminal escapes). */
		ofp_fail("batch %llu refused by the issuer: %s (kept, not confirmed: tell the operator)",
			 (unsigned long long)seq, why != NULL ? ofp_printable(why, text, sizeof(text)) : "no reason given");
		rv = OFP_EXIT_REFUSED;
	} else {
		rv = ofp_fail("batch %llu: the issuer answered HTTP %ld (it will be sent again)", (unsigned long long)seq,
			      resp.status);
	}
	json_decref(o);
	ofp_http_resp_free(&resp);
	return rv;
}

static int upload_batches(offpass_verifier_t *v, const ofp_http_opts_t *http, const char *issuer)
{
	char url[1024];
	unsigned sent = 0;

	url_join(url, sizeof(url), issuer, "/gate/batch");
	for (;;) {
		uint8_t *batch = NULL;
		size_t len = 0;
		uint64_t seq = 0;
		offpass_status_t st = offpass_verifier_next_batch(v, gate_now(), &seq, &batch, &len);
		int rv;

		if (st == OFFPASS_STATUS_NOTHING) {
			if (sent == 0)
				printf("no batch to send\n");
			return OFP_EXIT_OK;
		}
		if (st != OFFPASS_STATUS_OK)
			return ofp_fail("%s: cannot seal: %s", gate_opt.dir, offpass_verifier_error(v));
		rv = upload_one(v, http, url, seq, batch, len);
		offpass_free(batch);
		if (rv != OFP_EXIT_OK)
			return rv;
		sent++;
	}
}

/* The ETag remembered for a list, in DIR/<name>.etag. */
static void etag_path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s.etag", gate_opt.dir, name);
}

static void etag_read(const char *name, char *etag, size_t len)
{
	char path[4096];
	unsigned char *data = NULL;
	size_t n = 0;

	etag[0] = '\0';
	etag_path(path, sizeof(path), name);
	if (file_read_all(path, len - 1, &data, &n) == 0) {
		memcpy(etag, data, n);
		etag[n] = '\0';
	}
	free(data);
}

/* The version a fetched list claims (0 when it does not decode). */
static uint64_t served_version(bool trust, const uint8_t *body, size_t len)
{
	ofp_trust_list_t t;
	ofp_deny_list_t d;

	if (trust)
		return ofp_trust_list_decode(body, len, &t, NULL) == OFP_FMT_OK ? t.version : 0;
	return ofp_deny_list_decode(body, len, &d, NULL) == OFP_FMT_OK ? d.version : 0;
}

/* Fetch one list; install it when the issuer has a newer one. Only a list
 * no newer than the installed one is "current"; any other refusal (a bad
 * signature, a list issued ahead of this gate's clock) fails the sync and
 * keeps no ETag, so the next sync fetches it again. */
static int fetch_list(offpass_verifier_t *v, const ofp_http_opts_t *http, const char *issuer, bool trust)
{
	const char *name = trust ? "trust-list" : "deny-list";
	char url[1024], etag[64], path[4096];
	ofp_http_opts_t o = *http;
	ofp_http_req_t req = { "GET", url, NULL, NULL, 0, NULL, NULL };
	ofp_http_resp_t resp;
	char err[1024];
	uint64_t before = trust ? offpass_verifier_trust_version(v) : offpass_verifier_deny_version(v);
	offpass_status_t st;
	int rv = OFP_EXIT_OK;

	url_join(url, sizeof(url), issuer, trust ? "/trust-list" : "/deny-list");
	etag_read(name, etag, sizeof(etag));
	req.if_none_match = etag[0] != '\0' ? etag : NULL;
	o.max_response = LIST_MAX;
	if (ofp_http_do(&o, &req, &resp, err, sizeof(err)) != 0)
		return ofp_fail("%s: %s", name, err);
	if (resp.status == 304) {
		printf("%s: unchanged (version %llu)\n", name, (unsigned long long)before);
	} else if (resp.status != 200) {
		rv = ofp_fail("%s: the issuer answered HTTP %ld", name, resp.status);
	} else {
		st = trust ? offpass_verifier_install_trust_list(v, resp.body, resp.len, gate_now())
			   : offpass_verifier_install_deny_list(v, resp.body, resp.len, gate_now());
		uint64_t after = trust ? offpass_verifier_trust_version(v) : offpass_verifier_deny_version(v);
		uint64_t served = served_version(trust, resp.body, resp.len);
		if (st == OFFPASS_STATUS_OK)
			printf("%s: installed version %llu (was %llu)\n", name, (unsigned long long)after,
			       (unsigned long long)before);
		else if (st == OFFPASS_STATUS_REJECTED && served != 0 && served <= after)
			printf("%s: version %llu is current\n", name, (unsigned long long)after);
		else
			rv = ofp_fail("%s: not installed: %s", name, offpass_verifier_error(v));
		etag_path(path, sizeof(path), name);
		if (rv == OFP_EXIT_OK && resp.etag[0] != '\0' &&
		    atomic_file_write(path, resp.etag, strlen(resp.etag), 0644) != 0)
			rv = ofp_fail("%s: cannot write", path);
	}
	ofp_http_resp_free(&resp);
	return rv;
}

int gate_cmd_sync(int argc, char **argv)
{
	static const struct option longopts[] = {
		GATE_COMMON_OPTIONS,
		{ "issuer", required_argument, NULL, OPT_ISSUER },
		{ "cacert", required_argument, NULL, OPT_CACERT },
		{ NULL, 0, NULL, 0 },
	};
	sync_args_t a = { NULL, NULL };
	ofp_http_opts_t http = { 0 };
	offpass_verifier_t *v = NULL;
	gate_conf_t conf;
	int lock = -1, rv = gate_getopt(argc, argv, longopts, sync_help, sync_option, &a);

	if (rv != -1)
		return rv;
	if (optind != argc || a.issuer == NULL)
		return ofp_usage("sync: give --issuer URL and nothing else");
	http.cacert = a.cacert;
	http.max_response = BATCH_RESPONSE_MAX;
	if ((rv = gate_need_dir()) != OFP_EXIT_OK || (rv = lock_dir(&lock)) != OFP_EXIT_OK)
		return rv;
	rv = gate_open(&conf, &v);
	/* The clock before the network: a sync that cannot reach the issuer
	 * still moves the gate's clock mark (VERIFIER.md 3.4), and a clock
	 * set back behind it stops here. */
	if (rv == OFP_EXIT_OK && (rv = gate_note_time(v)) != OFP_EXIT_OK) {
		offpass_verifier_close(v);
		v = NULL;
	}
	if (rv == OFP_EXIT_OK)
		rv = upload_batches(v, &http, a.issuer);
	/* Lists even after a failed upload: a revocation must not wait for it. */
	if (v != NULL) {
		int lrv = fetch_list(v, &http, a.issuer, true);
		int drv = fetch_list(v, &http, a.issuer, false);
		if (rv == OFP_EXIT_OK)
			rv = lrv != OFP_EXIT_OK ? lrv : drv;
		offpass_verifier_close(v);
	}
	close(lock);
	return rv;
}

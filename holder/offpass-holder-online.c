/* offpass-holder-online.c - the commands that ask offpass-issuerd
 * (holder/online.h): enroll --issuer and refresh. */
#include "config.h"

#include <stdio.h>

#include "holder/offpass-holder_int.h"
#include "holder/online.h"

/* enroll --issuer: the same code, redeemed online; the credential installed. */
int enroll_online(const char *issuer, const char *cacert, const char *trust, const uint8_t hid[OFP_ID_LEN],
		  const uint8_t code[OFP_ENROLL_CODE_LEN])
{
	char err[OFP_HOLDER_ERR_LEN], validity[64];
	ofp_http_opts_t http = { 0 };
	ofp_credential_t c;
	ofp_cred_place_t place;
	session_t s;
	int rv;

	http.cacert = cacert;
	rv = session_open(&s, true, true);
	if (rv == OFP_EXIT_OK)
		rv = session_state_dir(&s);
	if (rv == OFP_EXIT_OK)
		rv = pin_trust_file(&s, trust);
	if (rv == OFP_EXIT_OK)
		rv = holder_exit(ofp_holder_enroll_online(s.p, &s.key, s.dir, hid, code, issuer, &http, now(), &c, &place,
							  err, sizeof(err)),
				 err);
	if (rv == OFP_EXIT_OK) {
		ofp_holder_validity_text(&c, now(), validity, sizeof(validity));
		install_report(&s, &c, &place, validity);
	}
	session_close(&s);
	return rv;
}

/* ---- present --issuer: the refresh step -------------------------------------- */

/* After a failed attempt, wait this long before the next one, so that
 * a --refresh loop with the issuer out of reach does not ask every code. */
#define PRESENT_RETRY 60u
/* An exchange while a code is due: a holder at a gate cannot wait long. */
#define PRESENT_HTTP_TIMEOUT 10L
#define PRESENT_MARGIN_MAX 3600u

static uint32_t default_margin(const ofp_credential_t *c)
{
	uint32_t tenth = c->not_after > c->not_before ? (c->not_after - c->not_before) / 10 : 0;

	return tenth < PRESENT_MARGIN_MAX ? tenth : PRESENT_MARGIN_MAX;
}

/* The credential held that ends last: the installed one, or the kept
 * next window when it follows on. -1 when none is installed. */
static int last_held(session_t *s, ofp_credential_t *out)
{
	char err[OFP_HOLDER_ERR_LEN];
	ofp_credential_t next;

	if (ofp_holder_credential_dir(s->p, &s->key, s->dir, out, NULL, err, sizeof(err)) != OFP_HOLDER_OK)
		return -1;
	if (ofp_holder_next_valid(&s->key, s->dir, out->not_after, &next) == 0 && next.not_after > out->not_after)
		*out = next;
	return 0;
}

static bool refresh_due(session_t *s, const present_online_t *o, uint32_t now)
{
	ofp_credential_t held;
	uint32_t margin;

	if (last_held(s, &held) != 0)
		return true; /* the issuer says why it cannot help */
	margin = o->margin_set ? o->margin : default_margin(&held);
	return (uint64_t)now + margin >= held.not_after;
}

void present_online_step(session_t *s, present_online_t *o, uint32_t now, FILE *info)
{
	char err[OFP_HOLDER_ERR_LEN], validity[64];
	ofp_http_opts_t http = { 0 };
	ofp_credential_t c;
	ofp_cred_place_t place;

	if (o->issuer == NULL)
		return;
	/* The next window has begun: it becomes the installed credential. */
	if (ofp_holder_next_promote(s->p, &s->key, s->dir, now, err, sizeof(err)) != OFP_HOLDER_OK)
		ofp_fail("warning: %s", err);
	if (now < o->retry_at || !refresh_due(s, o, now))
		return;
	http.cacert = o->cacert;
	http.timeout = PRESENT_HTTP_TIMEOUT;
	/* The whole refresh (discovery, nonce, credential), not each step. */
	http.deadline_ms = ofp_http_deadline(PRESENT_HTTP_TIMEOUT);
	if (ofp_holder_refresh_online(s->p, &s->key, s->dir, o->issuer, &http, now, &c, &place, err, sizeof(err)) !=
	    OFP_HOLDER_OK) {
		o->retry_at = now + PRESENT_RETRY;
		ofp_fail("warning: refresh at %s failed: %s; presenting the credential held", o->issuer, err);
		return;
	}
	ofp_holder_validity_text(&c, now, validity, sizeof(validity));
	fprintf(info, "refreshed online: credential serial %llu, %s%s\n", (unsigned long long)c.serial, validity,
		c.not_before > now ? " (the next window, kept until it begins)" : "");
}

/* ---- refresh (online) ------------------------------------------------------ */

int cmd_refresh(int argc, char **argv)
{
	enum { OPT_ISSUER = 0x200, OPT_CACERT, OPT_TRUST };
	static const struct option opts[] = { { "issuer", required_argument, NULL, OPT_ISSUER },
					       { "cacert", required_argument, NULL, OPT_CACERT },
					       { "trust", required_argument, NULL, OPT_TRUST }, GLOBAL_OPTIONS,
					       { NULL, 0, NULL, 0 } };
	char err[OFP_HOLDER_ERR_LEN], validity[64];
	const char *issuer = NULL, *trust = NULL;
	ofp_http_opts_t http = { 0 };
	ofp_credential_t c;
	ofp_cred_place_t place;
	session_t s = { 0 };
	int opt, rv;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h')
			return help("refresh --issuer URL [--cacert FILE] [--trust FILE]\n"
				    "Get the next credential from offpass-issuerd: show the installed one (still\n"
				    "valid) and prove, with a JWT the token signs, that this token holds its key.\n"
				    "The answer is checked against the pinned issuer trust list (a newer list the\n"
				    "issuer serves is taken only when the pinned one's key signed it) and installed\n"
				    "as by 'install'. https only (plain http to a loopback address); --cacert trusts\n"
				    "that CA instead of the system's; --trust pins the issuer's trust.bin first.\n");
		if (opt == OPT_ISSUER)
			issuer = optarg;
		else if (opt == OPT_CACERT)
			http.cacert = optarg;
		else if (opt == OPT_TRUST)
			trust = optarg;
		else if ((rv = global_option("refresh", opt, optarg)) != OFP_EXIT_OK)
			return rv;
	}
	if (issuer == NULL || optind != argc)
		return ofp_usage("refresh: give --issuer URL and nothing else");
	rv = session_open(&s, true, true);
	if (rv == OFP_EXIT_OK)
		rv = session_state_dir(&s);
	if (rv == OFP_EXIT_OK)
		rv = pin_trust_file(&s, trust);
	if (rv == OFP_EXIT_OK)
		rv = holder_exit(ofp_holder_refresh_online(s.p, &s.key, s.dir, issuer, &http, now(), &c, &place, err,
							   sizeof(err)),
				 err);
	if (rv == OFP_EXIT_OK) {
		ofp_holder_validity_text(&c, now(), validity, sizeof(validity));
		if (c.not_before > now()) {
			char from[64];
			ofp_holder_time_text(c.not_before, from, sizeof(from));
			printf("next credential serial %llu from %s kept in %s; the current one stays in use until then\n",
			       (unsigned long long)c.serial, from, place.path);
		} else {
			install_report(&s, &c, &place, validity);
		}
	}
	session_close(&s);
	return rv;
}

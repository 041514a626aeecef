/* offpass-holder-online.c - the commands that ask offpass-issuerd
 * (holder/online.h): enroll --issuer and refresh. */
#include "config.h"

#include <stdio.h>

#include "holder/offpass-holder_int.h"
#include "holder/online.h"

/* enroll --issuer: the same code, redeemed online; the credential installed. */
int enroll_online(const char *issuer, const char *cacert, const uint8_t hid[OFP_ID_LEN],
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

/* ---- refresh (online) ------------------------------------------------------ */

int cmd_refresh(int argc, char **argv)
{
	enum { OPT_ISSUER = 0x200, OPT_CACERT };
	static const struct option opts[] = { { "issuer", required_argument, NULL, OPT_ISSUER },
					       { "cacert", required_argument, NULL, OPT_CACERT }, GLOBAL_OPTIONS,
					       { NULL, 0, NULL, 0 } };
	char err[OFP_HOLDER_ERR_LEN], validity[64];
	const char *issuer = NULL;
	ofp_http_opts_t http = { 0 };
	ofp_credential_t c;
	ofp_cred_place_t place;
	session_t s = { 0 };
	int opt, rv;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h')
			return help("refresh --issuer URL [--cacert FILE]\n"
				    "Get the next credential from offpass-issuerd: show the installed one (still\n"
				    "valid) and prove, with a JWT the token signs, that this token holds its key.\n"
				    "The answer is checked and installed as by 'install'. https only (plain http\n"
				    "to a loopback address); --cacert trusts that CA instead of the system's.\n");
		if (opt == OPT_ISSUER)
			issuer = optarg;
		else if (opt == OPT_CACERT)
			http.cacert = optarg;
		else if ((rv = global_option("refresh", opt, optarg)) != OFP_EXIT_OK)
			return rv;
	}
	if (issuer == NULL || optind != argc)
		return ofp_usage("refresh: give --issuer URL and nothing else");
	rv = session_open(&s, true, true);
	if (rv == OFP_EXIT_OK)
		rv = session_state_dir(&s);
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

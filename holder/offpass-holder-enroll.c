/* offpass-holder-enroll.c - keygen, enroll (the request file; online in
 * offpass-holder-online.c) and install: the holder's way to a credential. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "atomic_file.h"
#include "hex.h"
#include "secmem.h"
#include "holder/offpass-holder_int.h"

/* ---- keygen ------------------------------------------------------------- */

int cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = { { "alg", required_argument, NULL, 'a' }, GLOBAL_OPTIONS,
					       { NULL, 0, NULL, 0 } };
	char err[OFP_HOLDER_ERR_LEN], id[129], pub[2 * OFP_HOLDER_KEY_MAX + 1];
	uint8_t form[OFP_HOLDER_KEY_MAX];
	size_t form_len = 0;
	unsigned alg = OFP_ALG_P256;
	session_t s;
	int c, rv;

	while ((c = getopt_long(argc, argv, "a:h", opts, NULL)) != -1) {
		if (c == 'h')
			return help("keygen [--alg p256|ed25519]\n"
				    "Generate the holder key pair inside the token (sensitive, never extractable).\n"
				    "  --alg ALG   p256 (default) or ed25519\n");
		if (c == 'a') {
			if (strcasecmp(optarg, "p256") == 0 || strcasecmp(optarg, "p-256") == 0)
				alg = OFP_ALG_P256;
			else if (strcasecmp(optarg, "ed25519") == 0)
				alg = OFP_ALG_ED25519;
			else
				return ofp_usage("keygen: --alg: '%s' is not p256 or ed25519", optarg);
		} else if ((rv = global_option("keygen", c, optarg)) != OFP_EXIT_OK) {
			return rv;
		}
	}
	if (optind != argc)
		return ofp_usage("keygen: unexpected argument '%s'", argv[optind]);
	rv = session_open(&s, true, false);
	if (rv == OFP_EXIT_OK) {
		rv = holder_exit(ofp_holder_keygen(s.p, alg, s.key_label, &s.key, err, sizeof(err)), err);
		if (rv == OFP_EXIT_OK)
			rv = holder_exit(ofp_holder_key_form(&s.key, form, &form_len, err, sizeof(err)), err);
	}
	if (rv == OFP_EXIT_OK) {
		hex_encode(s.key.id, s.key.id_len, id);
		hex_encode(form, form_len, pub);
		printf("token '%s': generated the %s key '%s' (id %s), private key sensitive and never "
		       "extractable\npublic key: %s\nnext: %s enroll --holder-id HEX -o REQUEST\n",
		       ofp_p11_token_label(s.p), ofp_holder_alg_name(alg), s.key_label, id, pub, PROG);
	}
	session_close(&s);
	return rv;
}

/* ---- enroll ------------------------------------------------------------- */

/* The enrollment code from --code-file, --code-env or a prompt (the PIN
 * reader's rules: never on the command line, where /proc shows it). */
static int read_code(const char *file, const char *env, uint8_t code[OFP_ENROLL_CODE_LEN])
{
	char buf[OFP_PIN_MAX], err[256];
	ofp_fmt_error_t fe;
	int rv = OFP_EXIT_OK;

	if (ofp_pin_read(file, env, "Enrollment code (from the issuer): ", buf, sizeof(buf), err, sizeof(err)) != 0)
		return ofp_fail("enroll: enrollment code: %s", err);
	if (ofp_enroll_code_parse(buf, code, &fe) != OFP_FMT_OK)
		rv = ofp_usage("enroll: the enrollment code: %s", fe.reason);
	secmem_wipe(buf, sizeof(buf));
	return rv;
}

enum { O_CODE_FILE = 0x300, O_CODE_ENV, O_NO_CODE };

int cmd_enroll(int argc, char **argv)
{
	enum { O_ISSUER = 0x280, O_CACERT, O_TRUST };
	static const struct option opts[] = { { "holder-id", required_argument, NULL, 'i' },
					       { "output", required_argument, NULL, 'o' },
					       { "code-file", required_argument, NULL, O_CODE_FILE },
					       { "code-env", required_argument, NULL, O_CODE_ENV },
					       { "no-code", no_argument, NULL, O_NO_CODE },
					       { "issuer", required_argument, NULL, O_ISSUER },
					       { "cacert", required_argument, NULL, O_CACERT },
					       { "trust", required_argument, NULL, O_TRUST },
					       GLOBAL_OPTIONS,
					       { NULL, 0, NULL, 0 } };
	char err[OFP_HOLDER_ERR_LEN];
	uint8_t hid[OFP_ID_LEN], req[OFP_ENROLLMENT_MAX], code[OFP_ENROLL_CODE_LEN];
	const char *hid_text = NULL, *output = NULL, *code_file = NULL, *code_env = NULL, *issuer = NULL,
		   *cacert = NULL, *trust = NULL;
	bool no_code = false;
	size_t len = 0;
	session_t s;
	int c, rv;

	while ((c = getopt_long(argc, argv, "i:o:h", opts, NULL)) != -1) {
		if (c == 'h')
			return help("enroll --holder-id HEX (-o REQUEST | --issuer URL [--cacert FILE] [--trust FILE])\n"
				    "       [--code-file FILE | --code-env VAR | --no-code]\n"
				    "Write an enrollment request: the holder key, signed by the token, with proof of the\n"
				    "enrollment code the issuer gave (asked for without echo when no option gives it).\n"
				    "With --issuer, enroll online instead (offpass-issuerd, OpenID4VCI): the code is\n"
				    "redeemed at the token endpoint, the token signs a proof JWT, and the credential is\n"
				    "installed as by 'install', once its signature chains to the issuer's trust list:\n"
				    "the one --trust gives (the operator's trust.bin), else the one the issuer serves,\n"
				    "fetched over TLS and pinned (trust on first use).\n"
				    "  --holder-id HEX  the 8-byte holder id the issuer gave (16 hex digits)\n"
				    "  -o, --output F   where to write the request ('-': standard output)\n"
				    "  --issuer URL     enroll online at this issuer (https; http to loopback only)\n"
				    "  --cacert FILE    trust this CA bundle for --issuer instead of the system's\n"
				    "  --trust FILE     pin this issuer trust list (trust.bin) first (--issuer only)\n"
				    "  --code-file F    the enrollment code from the first line of F\n"
				    "  --code-env VAR   the enrollment code from the environment variable VAR\n"
				    "  --no-code        no code: a refresh request for a key the issuer enrolled already\n");
		if (c == 'i')
			hid_text = optarg;
		else if (c == 'o')
			output = optarg;
		else if (c == O_CODE_FILE)
			code_file = optarg;
		else if (c == O_CODE_ENV)
			code_env = optarg;
		else if (c == O_NO_CODE)
			no_code = true;
		else if (c == O_ISSUER)
			issuer = optarg;
		else if (c == O_CACERT)
			cacert = optarg;
		else if (c == O_TRUST)
			trust = optarg;
		else if ((rv = global_option("enroll", c, optarg)) != OFP_EXIT_OK)
			return rv;
	}
	if (optind != argc)
		return ofp_usage("enroll: unexpected argument '%s'", argv[optind]);
	if (hid_text == NULL || (output == NULL) == (issuer == NULL))
		return ofp_usage("enroll: --holder-id and one of -o or --issuer are required");
	if (no_code && (code_file != NULL || code_env != NULL))
		return ofp_usage("enroll: --no-code and a code source exclude each other");
	if (no_code && issuer != NULL)
		return ofp_usage("enroll: --issuer enrolls with a code ('refresh --issuer' needs none)");
	if (trust != NULL && issuer == NULL)
		return ofp_usage("enroll: --trust goes with --issuer (with -o, give it to 'install')");
	if (code_file != NULL && code_env != NULL)
		return ofp_usage("enroll: give --code-file or --code-env, not both");
	if (hex_decode(hid_text, hid, sizeof(hid)) != 0)
		return ofp_usage("enroll: --holder-id: '%s' is not 16 hex digits", hid_text);
	/* The code before the token: a typo fails before a PIN is asked. */
	rv = no_code ? OFP_EXIT_OK : read_code(code_file, code_env, code);
	if (rv != OFP_EXIT_OK)
		return rv;
	if (issuer != NULL) {
		rv = enroll_online(issuer, cacert, trust, hid, code);
		secmem_wipe(code, sizeof(code));
		return rv;
	}
	rv = session_open(&s, false, true);
	if (rv == OFP_EXIT_OK)
		rv = holder_exit(ofp_holder_enroll(s.p, &s.key, hid, no_code ? NULL : code, now(), req, &len, err,
						   sizeof(err)),
				 err);
	secmem_wipe(code, sizeof(code));
	if (rv == OFP_EXIT_OK)
		rv = write_output(output, req, len, "enrollment request");
	if (rv == OFP_EXIT_OK && strcmp(output, "-") != 0)
		printf("enrollment request for holder %s (%s key '%s', %zu bytes%s) written to %s\n", hid_text,
		       ofp_holder_alg_name(s.key.alg), s.key_label, len, no_code ? ", no code: a refresh" : "",
		       output);
	session_close(&s);
	return rv;
}

/* ---- install ------------------------------------------------------------ */

int pin_trust_file(session_t *s, const char *path)
{
	char err[OFP_HOLDER_ERR_LEN];
	unsigned char *data = NULL;
	uint64_t version = 0;
	bool changed = false;
	size_t len = 0;
	int rv;

	if (path == NULL)
		return OFP_EXIT_OK;
	rv = file_read_all(path, OFP_TRUST_LIST_MAX, &data, &len);
	if (rv != 0) {
		free(data);
		if (rv == -EFBIG) {
			ofp_fail("trust list '%s': larger than any trust list (%d bytes)", path, OFP_TRUST_LIST_MAX);
			return OFP_EXIT_REFUSED;
		}
		return ofp_fail("trust list '%s': %s", path, strerror(-rv));
	}
	rv = ofp_holder_trust_pin(s->dir, &s->key, data, len, now(), &version, &changed, err,
				  sizeof(err));
	free(data);
	if (rv != OFP_HOLDER_OK) {
		char msg[OFP_HOLDER_ERR_LEN + 64];

		snprintf(msg, sizeof(msg), "'%s': %s", path, err);
		return holder_exit(rv, msg);
	}
	if (changed)
		printf("pinned issuer trust list version %llu from %s\n", (unsigned long long)version, path);
	else
		printf("issuer trust list: the pinned version %llu is as new as %s; kept\n",
		       (unsigned long long)version, path);
	return OFP_EXIT_OK;
}

/* Read and decode the file before asking for a PIN: bad input fails fast. */
static int read_credential(const char *path, uint8_t **data, size_t *len)
{
	ofp_credential_t c;
	ofp_fmt_error_t fe;
	int rv = file_read_all(path, OFP_CREDENTIAL_MAX, data, len);

	if (rv == -EFBIG) {
		ofp_fail("credential file '%s': larger than any credential (%d bytes)", path, OFP_CREDENTIAL_MAX);
		return OFP_EXIT_REFUSED;
	}
	if (rv != 0)
		return ofp_fail("credential file '%s': %s", path, strerror(-rv));
	if (ofp_credential_decode(*data, *len, &c, &fe) != OFP_FMT_OK) {
		ofp_fail("credential file '%s': not a valid credential (%s: %s)", path, ofp_fmt_rc_name(fe.code),
			 fe.reason);
		return OFP_EXIT_REFUSED;
	}
	return OFP_EXIT_OK;
}

/* Where the credential went: tokens without data objects (a PIV card
 * through OpenSC) keep it on the card's own object or in the state dir. */
void install_report(const session_t *s, const ofp_credential_t *c, const ofp_cred_place_t *place,
		    const char *validity)
{
	unsigned long long serial = (unsigned long long)c->serial;
	const char *token = ofp_p11_token_label(s->p);

	switch (place->store) {
	case OFP_CRED_STORE_CARD:
		printf("credential serial %llu is on the card of token '%s' already (PIV object '%s', written by "
		       "offpass-card put-credential): nothing else to store (%s)\n",
		       serial, token, OFP_HOLDER_PIV_OBJECT_LABEL, validity);
		break;
	case OFP_CRED_STORE_FILE:
		printf("token '%s' cannot keep data objects (C_CreateObject is not supported, as on PIV cards "
		       "through OpenSC):\ninstalled credential serial %llu in %s instead (%s);\n"
		       "to keep it on the card itself: offpass-card put-credential FILE\n",
		       token, serial, place->path, validity);
		break;
	default:
		printf("installed credential serial %llu on token '%s' (%s)\n", serial, token, validity);
		break;
	}
}

int cmd_install(int argc, char **argv)
{
	enum { O_TRUST = 0x380 };
	static const struct option opts[] = { { "trust", required_argument, NULL, O_TRUST }, GLOBAL_OPTIONS,
					       { NULL, 0, NULL, 0 } };
	char err[OFP_HOLDER_ERR_LEN] = "", msg[OFP_HOLDER_ERR_LEN + 64], validity[64];
	const char *trust = NULL;
	uint8_t *data = NULL;
	size_t len = 0;
	ofp_credential_t c, in;
	ofp_fmt_error_t fe;
	ofp_cred_place_t place;
	session_t s = { 0 };
	int opt, rv;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h')
			return help("install [--trust FILE] CREDENTIAL\n"
				    "Check that the credential is for the token's holder key and signed by the issuer\n"
				    "(a credential-signing key of the pinned issuer trust list), and store it on the "
				    "token.\nA token without data objects (a PIV card through OpenSC) keeps it in "
				    "the state directory,\nor finds it on the card where offpass-card put-credential "
				    "stored it.\n"
				    "  --trust FILE  the issuer's trust list (trust.bin, from the operator): pinned\n"
				    "                when none is, else taken only as the pinned one's successor\n");
		if (opt == O_TRUST)
			trust = optarg;
		else if ((rv = global_option("install", opt, optarg)) != OFP_EXIT_OK)
			return rv;
	}
	if (argc - optind != 1)
		return ofp_usage("install: give one credential file");
	rv = read_credential(argv[optind], &data, &len);
	if (rv == OFP_EXIT_OK)
		rv = session_open(&s, true, true);
	if (rv == OFP_EXIT_OK)
		rv = session_state_dir(&s);
	if (rv == OFP_EXIT_OK)
		rv = pin_trust_file(&s, trust);
	if (rv == OFP_EXIT_OK) {
		/* read_credential decoded it already; the issuer's signature
		 * before anything is replaced. */
		int hr = ofp_credential_decode(data, len, &in, &fe) == OFP_FMT_OK
				 ? ofp_holder_check_issued(s.dir, &s.key, &in, now(), err, sizeof(err))
				 : OFP_HOLDER_REFUSED;

		if (hr == OFP_HOLDER_REFUSED && err[0] == '\0')
			snprintf(err, sizeof(err), "%s", fe.reason);
		if (hr == OFP_HOLDER_OK)
			hr = ofp_holder_install_dir(s.p, &s.key, s.dir, data, len, now(), &c, &place, err,
						    sizeof(err));
		snprintf(msg, sizeof(msg), "credential file '%s': %s", argv[optind], err);
		rv = holder_exit(hr, msg);
	}
	if (rv == OFP_EXIT_OK) {
		ofp_holder_validity_text(&c, now(), validity, sizeof(validity));
		install_report(&s, &c, &place, validity);
	}
	session_close(&s);
	free(data);
	return rv;
}

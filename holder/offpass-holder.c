/* offpass-holder.c - the holder's command-line tool: a commands[] table
 * over libofpholder (holder/holder.h). Everything that decides lives in
 * the library; this file reads options and files and prints. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <p11-kit/uri.h>

#include "atomic_file.h"
#include "cli.h"
#include "hex.h"
#include "secmem.h"
#include "holder/counter.h"
#include "holder/holder.h"
#include "holder/online.h"
#include "holder/qr.h"
#include "holder/refresh.h"

#define PROG "offpass-holder"

/* Options every command takes, before or after the command name. */
static struct {
	const char *module, *token_label, *uri, *pin_file, *pin_env, *dir;
	const char *key_label, *key_id; /* --key-label, --key-id */
	ofp_clock_t clock; /* --now */
} g;

enum { OPT_MODULE = 0x100, OPT_TOKEN_LABEL, OPT_URI, OPT_PIN_FILE, OPT_PIN_ENV, OPT_DIR, OPT_NOW, OPT_KEY_LABEL,
       OPT_KEY_ID };

#define GLOBAL_OPTIONS                                                      \
	{ "module", required_argument, NULL, OPT_MODULE },                  \
	{ "token-label", required_argument, NULL, OPT_TOKEN_LABEL },        \
	{ "uri", required_argument, NULL, OPT_URI },                        \
	{ "pin-file", required_argument, NULL, OPT_PIN_FILE },              \
	{ "pin-env", required_argument, NULL, OPT_PIN_ENV },                \
	{ "dir", required_argument, NULL, OPT_DIR },                        \
	{ "now", required_argument, NULL, OPT_NOW },                        \
	{ "key-label", required_argument, NULL, OPT_KEY_LABEL },            \
	{ "key-id", required_argument, NULL, OPT_KEY_ID },                  \
	{ "help", no_argument, NULL, 'h' }

static const char global_help[] =
	"Token and state options (before or after the command):\n"
	"  --module PATH        PKCS#11 module (default: $OFFPASS_PKCS11_MODULE, else offpass-p11.so)\n"
	"  --token-label LABEL  use the token with this label\n"
	"  --uri URI            PKCS#11 URI (RFC 7512) of the token, and of the key with object= or id=\n"
	"  --key-label LABEL    the holder key's label (default 'offpass-holder'; OpenSC names PIV\n"
	"                       keys 'PIV AUTH key' (9A), 'SIGN key' (9C)...)\n"
	"  --key-id HEX         the holder key's CKA_ID (OpenSC: 01 for 9A, 02 for 9C)\n"
	"  --pin-file FILE      user PIN from the first line of FILE\n"
	"  --pin-env VAR        user PIN from the environment variable VAR\n"
	"                       (neither: the URI's pin-source, else a prompt without echo; a URI\n"
	"                       with pin-value= is refused: the command line is readable by all)\n"
	"  --dir DIR            state directory, where the counters are kept\n"
	"                       (default: $XDG_DATA_HOME/offpass/holder or ~/.local/share/offpass/holder)\n";

static uint32_t now(void)
{
	return ofp_clock_now(&g.clock);
}

/* A global option, or '?' from getopt (which printed the reason). */
static int global_option(const char *cmd, int c, const char *arg)
{
	switch (c) {
	case OPT_MODULE: g.module = arg; break;
	case OPT_TOKEN_LABEL: g.token_label = arg; break;
	case OPT_URI: {
		char err[512];
		if (ofp_p11_uri_argument_check(arg, "--uri", err, sizeof(err)) != 0) {
			ofp_fail("%s", err);
			return OFP_EXIT_USAGE;
		}
		g.uri = arg;
		break;
	}
	/* The last PIN option wins. */
	case OPT_PIN_FILE: g.pin_file = arg; g.pin_env = NULL; break;
	case OPT_PIN_ENV: g.pin_env = arg; g.pin_file = NULL; break;
	case OPT_DIR: g.dir = arg; break;
	case OPT_KEY_LABEL: g.key_label = arg; break;
	case OPT_KEY_ID: g.key_id = arg; break;
	case OPT_NOW: return ofp_clock_option(&g.clock, arg);
	default:
		fprintf(stderr, "Try '%s%s%s --help'.\n", PROG, cmd ? " " : "", cmd ? cmd : "");
		return OFP_EXIT_USAGE;
	}
	return OFP_EXIT_OK;
}

static int help(const char *usage)
{
	printf("Usage: %s [OPTIONS] %s\n%s", PROG, usage, global_help);
	return OFP_EXIT_OK;
}

/* A library result as an exit status, reporting err. */
static int holder_exit(int rv, const char *err)
{
	if (rv == OFP_HOLDER_OK)
		return OFP_EXIT_OK;
	ofp_fail("%s", err);
	return rv == OFP_HOLDER_REFUSED ? OFP_EXIT_REFUSED : OFP_EXIT_FAILURE;
}

/* "-" is standard output; anything else is replaced atomically. */
static int write_output(const char *path, const void *data, size_t len, const char *what)
{
	int rv;

	if (strcmp(path, "-") == 0) {
		if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
			return ofp_fail("%s: cannot write to standard output", what);
		return OFP_EXIT_OK;
	}
	rv = atomic_file_write(path, data, len, 0644);
	if (rv != 0)
		return ofp_fail("%s '%s': %s", what, path, atomic_file_strerror(rv));
	return OFP_EXIT_OK;
}

/* ---- the token ---------------------------------------------------------- */

typedef struct session {
	ofp_p11_t *p;
	ofp_p11_key_t key;
	char key_label[129]; /* the URI's object=, else OFP_HOLDER_KEY_LABEL */
	bool uri_names_key;  /* the URI has object= or id= */
	bool uri_has_pin;
	char dir[PATH_MAX];
} session_t;

/* What the URI says about the key and the PIN (ofp_p11_open reports a
 * URI that does not parse). */
static void read_uri(session_t *s)
{
	P11KitUri *u = g.uri != NULL ? p11_kit_uri_new() : NULL;
	CK_ATTRIBUTE *label, *id;

	snprintf(s->key_label, sizeof(s->key_label), "%s", OFP_HOLDER_KEY_LABEL);
	if (u == NULL || p11_kit_uri_parse(g.uri, P11_KIT_URI_FOR_ANY, u) != P11_KIT_URI_OK)
		goto out;
	label = p11_kit_uri_get_attribute(u, CKA_LABEL);
	id = p11_kit_uri_get_attribute(u, CKA_ID);
	if (label != NULL && label->ulValueLen < sizeof(s->key_label)) {
		memcpy(s->key_label, label->pValue, label->ulValueLen);
		s->key_label[label->ulValueLen] = '\0';
	}
	s->uri_names_key = label != NULL || id != NULL;
	s->uri_has_pin = p11_kit_uri_get_pin_value(u) != NULL || p11_kit_uri_get_pin_source(u) != NULL;
out:
	if (u != NULL)
		p11_kit_uri_free(u);
	/* --key-label names the key over the URI's object=. */
	if (g.key_label != NULL)
		snprintf(s->key_label, sizeof(s->key_label), "%s", g.key_label);
}

/* The holder key: by --key-label / --key-id, else by the URI's object= /
 * id=, else by the label offpass-holder. */
static int find_holder_key(session_t *s)
{
	uint8_t id[64];
	size_t id_len = 0;
	const char *label = s->uri_names_key ? NULL : s->key_label;

	if (g.key_id != NULL && (hex_decode_var(g.key_id, id, sizeof(id), &id_len) != 0 || id_len == 0))
		return ofp_usage("--key-id: '%s' is not 1 to %zu bytes of hex", g.key_id, sizeof(id));
	if (g.key_label != NULL || g.key_id != NULL)
		label = g.key_label;
	if (ofp_p11_find_key(s->p, label, g.key_id != NULL ? id : NULL, id_len, &s->key) != 0)
		return ofp_fail("%s (no holder key: run '%s keygen' first?)", ofp_p11_error(s->p), PROG);
	return OFP_EXIT_OK;
}

static int login(session_t *s)
{
	char err[OFP_HOLDER_ERR_LEN], prompt[128];
	char *pin = NULL;
	int rv = OFP_EXIT_FAILURE;

	if (g.pin_file == NULL && g.pin_env == NULL && s->uri_has_pin) {
		if (ofp_p11_login(s->p, NULL) != 0)
			return ofp_fail("%s", ofp_p11_error(s->p));
		return OFP_EXIT_OK;
	}
	if (g.pin_file == NULL && g.pin_env != NULL && getenv(g.pin_env) == NULL)
		return ofp_fail("--pin-env %s: the variable is not set", g.pin_env);
	pin = secmem_alloc(OFP_PIN_MAX);
	if (pin == NULL)
		return ofp_fail("out of memory");
	snprintf(prompt, sizeof(prompt), "User PIN for token '%s': ", ofp_p11_token_label(s->p));
	if (ofp_pin_read(g.pin_file, g.pin_env, prompt, pin, OFP_PIN_MAX, err, sizeof(err)) != 0)
		ofp_fail("%s", err);
	else if (ofp_p11_login(s->p, pin) != 0)
		ofp_fail("%s", ofp_p11_error(s->p));
	else
		rv = OFP_EXIT_OK;
	secmem_free(pin, OFP_PIN_MAX);
	return rv;
}

/* Open the token, log in, and (find_key) find the holder key. */
/* rw_if_writable: read/write unless the token is write-protected, for
 * present, which keeps the counter on the token where it can. */
static int session_open_mode(session_t *s, bool rw, bool rw_if_writable, bool find_key)
{
	ofp_p11_open_args_t a = { g.module, g.uri, g.token_label, rw, rw_if_writable };
	char err[OFP_HOLDER_ERR_LEN];
	int rv;

	memset(s, 0, sizeof(*s));
	read_uri(s);
	if (ofp_p11_open(&a, &s->p, err, sizeof(err)) != 0)
		return ofp_fail("%s", err);
	rv = login(s);
	if (rv != OFP_EXIT_OK || !find_key)
		return rv;
	return find_holder_key(s);
}

static int session_open(session_t *s, bool rw, bool find_key)
{
	return session_open_mode(s, rw, false, find_key);
}

/* The state directory, for the commands that use counters. */
static int session_state_dir(session_t *s)
{
	char err[OFP_HOLDER_ERR_LEN];

	if (ofp_holder_state_dir(g.dir, s->dir, sizeof(s->dir), err, sizeof(err)) != 0)
		return ofp_fail("%s", err);
	return OFP_EXIT_OK;
}

static void session_close(session_t *s)
{
	ofp_p11_close(s->p);
	s->p = NULL;
}

/* ---- keygen ------------------------------------------------------------- */

static int cmd_keygen(int argc, char **argv)
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

static void install_report(const session_t *s, const ofp_credential_t *c, const ofp_cred_place_t *place,
			   const char *validity);

/* enroll --issuer: the same code, redeemed online; the credential installed. */
static int enroll_online(const char *issuer, const char *cacert, const uint8_t hid[OFP_ID_LEN],
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

static int cmd_enroll(int argc, char **argv)
{
	enum { O_ISSUER = 0x280, O_CACERT };
	static const struct option opts[] = { { "holder-id", required_argument, NULL, 'i' },
					       { "output", required_argument, NULL, 'o' },
					       { "code-file", required_argument, NULL, O_CODE_FILE },
					       { "code-env", required_argument, NULL, O_CODE_ENV },
					       { "no-code", no_argument, NULL, O_NO_CODE },
					       { "issuer", required_argument, NULL, O_ISSUER },
					       { "cacert", required_argument, NULL, O_CACERT },
					       GLOBAL_OPTIONS,
					       { NULL, 0, NULL, 0 } };
	char err[OFP_HOLDER_ERR_LEN];
	uint8_t hid[OFP_ID_LEN], req[OFP_ENROLLMENT_MAX], code[OFP_ENROLL_CODE_LEN];
	const char *hid_text = NULL, *output = NULL, *code_file = NULL, *code_env = NULL, *issuer = NULL,
		   *cacert = NULL;
	bool no_code = false;
	size_t len = 0;
	session_t s;
	int c, rv;

	while ((c = getopt_long(argc, argv, "i:o:h", opts, NULL)) != -1) {
		if (c == 'h')
			return help("enroll --holder-id HEX (-o REQUEST | --issuer URL [--cacert FILE])\n"
				    "       [--code-file FILE | --code-env VAR | --no-code]\n"
				    "Write an enrollment request: the holder key, signed by the token, with proof of the\n"
				    "enrollment code the issuer gave (asked for without echo when no option gives it).\n"
				    "With --issuer, enroll online instead (offpass-issuerd, OpenID4VCI): the code is\n"
				    "redeemed at the token endpoint, the token signs a proof JWT, and the credential is\n"
				    "installed as by 'install'.\n"
				    "  --holder-id HEX  the 8-byte holder id the issuer gave (16 hex digits)\n"
				    "  -o, --output F   where to write the request ('-': standard output)\n"
				    "  --issuer URL     enroll online at this issuer (https; http to loopback only)\n"
				    "  --cacert FILE    trust this CA bundle for --issuer instead of the system's\n"
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
	if (code_file != NULL && code_env != NULL)
		return ofp_usage("enroll: give --code-file or --code-env, not both");
	if (hex_decode(hid_text, hid, sizeof(hid)) != 0)
		return ofp_usage("enroll: --holder-id: '%s' is not 16 hex digits", hid_text);
	/* The code before the token: a typo fails before a PIN is asked. */
	rv = no_code ? OFP_EXIT_OK : read_code(code_file, code_env, code);
	if (rv != OFP_EXIT_OK)
		return rv;
	if (issuer != NULL) {
		rv = enroll_online(issuer, cacert, hid, code);
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
static void install_report(const session_t *s, const ofp_credential_t *c, const ofp_cred_place_t *place,
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

static int cmd_install(int argc, char **argv)
{
	static const struct option opts[] = { GLOBAL_OPTIONS, { NULL, 0, NULL, 0 } };
	char err[OFP_HOLDER_ERR_LEN], msg[OFP_HOLDER_ERR_LEN + 64], validity[64];
	uint8_t *data = NULL;
	size_t len = 0;
	ofp_credential_t c;
	ofp_cred_place_t place;
	session_t s = { 0 };
	int opt, rv;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h')
			return help("install CREDENTIAL\n"
				    "Check that the credential is for the token's holder key and store it on the "
				    "token.\nA token without data objects (a PIV card through OpenSC) keeps it in "
				    "the state directory,\nor finds it on the card where offpass-card put-credential "
				    "stored it.\n");
		if ((rv = global_option("install", opt, optarg)) != OFP_EXIT_OK)
			return rv;
	}
	if (argc - optind != 1)
		return ofp_usage("install: give one credential file");
	rv = read_credential(argv[optind], &data, &len);
	if (rv == OFP_EXIT_OK)
		rv = session_open(&s, true, true);
	if (rv == OFP_EXIT_OK)
		rv = session_state_dir(&s);
	if (rv == OFP_EXIT_OK) {
		int hr = ofp_holder_install_dir(s.p, &s.key, s.dir, data, len, now(), &c, &place, err, sizeof(err));
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

/* ---- refresh (online) ------------------------------------------------------ */

static int cmd_refresh(int argc, char **argv)
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

/* ---- present ------------------------------------------------------------ */

typedef struct present_ctx {
	session_t *s;
	ofp_present_args_t args;
	const char *png, *svg, *raw;
	bool terminal, plain, colour, help;
	uint32_t refresh, count; /* --refresh seconds (0: one code), --count */
	FILE *info; /* stderr when standard output carries the raw bytes */
	struct timespec start;
} present_ctx_t;

static int write_qr_files(const present_ctx_t *x, const ofp_qr_t *qr)
{
	char err[OFP_HOLDER_ERR_LEN];
	uint8_t *png = NULL;
	char *svg = NULL;
	size_t len = 0;
	int rv = OFP_EXIT_OK;

	if (x->png != NULL) {
		if (ofp_qr_png(qr, &png, &len, err, sizeof(err)) != 0)
			rv = ofp_fail("%s", err);
		else
			rv = write_output(x->png, png, len, "PNG file");
	}
	if (rv == OFP_EXIT_OK && x->svg != NULL) {
		if (ofp_qr_svg(qr, &svg, &len, err, sizeof(err)) != 0)
			rv = ofp_fail("%s", err);
		else
			rv = write_output(x->svg, svg, len, "SVG file");
	}
	free(png);
	free(svg);
	return rv;
}

/* The authorization's time: --now (advanced by the time spent refreshing)
 * or the clock. */
static uint32_t frame_time(const present_ctx_t *x)
{
	struct timespec t;

	if (!g.clock.set)
		return (uint32_t)time(NULL);
	clock_gettime(CLOCK_MONOTONIC, &t);
	return g.clock.now + (uint32_t)(t.tv_sec - x->start.tv_sec);
}

static int present_frame(void *ctx, unsigned index)
{
	present_ctx_t *x = ctx;
	char err[OFP_HOLDER_ERR_LEN];
	uint8_t pres[OFP_PRESENTATION_MAX];
	ofp_presentation_t pr;
	ofp_qr_t qr = { 0 };
	size_t len = 0;
	int rv;

	x->args.now = frame_time(x);
	rv = holder_exit(ofp_holder_present(x->s->p, &x->s->key, &x->args, pres, &len, &pr, err, sizeof(err)),
			 err);
	if (rv != OFP_EXIT_OK)
		return rv;
	if (x->raw != NULL)
		rv = write_output(x->raw, pres, len, "raw file");
	if (rv == OFP_EXIT_OK && ofp_qr_encode(pres, len, &qr, err, sizeof(err)) != 0)
		rv = ofp_fail("%s", err);
	if (rv == OFP_EXIT_OK)
		rv = write_qr_files(x, &qr);
	if (rv == OFP_EXIT_OK && x->terminal) {
		if (x->refresh > 0 && x->colour && isatty(STDOUT_FILENO))
			fputs("\x1b[H\x1b[2J", stdout); /* home and clear: redraw in place */
		if (ofp_qr_terminal(&qr, stdout, x->colour) != 0)
			rv = ofp_fail("cannot write the QR code to standard output");
	}
	if (rv == OFP_EXIT_OK) {
		fprintf(x->info, "presentation: %zu bytes, counter %u, amount %u, time %u; QR version %d, level M\n",
			len, (unsigned)pr.auth.counter, (unsigned)pr.auth.amount, (unsigned)pr.auth.time, qr.version);
		if (x->refresh > 0)
			fprintf(x->info, "code %u; a fresh one every %u s; Ctrl-C stops\n", index + 1,
				(unsigned)x->refresh);
		fflush(x->info);
	}
	ofp_qr_free(&qr);
	return rv;
}

static int present_usage(void)
{
	return help("present --amount N [--challenge HEX] [--png F] [--svg F] [--raw F] [--terminal [--plain]]\n"
		    "                       [--refresh SECONDS [--count N]]\n"
		    "Sign a fresh authorization with the token key and show the presentation as a QR code.\n"
		    "  --amount N          amount of this operation, in minor units\n"
		    "  --challenge HEX     the verifier's challenge (two-way channels; 1 to 32 bytes)\n"
		    "  --png F, --svg F    write the QR code as PNG or SVG\n"
		    "  --raw F             write the presentation bytes ('-': standard output)\n"
		    "  --terminal          draw the QR code on the terminal (the default without a file), in\n"
		    "                      explicit black and white that read on dark and light themes alike\n"
		    "  --plain             draw it without colours (also when NO_COLOR is set or TERM=dumb):\n"
		    "                      right only on a light-on-dark terminal, a negative on a light one\n"
		    "  --refresh SECONDS   a fresh authorization every SECONDS until Ctrl-C\n"
		    "  --count N           with --refresh: stop after N codes\n");
}

static int parse_present(int argc, char **argv, present_ctx_t *x, uint8_t *challenge)
{
	enum { O_AMOUNT = 0x200, O_CHALLENGE, O_PNG, O_SVG, O_RAW, O_TERMINAL, O_PLAIN, O_REFRESH, O_COUNT };
	static const struct option opts[] = {
		{ "amount", required_argument, NULL, O_AMOUNT },   { "challenge", required_argument, NULL, O_CHALLENGE },
		{ "png", required_argument, NULL, O_PNG },	   { "svg", required_argument, NULL, O_SVG },
		{ "raw", required_argument, NULL, O_RAW },	   { "terminal", no_argument, NULL, O_TERMINAL },
		{ "refresh", required_argument, NULL, O_REFRESH }, { "count", required_argument, NULL, O_COUNT },
		{ "plain", no_argument, NULL, O_PLAIN },
		GLOBAL_OPTIONS,					   { NULL, 0, NULL, 0 }
	};
	bool have_amount = false, have_count = false;
	int c, rv;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			x->help = true;
			return present_usage();
		case O_AMOUNT:
			if (ofp_parse_u32(optarg, UINT32_MAX, &x->args.amount) != 0)
				return ofp_usage("present: --amount: '%s' is not a whole number (u32)", optarg);
			have_amount = true;
			break;
		case O_CHALLENGE:
			if (hex_decode_var(optarg, challenge, OFP_CHALLENGE_MAX, &x->args.challenge_len) != 0 ||
			    x->args.challenge_len == 0)
				return ofp_usage("present: --challenge: '%s' is not 1 to %d bytes of hex", optarg,
						 OFP_CHALLENGE_MAX);
			x->args.challenge = challenge;
			break;
		case O_PNG: x->png = optarg; break;
		case O_SVG: x->svg = optarg; break;
		case O_RAW: x->raw = optarg; break;
		case O_TERMINAL: x->terminal = true; break;
		case O_PLAIN: x->plain = x->terminal = true; break;
		case O_REFRESH:
			if (ofp_parse_u32(optarg, 86400, &x->refresh) != 0 || x->refresh == 0)
				return ofp_usage("present: --refresh: '%s' is not 1 to 86400 seconds", optarg);
			break;
		case O_COUNT:
			if (ofp_parse_u32(optarg, UINT32_MAX, &x->count) != 0 || x->count == 0)
				return ofp_usage("present: --count: '%s' is not a positive number", optarg);
			have_count = true;
			break;
		default:
			if ((rv = global_option("present", c, optarg)) != OFP_EXIT_OK)
				return rv;
		}
	}
	if (optind != argc)
		return ofp_usage("present: unexpected argument '%s'", argv[optind]);
	if (!have_amount)
		return ofp_usage("present: --amount is required");
	if (have_count && x->refresh == 0)
		return ofp_usage("present: --count needs --refresh");
	if (x->png == NULL && x->svg == NULL && x->raw == NULL)
		x->terminal = true;
	if (x->terminal && x->raw != NULL && strcmp(x->raw, "-") == 0)
		return ofp_usage("present: --raw - and the terminal code cannot both use standard output");
	return OFP_EXIT_OK;
}

/* Colours unless asked not to: --plain, NO_COLOR (https://no-color.org:
 * set and not empty) or a terminal that says it has none. Not tied to
 * isatty: output captured to a file and shown later needs them too. */
static bool want_colour(bool plain)
{
	const char *no_color = getenv("NO_COLOR"), *term = getenv("TERM");

	if (plain || (no_color != NULL && no_color[0] != '\0'))
		return false;
	return term == NULL || strcmp(term, "dumb") != 0;
}

static int cmd_present(int argc, char **argv)
{
	uint8_t challenge[OFP_CHALLENGE_MAX];
	unsigned frames = 0;
	bool interrupted = false;
	present_ctx_t x;
	session_t s;
	int rv;

	memset(&x, 0, sizeof(x));
	rv = parse_present(argc, argv, &x, challenge);
	if (rv != OFP_EXIT_OK || x.help)
		return rv;
	x.info = x.raw != NULL && strcmp(x.raw, "-") == 0 ? stderr : stdout;
	x.colour = x.terminal && want_colour(x.plain);
	clock_gettime(CLOCK_MONOTONIC, &x.start);
	rv = session_open_mode(&s, false, true, true);
	if (rv == OFP_EXIT_OK)
		rv = session_state_dir(&s);
	if (rv == OFP_EXIT_OK) {
		x.s = &s;
		x.args.dir = s.dir;
		if (x.refresh == 0)
			rv = present_frame(&x, 0);
		else
			rv = ofp_refresh_run(x.refresh, x.count, present_frame, &x, &frames, &interrupted);
	}
	if (x.refresh > 0 && rv == OFP_EXIT_OK)
		fprintf(x.info, "%s after %u code%s\n", interrupted ? "interrupted" : "done", frames,
			frames == 1 ? "" : "s");
	session_close(&s);
	return rv;
}

/* ---- status ------------------------------------------------------------- */

static int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = { GLOBAL_OPTIONS, { NULL, 0, NULL, 0 } };
	char err[OFP_HOLDER_ERR_LEN];
	ofp_holder_status_t *st = NULL;
	session_t s = { 0 };
	int c, rv;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h')
			return help("status\nShow the holder key, the installed credential's validity and grant, "
				    "and the counter.\n");
		if ((rv = global_option("status", c, optarg)) != OFP_EXIT_OK)
			return rv;
	}
	if (optind != argc)
		return ofp_usage("status: unexpected argument '%s'", argv[optind]);
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return ofp_fail("out of memory");
	rv = session_open(&s, false, true);
	if (rv == OFP_EXIT_OK)
		rv = session_state_dir(&s);
	if (rv == OFP_EXIT_OK)
		rv = holder_exit(ofp_holder_status(s.p, &s.key, s.dir, st, err, sizeof(err)), err);
	if (rv == OFP_EXIT_OK)
		ofp_holder_status_print(stdout, st, now());
	session_close(&s);
	free(st);
	return rv;
}

/* ---- main --------------------------------------------------------------- */

static const ofp_cmd_t commands[] = {
	{ "keygen", "generate the holder key inside the token", cmd_keygen },
	{ "enroll", "write an enrollment request for the issuer", cmd_enroll },
	{ "install", "store an issued credential on the token", cmd_install },
	{ "refresh", "get the next credential from offpass-issuerd (online)", cmd_refresh },
	{ "present", "sign a fresh authorization and show it as a QR code", cmd_present },
	{ "status", "show the key, the credential's validity and the counter", cmd_status },
};

int main(int argc, char **argv)
{
	static const struct option opts[] = { GLOBAL_OPTIONS, { "version", no_argument, NULL, 'V' },
					       { NULL, 0, NULL, 0 } };
	static char help_arg[] = "--help", version_arg[] = "--version";
	static const char about[] = "The holder of offpass: a key in a PKCS#11 token, its credential, and "
				    "presentations as QR codes.";
	int c, rv;

	/* "+": stop at the command name; its own options are its business. */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h' || c == 'V') {
			char *args[] = { argv[0], c == 'h' ? help_arg : version_arg, NULL };
			rv = ofp_cli_main(PROG, about, commands, OFP_ARRAY_LEN(commands), 2, args);
			if (c == 'h')
				printf("\n%s", global_help);
			return rv;
		}
		if ((rv = global_option(NULL, c, optarg)) != OFP_EXIT_OK)
			return rv;
	}
	argv[optind - 1] = argv[0];
	return ofp_cli_main(PROG, about, commands, OFP_ARRAY_LEN(commands), argc - optind + 1, argv + optind - 1);
}

/* offpass-card.c - a holder's PIV card over PC/SC: a commands[] table over
 * card/tool/card.h and piv-client.h. Everything that decides lives in the
 * library; this file reads options, secrets and files, and prints. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "atomic_file.h"
#include "cli.h"
#include "hex.h"
#include "p11client.h"
#include "secmem.h"
#include "card/tool/card.h"
#include "format/format.h"

#define PROG "offpass-card"
#define OPENSC_MODULE "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"

/* ---- options ------------------------------------------------------------- */

/* Every option any command takes; each command names the ones it allows. */
enum opt {
	O_READER = 0x100, O_PIN_FILE, O_PIN_ENV, O_PUK_FILE, O_NEW_PIN_FILE, O_NEW_PUK_FILE, O_MGM_KEY_FILE,
	O_MGM_ALG, O_CUR_PIN_FILE, O_CUR_PUK_FILE, O_CUR_MGM_KEY_FILE, O_SLOT, O_SUBJECT, O_DAYS, O_PIN_POLICY,
	O_FORCE, O_OUTPUT, O_CERT_OUT, O_NOW, O_KEEP_MGM, O_DRY_RUN, O_END
};
#define BIT(o) (1ull << ((o) - O_READER))

typedef struct opts {
	const char *reader, *pin_file, *pin_env, *puk_file, *new_pin_file, *new_puk_file, *mgm_key_file;
	const char *cur_pin_file, *cur_puk_file, *cur_mgm_key_file, *subject, *output, *cert_out;
	uint8_t mgm_alg, slot, pin_policy;
	unsigned days;
	bool force, keep_mgm, dry_run;
	ofp_clock_t clock;
	bool help;
} opts_t;

static const struct option all_options[] = {
	{ "reader", required_argument, NULL, O_READER },
	{ "pin-file", required_argument, NULL, O_PIN_FILE },
	{ "pin-env", required_argument, NULL, O_PIN_ENV },
	{ "puk-file", required_argument, NULL, O_PUK_FILE },
	{ "new-pin-file", required_argument, NULL, O_NEW_PIN_FILE },
	{ "new-puk-file", required_argument, NULL, O_NEW_PUK_FILE },
	{ "mgm-key-file", required_argument, NULL, O_MGM_KEY_FILE },
	{ "mgm-alg", required_argument, NULL, O_MGM_ALG },
	{ "current-pin-file", required_argument, NULL, O_CUR_PIN_FILE },
	{ "current-puk-file", required_argument, NULL, O_CUR_PUK_FILE },
	{ "current-mgm-key-file", required_argument, NULL, O_CUR_MGM_KEY_FILE },
	{ "slot", required_argument, NULL, O_SLOT },
	{ "subject", required_argument, NULL, O_SUBJECT },
	{ "days", required_argument, NULL, O_DAYS },
	{ "pin-policy", required_argument, NULL, O_PIN_POLICY },
	{ "force", no_argument, NULL, O_FORCE },
	{ "output", required_argument, NULL, O_OUTPUT },
	{ "cert-out", required_argument, NULL, O_CERT_OUT },
	{ "now", required_argument, NULL, O_NOW },
	{ "keep-management-key", no_argument, NULL, O_KEEP_MGM },
	{ "dry-run", no_argument, NULL, O_DRY_RUN },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* --reader given before the command. */
static const char *global_reader;

static const char common_help[] =
	"  --reader NAME   the PC/SC reader (its name, or a unique part of it);\n"
	"                  default: $OFFPASS_CARD_READER, else the first reader with a card\n";

static const char *option_name(int c)
{
	for (size_t i = 0; all_options[i].name != NULL; i++)
		if (all_options[i].val == c)
			return all_options[i].name;
	return "?";
}

static int parse_alg(const char *s, uint8_t *alg)
{
	static const struct {
		const char *name;
		uint8_t alg;
	} algs[] = { { "3des", OFP_PIV_ALG_3DES }, { "aes128", OFP_PIV_ALG_AES128 },
		     { "aes192", OFP_PIV_ALG_AES192 }, { "aes256", OFP_PIV_ALG_AES256 } };

	for (size_t i = 0; i < OFP_ARRAY_LEN(algs); i++) {
		if (strcasecmp(s, algs[i].name) == 0) {
			*alg = algs[i].alg;
			return 0;
		}
	}
	return -1;
}

static int parse_policy(const char *s, uint8_t *policy)
{
	static const char *const names[] = { "default", "never", "once", "always" };

	for (size_t i = 0; i < OFP_ARRAY_LEN(names); i++) {
		if (strcasecmp(s, names[i]) == 0) {
			*policy = (uint8_t)i;
			return 0;
		}
	}
	return -1;
}

static int option_value(const char *cmd, int c, const char *arg, opts_t *o)
{
	uint32_t v;

	switch (c) {
	case O_READER: o->reader = arg; break;
	case O_PIN_FILE: o->pin_file = arg; o->pin_env = NULL; break;
	case O_PIN_ENV: o->pin_env = arg; o->pin_file = NULL; break;
	case O_PUK_FILE: o->puk_file = arg; break;
	case O_NEW_PIN_FILE: o->new_pin_file = arg; break;
	case O_NEW_PUK_FILE: o->new_puk_file = arg; break;
	case O_MGM_KEY_FILE: o->mgm_key_file = arg; break;
	case O_CUR_PIN_FILE: o->cur_pin_file = arg; break;
	case O_CUR_PUK_FILE: o->cur_puk_file = arg; break;
	case O_CUR_MGM_KEY_FILE: o->cur_mgm_key_file = arg; break;
	case O_SUBJECT: o->subject = arg; break;
	case O_OUTPUT: o->output = arg; break;
	case O_CERT_OUT: o->cert_out = arg; break;
	case O_FORCE: o->force = true; break;
	case O_KEEP_MGM: o->keep_mgm = true; break;
	case O_DRY_RUN: o->dry_run = true; break;
	case O_MGM_ALG:
		if (parse_alg(arg, &o->mgm_alg) != 0)
			return ofp_usage("%s: --mgm-alg: '%s' is not 3des, aes128, aes192 or aes256", cmd, arg);
		break;
	case O_SLOT:
		if (strcasecmp(arg, "9a") == 0)
			o->slot = OFP_PIV_SLOT_AUTH;
		else if (strcasecmp(arg, "9c") == 0)
			o->slot = OFP_PIV_SLOT_SIGN;
		else
			return ofp_usage("%s: --slot: '%s' is not 9a or 9c", cmd, arg);
		break;
	case O_DAYS:
		if (ofp_parse_u32(arg, 36500, &v) != 0 || v == 0)
			return ofp_usage("%s: --days: '%s' is not 1 to 36500", cmd, arg);
		o->days = v;
		break;
	case O_PIN_POLICY:
		if (parse_policy(arg, &o->pin_policy) != 0)
			return ofp_usage("%s: --pin-policy: '%s' is not default, never, once or always", cmd, arg);
		break;
	case O_NOW:
		return ofp_clock_option(&o->clock, arg);
	default:
		return ofp_usage("%s: unknown option", cmd);
	}
	return OFP_EXIT_OK;
}

/* Parse argv against the options this command allows (a bit mask); the
 * positional arguments are argv[optind..]. usage is the command's help. */
static int parse_opts(int argc, char **argv, unsigned long long allowed, const char *usage, opts_t *o)
{
	int c, rv;

	memset(o, 0, sizeof(*o));
	o->slot = OFP_PIV_SLOT_AUTH;
	o->reader = global_reader != NULL ? global_reader : getenv("OFFPASS_CARD_READER");
	if (o->reader != NULL && o->reader[0] == '\0')
		o->reader = NULL;
	allowed |= BIT(O_READER) | BIT(O_NOW);
	while ((c = getopt_long(argc, argv, "ho:", all_options, NULL)) != -1) {
		if (c == 'h') {
			printf("Usage: %s %s%s", PROG, usage, common_help);
			o->help = true;
			return OFP_EXIT_OK;
		}
		if (c == 'o')
			c = O_OUTPUT;
		if (c == '?')
			return ofp_usage("%s: bad option", argv[0]);
		if (!(allowed & BIT(c)))
			return ofp_usage("%s: --%s is not an option of this command", argv[0], option_name(c));
		if ((rv = option_value(argv[0], c, optarg, o)) != OFP_EXIT_OK)
			return rv;
	}
	return OFP_EXIT_OK;
}

static uint32_t now_of(const opts_t *o)
{
	return ofp_clock_now(&o->clock);
}

/* ---- secrets --------------------------------------------------------------- */

/* A PIN or PUK: from file, else env, else a prompt on the terminal. With
 * confirm, a prompt asks twice. buf holds OFP_PIN_MAX bytes of secmem. */
static int read_secret(const char *file, const char *env, const char *prompt, bool confirm, char *buf)
{
	char err[256], *again = NULL;
	int rv = OFP_EXIT_OK;

	if (env != NULL && file == NULL && getenv(env) == NULL)
		return ofp_fail("--pin-env %s: the variable is not set", env);
	if (ofp_pin_read(file, env, prompt, buf, OFP_PIN_MAX, err, sizeof(err)) != 0)
		return ofp_fail("%s", err);
	if (!confirm || file != NULL || env != NULL)
		return OFP_EXIT_OK;
	again = secmem_alloc(OFP_PIN_MAX);
	if (again == NULL)
		return ofp_fail("out of memory");
	if (ofp_pin_read(NULL, NULL, "Again: ", again, OFP_PIN_MAX, err, sizeof(err)) != 0)
		rv = ofp_fail("%s", err);
	else if (strcmp(buf, again) != 0)
		rv = ofp_fail("the two entries differ");
	secmem_free(again, OFP_PIN_MAX);
	return rv;
}

/* The secrets a command may need, in secmem. */
typedef struct secrets {
	char *pin, *puk, *new_pin, *new_puk;
	ofp_card_mgm_t *mgm, *new_mgm;
} secrets_t;

static void secrets_free(secrets_t *s)
{
	secmem_free(s->pin, OFP_PIN_MAX);
	secmem_free(s->puk, OFP_PIN_MAX);
	secmem_free(s->new_pin, OFP_PIN_MAX);
	secmem_free(s->new_puk, OFP_PIN_MAX);
	secmem_free(s->mgm, sizeof(*s->mgm));
	secmem_free(s->new_mgm, sizeof(*s->new_mgm));
	memset(s, 0, sizeof(*s));
}

static int secret(char **slot, const char *file, const char *env, const char *prompt, bool confirm,
		  const char *what)
{
	*slot = secmem_alloc(OFP_PIN_MAX);
	if (*slot == NULL)
		return ofp_fail("out of memory");
	if (read_secret(file, env, prompt, confirm, *slot) != OFP_EXIT_OK)
		return OFP_EXIT_FAILURE;
	if (!ofp_piv_pin_ok(*slot))
		return ofp_usage("the %s must be %d to %d characters", what, OFP_PIV_PIN_MIN, OFP_PIV_PIN_MAX);
	return OFP_EXIT_OK;
}

/* A management key: hex (48 digits for 3DES or AES-192, 32 for AES-128,
 * 64 for AES-256) from the file's first line or a prompt. */
static int mgm_key(ofp_card_mgm_t **out, const char *file, const char *prompt, bool confirm, uint8_t alg)
{
	char *text = NULL;
	ofp_card_mgm_t *m;
	size_t len = 0;
	int rv;

	m = *out = secmem_alloc(sizeof(**out));
	text = secmem_alloc(OFP_PIN_MAX);
	if (m == NULL || text == NULL) {
		secmem_free(text, OFP_PIN_MAX);
		return ofp_fail("out of memory");
	}
	rv = read_secret(file, NULL, prompt, confirm, text);
	if (rv == OFP_EXIT_OK && (hex_decode_var(text, m->key, sizeof(m->key), &len) != 0 ||
				  (len != 16 && len != 24 && len != 32)))
		rv = ofp_usage("the management key%s%s%s is not 32, 48 or 64 hex digits", file ? " in '" : "",
			       file ? file : "", file ? "'" : "");
	secmem_free(text, OFP_PIN_MAX);
	if (rv != OFP_EXIT_OK)
		return rv;
	m->len = len;
	m->alg = alg;
	if (alg != 0 && ofp_piv_mgm_key_len(alg) != len)
		return ofp_usage("the management key has %zu bytes: not a %s key", len, ofp_piv_alg_name(alg));
	return OFP_EXIT_OK;
}

/* The card's PIN from --pin-file, --pin-env or a prompt. */
static int card_pin(secrets_t *s, const opts_t *o, const char *prompt)
{
	return secret(&s->pin, o->pin_file, o->pin_env, prompt, false, "PIN");
}

/* ---- the card ---------------------------------------------------------------- */

static int card_open(const opts_t *o, ofp_piv_t **p)
{
	char err[512];

	if (ofp_piv_connect(o->reader, p, err, sizeof(err)) != OFP_PIV_OK)
		return ofp_fail("%s", err);
	return OFP_EXIT_OK;
}

static int card_exit(int rv, const char *err)
{
	if (rv == OFP_CARD_OK)
		return OFP_EXIT_OK;
	ofp_fail("%s", err);
	return rv == OFP_CARD_REFUSED ? OFP_EXIT_REFUSED : OFP_EXIT_FAILURE;
}

static int piv_exit(ofp_piv_t *p, int rv)
{
	if (rv == OFP_PIV_OK)
		return OFP_EXIT_OK;
	return ofp_fail("reader '%s': %s", ofp_piv_reader(p), ofp_piv_error(p));
}

static int no_args(int argc, char **argv)
{
	if (optind != argc)
		return ofp_usage("%s: unexpected argument '%s'", argv[0], argv[optind]);
	return OFP_EXIT_OK;
}

/* "offpass holder" -> "offpass%20holder" (RFC 7512 path attribute). */
static void uri_escape(const char *in, char *out, size_t cap)
{
	static const char keep[] = "-._~";
	size_t n = 0;

	for (; *in != '\0' && n + 4 < cap; in++) {
		unsigned char ch = (unsigned char)*in;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    strchr(keep, ch) != NULL)
			out[n++] = (char)ch;
		else
			n += (size_t)snprintf(out + n, cap - n, "%%%02X", ch);
	}
	out[n] = '\0';
}

/* ---- init -------------------------------------------------------------------------- */

static const char init_usage[] =
	"init [--slot 9a|9c] [--pin-file F] [--puk-file F] [--mgm-key-file F] [--mgm-alg ALG]\n"
	"       [--current-pin-file F] [--current-puk-file F] [--current-mgm-key-file F]\n"
	"       [--subject CN] [--days N] [--pin-policy P] [--force] [--cert-out F]\n"
	"       [--keep-management-key] [--dry-run]\n"
	"Prepare a card for a holder: replace the PIN, PUK and management key, generate the holder\n"
	"key (EC P-256) on the card, and store a certificate for it that the card signs itself.\n"
	"First it finds out what the card can do and checks everything it can; a card that cannot\n"
	"change its management key, or say whether its PIN is the factory one, is refused before\n"
	"anything changes.\n"
	"  --slot 9a|9c          where the key goes (default 9a; 9c asks for the PIN at every use)\n"
	"  --pin-file F          the new PIN (6-8 characters) from F's first line\n"
	"  --puk-file F          the new PUK\n"
	"  --mgm-key-file F      the new management key (hex); --mgm-alg 3des|aes128|aes192|aes256\n"
	"                        (default: 3des for 48 hex digits, aes128 for 32, aes256 for 64)\n"
	"                        without a file each new value is asked for twice on the terminal\n"
	"  --current-pin-file F  the card's PIN now (default: the factory PIN 123456, only on cards\n"
	"                        that say it is still set: others need the file); with it and\n"
	"                        no --pin-file the PIN stays. The same for --current-puk-file\n"
	"                        (12345678) and --current-mgm-key-file (the factory 3DES key).\n"
	"  --subject CN          the certificate's common name, which OpenSC shows as the token\n"
	"                        label (default 'offpass holder')\n"
	"  --days N              certificate validity (default 3650)\n"
	"  --pin-policy P        default, never, once or always (default: the slot's)\n"
	"  --force               replace a key already in the slot (the old one is lost)\n"
	"  --cert-out F          also write the certificate (PEM) to F ('-': standard output)\n"
	"  --keep-management-key keep the card's management key (for cards that cannot change it):\n"
	"                        with the factory key, anyone holding the card can replace its key,\n"
	"                        certificate and credential without the PIN (not use the key)\n"
	"  --dry-run             probe, plan and check (the current PIN is verified); change nothing\n";

/* New values from files, else the current one stays (when given), else a prompt. */
static int init_secrets(const opts_t *o, secrets_t *s)
{
	int rv = OFP_EXIT_OK;

	if (o->cur_pin_file != NULL)
		rv = secret(&s->pin, o->cur_pin_file, NULL, NULL, false, "current PIN");
	if (rv == OFP_EXIT_OK && o->cur_puk_file != NULL)
		rv = secret(&s->puk, o->cur_puk_file, NULL, NULL, false, "current PUK");
	if (rv == OFP_EXIT_OK && o->cur_mgm_key_file != NULL)
		rv = mgm_key(&s->mgm, o->cur_mgm_key_file, NULL, false, 0);
	if (rv == OFP_EXIT_OK && (o->pin_file != NULL || o->cur_pin_file == NULL))
		rv = secret(&s->new_pin, o->pin_file, NULL, "New PIN (6-8 characters): ", true, "new PIN");
	if (rv == OFP_EXIT_OK && (o->puk_file != NULL || o->cur_puk_file == NULL))
		rv = secret(&s->new_puk, o->puk_file, NULL, "New PUK (6-8 characters): ", true, "new PUK");
	if (rv == OFP_EXIT_OK && o->keep_mgm && o->mgm_key_file != NULL)
		rv = ofp_usage("init: --keep-management-key and --mgm-key-file exclude each other");
	if (rv == OFP_EXIT_OK && !o->keep_mgm && (o->mgm_key_file != NULL || o->cur_mgm_key_file == NULL)) {
		rv = mgm_key(&s->new_mgm, o->mgm_key_file, "New management key (hex): ", true, o->mgm_alg);
		if (rv == OFP_EXIT_OK && s->new_mgm->alg == 0)
			s->new_mgm->alg = s->new_mgm->len == 16   ? OFP_PIV_ALG_AES128
					  : s->new_mgm->len == 32 ? OFP_PIV_ALG_AES256
								  : OFP_PIV_ALG_3DES;
	}
	return rv;
}

static int write_cert_pem(const char *path, const uint8_t *der, size_t len)
{
	const unsigned char *q = der;
	X509 *x = d2i_X509(NULL, &q, (long)len);
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long n;
	int rv = OFP_EXIT_FAILURE;

	if (x != NULL && bio != NULL && PEM_write_bio_X509(bio, x) == 1 && (n = BIO_get_mem_data(bio, &pem)) > 0) {
		int w = output_file_write(path, pem, (size_t)n, 0644);
		rv = w == 0 ? OFP_EXIT_OK : ofp_fail("certificate file '%s': %s", path, atomic_file_strerror(w));
	} else {
		ofp_fail("certificate: cannot write PEM (OpenSSL)");
	}
	BIO_free(bio);
	X509_free(x);
	return rv;
}

static void init_report(const ofp_piv_t *p, const ofp_card_init_args_t *a, const ofp_card_init_result_t *r)
{
	uint8_t form[OFP_P256_COMPRESSED_LEN];
	char hex[2 * OFP_P256_COMPRESSED_LEN + 1], label[3 * 64 + 1], object[3 * 32 + 1];
	ofp_fmt_error_t fe;
	const char *subject = a->subject ? a->subject : OFP_CARD_DEFAULT_SUBJECT;

	printf("reader '%s': PIN %s, PUK %s, management key %s%s\n", ofp_piv_reader(p),
	       r->pin_changed ? "changed" : "kept", r->puk_changed ? "changed" : "kept",
	       r->mgm_changed ? "changed to " : "kept", r->mgm_changed ? ofp_piv_alg_name(a->new_mgm->alg) : "");
	if (r->factory_mgm_kept)
		fprintf(stderr, "%s: warning: the card keeps the factory management key (--keep-management-key): "
				"anyone who holds the card can, without the PIN, generate a new key over the holder's, "
				"replace its certificate and the credential stored on it\n",
			PROG);
	printf("slot %02X: a P-256 key generated on the card; certificate 'CN=%s' signed by the card and stored\n",
	       a->slot, subject);
	if (ofp_p256_compress(r->pub, form, &fe) == OFP_FMT_OK) {
		hex_encode(form, sizeof(form), hex);
		printf("public key: %s\n", hex);
	}
	uri_escape(subject, label, sizeof(label));
	uri_escape(ofp_card_p11_label(a->slot), object, sizeof(object));
	printf("PKCS#11 (OpenSC): token '%s', key '%s' (id %02x): pkcs11:token=%s;object=%s\n", subject,
	       ofp_card_p11_label(a->slot), ofp_card_p11_id(a->slot), label, object);
	printf("next: offpass-holder --module %s --token-label '%s' --key-label '%s' enroll --holder-id HEX -o "
	       "REQUEST\n",
	       OPENSC_MODULE, subject, ofp_card_p11_label(a->slot));
}

static void init_plan_report(const ofp_piv_t *p, const ofp_card_init_args_t *a, const ofp_card_init_result_t *r)
{
	printf("reader '%s': ", ofp_piv_reader(p));
	ofp_card_caps_print(stdout, &r->caps);
	printf("\nplan: ");
	ofp_card_plan_print(stdout, a, r->plan);
	printf("\nchecks passed; nothing was changed (--dry-run)\n");
}

/* After the card is done: the certificate file (the card keeps it either
 * way), then the report. */
static int init_finish(const ofp_piv_t *p, const opts_t *o, const ofp_card_init_args_t *a,
		       const ofp_card_init_result_t *r)
{
	int rv = OFP_EXIT_OK;

	if (o->cert_out != NULL)
		rv = write_cert_pem(o->cert_out, r->cert, r->cert_len);
	init_report(p, a, r);
	return rv;
}

static int cmd_init(int argc, char **argv)
{
	const unsigned long long allowed =
		BIT(O_SLOT) | BIT(O_PIN_FILE) | BIT(O_PUK_FILE) | BIT(O_MGM_KEY_FILE) | BIT(O_MGM_ALG) |
		BIT(O_CUR_PIN_FILE) | BIT(O_CUR_PUK_FILE) | BIT(O_CUR_MGM_KEY_FILE) | BIT(O_SUBJECT) | BIT(O_DAYS) |
		BIT(O_PIN_POLICY) | BIT(O_FORCE) | BIT(O_CERT_OUT) | BIT(O_KEEP_MGM) | BIT(O_DRY_RUN);
	char err[OFP_CARD_ERR_LEN];
	ofp_card_init_result_t r = { 0 };
	ofp_piv_t *p = NULL;
	secrets_t s = { 0 };
	opts_t o;
	int rv = parse_opts(argc, argv, allowed, init_usage, &o);

	if (rv != OFP_EXIT_OK || o.help)
		return rv;
	if ((rv = no_args(argc, argv)) != OFP_EXIT_OK)
		return rv;
	rv = init_secrets(&o, &s);
	if (rv == OFP_EXIT_OK)
		rv = card_open(&o, &p);
	if (rv == OFP_EXIT_OK) {
		ofp_card_init_args_t a = {
			.slot = o.slot, .pin_policy = o.pin_policy, .pin = s.pin, .puk = s.puk, .mgm = s.mgm,
			.new_pin = s.new_pin, .new_puk = s.new_puk, .new_mgm = s.new_mgm, .subject = o.subject,
			.days = o.days, .now = (time_t)now_of(&o), .force = o.force, .keep_mgm = o.keep_mgm,
			.dry_run = o.dry_run,
		};
		rv = card_exit(ofp_card_init(p, &a, &r, err, sizeof(err)), err);
		if (rv == OFP_EXIT_OK && o.dry_run)
			init_plan_report(p, &a, &r);
		else if (rv == OFP_EXIT_OK)
			rv = init_finish(p, &o, &a, &r);
	}
	ofp_card_init_result_free(&r);
	ofp_piv_close(p);
	secrets_free(&s);
	return rv;
}

/* ---- status and verify-pin --------------------------------------------------------------- */

static int cmd_status(int argc, char **argv)
{
	char err[OFP_CARD_ERR_LEN];
	ofp_card_status_t *st = NULL;
	ofp_piv_t *p = NULL;
	secrets_t s = { 0 };
	opts_t o;
	int rv = parse_opts(argc, argv, BIT(O_PIN_FILE) | BIT(O_PIN_ENV),
			    "status [--pin-file F | --pin-env VAR]\n"
			    "Show the reader, the card's version and serial, PIN and PUK tries left, the key\n"
			    "slots and their certificates; with the PIN also the credential stored on the card.\n",
			    &o);

	if (rv != OFP_EXIT_OK || o.help)
		return rv;
	if ((rv = no_args(argc, argv)) != OFP_EXIT_OK)
		return rv;
	if (o.pin_file != NULL || o.pin_env != NULL)
		rv = card_pin(&s, &o, NULL);
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		rv = ofp_fail("out of memory");
	if (rv == OFP_EXIT_OK)
		rv = card_open(&o, &p);
	if (rv == OFP_EXIT_OK)
		rv = card_exit(ofp_card_status(p, s.pin, st, err, sizeof(err)), err);
	if (rv == OFP_EXIT_OK)
		ofp_card_status_print(stdout, st, now_of(&o));
	free(st);
	ofp_piv_close(p);
	secrets_free(&s);
	return rv;
}

static int cmd_verify_pin(int argc, char **argv)
{
	ofp_piv_t *p = NULL;
	secrets_t s = { 0 };
	opts_t o;
	int rv = parse_opts(argc, argv, BIT(O_PIN_FILE) | BIT(O_PIN_ENV),
			    "verify-pin [--pin-file F | --pin-env VAR]\n"
			    "Check the PIN (a wrong one costs a try).\n", &o);

	if (rv != OFP_EXIT_OK || o.help)
		return rv;
	if ((rv = no_args(argc, argv)) != OFP_EXIT_OK)
		return rv;
	rv = card_pin(&s, &o, "PIN: ");
	if (rv == OFP_EXIT_OK)
		rv = card_open(&o, &p);
	if (rv == OFP_EXIT_OK)
		rv = piv_exit(p, ofp_piv_verify_pin(p, s.pin));
	if (rv == OFP_EXIT_OK)
		printf("reader '%s': PIN verified\n", ofp_piv_reader(p));
	ofp_piv_close(p);
	secrets_free(&s);
	return rv;
}

/* ---- change-pin, change-puk, unblock ---------------------------------------------------- */

static int cmd_change_pin(int argc, char **argv)
{
	ofp_piv_t *p = NULL;
	secrets_t s = { 0 };
	opts_t o;
	int rv = parse_opts(argc, argv, BIT(O_PIN_FILE) | BIT(O_PIN_ENV) | BIT(O_NEW_PIN_FILE),
			    "change-pin [--pin-file F | --pin-env VAR] [--new-pin-file F]\n"
			    "Change the PIN (6-8 characters); a wrong current PIN costs a try.\n", &o);

	if (rv != OFP_EXIT_OK || o.help)
		return rv;
	if ((rv = no_args(argc, argv)) != OFP_EXIT_OK)
		return rv;
	rv = card_pin(&s, &o, "Current PIN: ");
	if (rv == OFP_EXIT_OK)
		rv = secret(&s.new_pin, o.new_pin_file, NULL, "New PIN: ", true, "new PIN");
	if (rv == OFP_EXIT_OK)
		rv = card_open(&o, &p);
	if (rv == OFP_EXIT_OK)
		rv = piv_exit(p, ofp_piv_change_reference(p, OFP_PIV_REF_PIN, s.pin, s.new_pin));
	if (rv == OFP_EXIT_OK)
		printf("reader '%s': PIN changed\n", ofp_piv_reader(p));
	ofp_piv_close(p);
	secrets_free(&s);
	return rv;
}

static int cmd_change_puk(int argc, char **argv)
{
	ofp_piv_t *p = NULL;
	secrets_t s = { 0 };
	opts_t o;
	int rv = parse_opts(argc, argv, BIT(O_PUK_FILE) | BIT(O_NEW_PUK_FILE),
			    "change-puk [--puk-file F] [--new-puk-file F]\n"
			    "Change the PUK; a wrong current PUK costs a try, and a blocked PUK is final.\n", &o);

	if (rv != OFP_EXIT_OK || o.help)
		return rv;
	if ((rv = no_args(argc, argv)) != OFP_EXIT_OK)
		return rv;
	rv = secret(&s.puk, o.puk_file, NULL, "Current PUK: ", false, "PUK");
	if (rv == OFP_EXIT_OK)
		rv = secret(&s.new_puk, o.new_puk_file, NULL, "New PUK: ", true, "new PUK");
	if (rv == OFP_EXIT_OK)
		rv = card_open(&o, &p);
	if (rv == OFP_EXIT_OK)
		rv = piv_exit(p, ofp_piv_change_reference(p, OFP_PIV_REF_PUK, s.puk, s.new_puk));
	if (rv == OFP_EXIT_OK)
		printf("reader '%s': PUK changed\n", ofp_piv_reader(p));
	ofp_piv_close(p);
	secrets_free(&s);
	return rv;
}

static int cmd_unblock(int argc, char **argv)
{
	ofp_piv_t *p = NULL;
	secrets_t s = { 0 };
	opts_t o;
	int rv = parse_opts(argc, argv, BIT(O_PUK_FILE) | BIT(O_NEW_PIN_FILE),
			    "unblock [--puk-file F] [--new-pin-file F]\n"
			    "Set a new PIN with the PUK (the PIN gets all its tries back).\n", &o);

	if (rv != OFP_EXIT_OK || o.help)
		return rv;
	if ((rv = no_args(argc, argv)) != OFP_EXIT_OK)
		return rv;
	rv = secret(&s.puk, o.puk_file, NULL, "PUK: ", false, "PUK");
	if (rv == OFP_EXIT_OK)
		rv = secret(&s.new_pin, o.new_pin_file, NULL, "New PIN: ", true, "new PIN");
	if (rv == OFP_EXIT_OK)
		rv = card_open(&o, &p);
	if (rv == OFP_EXIT_OK)
		rv = piv_exit(p, ofp_piv_unblock_pin(p, s.puk, s.new_pin));
	if (rv == OFP_EXIT_OK)
		printf("reader '%s': PIN unblocked and set\n", ofp_piv_reader(p));
	ofp_piv_close(p);
	secrets_free(&s);
	return rv;
}

/* ---- reset ---------------------------------------------------------------------------------- */

static int cmd_reset(int argc, char **argv)
{
	char err[OFP_CARD_ERR_LEN];
	ofp_piv_t *p = NULL;
	opts_t o;
	int rv = parse_opts(argc, argv, 0,
			    "reset\n"
			    "Put the PIV application back to its factory state (PIN 123456, PUK 12345678, the\n"
			    "factory management key, no keys, no objects). Cards allow it only once both the\n"
			    "PIN and the PUK are blocked.\n",
			    &o);

	if (rv != OFP_EXIT_OK || o.help)
		return rv;
	if ((rv = no_args(argc, argv)) != OFP_EXIT_OK)
		return rv;
	rv = card_open(&o, &p);
	if (rv == OFP_EXIT_OK)
		rv = card_exit(ofp_card_reset(p, err, sizeof(err)), err);
	if (rv == OFP_EXIT_OK)
		printf("reader '%s': the card is reset: PIN 123456, PUK 12345678, the factory management key, "
		       "no keys\n",
		       ofp_piv_reader(p));
	ofp_piv_close(p);
	return rv;
}

/* ---- put-credential, get-credential ------------------------------------------------------------ */

static int read_credential_file(const char *path, uint8_t **data, size_t *len)
{
	int rv = file_read_all(path, OFP_CREDENTIAL_MAX, data, len);

	if (rv == -EFBIG) {
		ofp_fail("credential file '%s': larger than any credential (%d bytes)", path, OFP_CREDENTIAL_MAX);
		return OFP_EXIT_REFUSED;
	}
	if (rv != 0)
		return ofp_fail("credential file '%s': %s", path, strerror(-rv));
	return OFP_EXIT_OK;
}

static int cmd_put_credential(int argc, char **argv)
{
	char err[OFP_CARD_ERR_LEN], msg[OFP_CARD_ERR_LEN + 64];
	uint8_t *data = NULL, slot = 0;
	size_t len = 0;
	ofp_piv_t *p = NULL;
	secrets_t s = { 0 };
	opts_t o;
	int rv = parse_opts(argc, argv, BIT(O_PIN_FILE) | BIT(O_PIN_ENV) | BIT(O_MGM_KEY_FILE),
			    "put-credential FILE [--pin-file F | --pin-env VAR] [--mgm-key-file F]\n"
			    "Store the issued credential on the card, in the Printed Information object (5FC109),\n"
			    "after checking that it is for a key on the card. The PIN reads the object (the rest\n"
			    "of it is kept); the management key writes it.\n",
			    &o);

	if (rv != OFP_EXIT_OK || o.help)
		return rv;
	if (argc - optind != 1)
		return ofp_usage("put-credential: give one credential file");
	rv = read_credential_file(argv[optind], &data, &len);
	if (rv == OFP_EXIT_OK)
		rv = card_pin(&s, &o, "PIN: ");
	if (rv == OFP_EXIT_OK)
		rv = mgm_key(&s.mgm, o.mgm_key_file, "Management key (hex): ", false, 0);
	if (rv == OFP_EXIT_OK)
		rv = card_open(&o, &p);
	if (rv == OFP_EXIT_OK)
		rv = card_exit(ofp_card_authenticate(p, s.mgm, err, sizeof(err)), err);
	if (rv == OFP_EXIT_OK) {
		int cr = ofp_card_put_credential(p, s.pin, data, len, now_of(&o), &slot, err, sizeof(err));
		snprintf(msg, sizeof(msg), "credential file '%s': %s", argv[optind], err);
		rv = card_exit(cr, msg);
	}
	if (rv == OFP_EXIT_OK)
		printf("reader '%s': credential stored on the card (Printed Information object 5FC109), for the key "
		       "in slot %02X\n",
		       ofp_piv_reader(p), slot);
	ofp_piv_close(p);
	secrets_free(&s);
	free(data);
	return rv;
}

static int cmd_get_credential(int argc, char **argv)
{
	char err[OFP_CARD_ERR_LEN];
	uint8_t *cred = NULL;
	size_t len = 0;
	ofp_piv_t *p = NULL;
	secrets_t s = { 0 };
	opts_t o;
	int rv = parse_opts(argc, argv, BIT(O_PIN_FILE) | BIT(O_PIN_ENV) | BIT(O_OUTPUT),
			    "get-credential -o FILE [--pin-file F | --pin-env VAR]\n"
			    "Read the credential stored on the card into FILE ('-': standard output).\n", &o);

	if (rv != OFP_EXIT_OK || o.help)
		return rv;
	if ((rv = no_args(argc, argv)) != OFP_EXIT_OK)
		return rv;
	if (o.output == NULL)
		return ofp_usage("get-credential: -o FILE is required");
	rv = card_pin(&s, &o, "PIN: ");
	if (rv == OFP_EXIT_OK)
		rv = card_open(&o, &p);
	if (rv == OFP_EXIT_OK) {
		int cr = ofp_card_get_credential(p, s.pin, &cred, &len, err, sizeof(err));
		rv = cr == 1 ? (ofp_fail("%s", err), OFP_EXIT_REFUSED) : card_exit(cr, err);
	}
	if (rv == OFP_EXIT_OK) {
		int w = output_file_write(o.output, cred, len, 0600);
		if (w != 0)
			rv = ofp_fail("credential file '%s': %s", o.output, atomic_file_strerror(w));
		else if (strcmp(o.output, "-") != 0)
			printf("reader '%s': credential (%zu bytes) written to %s\n", ofp_piv_reader(p), len, o.output);
	}
	ofp_piv_close(p);
	secrets_free(&s);
	free(cred);
	return rv;
}

/* ---- main ------------------------------------------------------------------------------------------ */

static const ofp_cmd_t commands[] = {
	{ "init", "prepare a card: new PIN, PUK and management key, the holder key and its certificate", cmd_init },
	{ "status", "reader, version, serial, tries left, key slots, the stored credential", cmd_status },
	{ "verify-pin", "check the PIN", cmd_verify_pin },
	{ "change-pin", "change the PIN", cmd_change_pin },
	{ "change-puk", "change the PUK", cmd_change_puk },
	{ "unblock", "set a new PIN with the PUK", cmd_unblock },
	{ "reset", "factory state, once PIN and PUK are both blocked", cmd_reset },
	{ "put-credential", "store the issued credential on the card", cmd_put_credential },
	{ "get-credential", "read the credential stored on the card", cmd_get_credential },
};

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "reader", required_argument, NULL, O_READER },
					       { "help", no_argument, NULL, 'h' },
					       { "version", no_argument, NULL, 'V' },
					       { NULL, 0, NULL, 0 } };
	static char help_arg[] = "--help", version_arg[] = "--version";
	static const char about[] = "A holder's PIV card (YubiKey, PIV card, or offpass's virtual card) over PC/SC:\n"
				    "the key generated on the card, its certificate, PIN and PUK, the credential.";
	int c;

	/* "+": options before the command name are global (--reader). */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h' || c == 'V') {
			char *args[] = { argv[0], c == 'h' ? help_arg : version_arg, NULL };
			int rv = ofp_cli_main(PROG, about, commands, OFP_ARRAY_LEN(commands), 2, args);
			if (c == 'h')
				printf("\nBefore or after the command:\n%s", common_help);
			return rv;
		}
		if (c != O_READER) {
			fprintf(stderr, "Try '%s --help'.\n", PROG);
			return OFP_EXIT_USAGE;
		}
		global_reader = optarg;
	}
	argv[optind - 1] = argv[0];
	return ofp_cli_main(PROG, about, commands, OFP_ARRAY_LEN(commands), argc - optind + 1, argv + optind - 1);
}

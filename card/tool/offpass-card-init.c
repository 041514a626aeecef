/* offpass-card-init.c - offpass-card init: a card prepared for its holder. */
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
#include "card/tool/offpass-card_int.h"

#define OPENSC_MODULE "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"

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

int cmd_init(int argc, char **argv)
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

/* card.c - the management key, what the card says about itself (slots,
 * status), and reset. init is in card-init.c. */
#include "config.h"
#include "card/tool/card.h"
#include "card/tool/card_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "hex.h"
#include "secmem.h"
#include "format/format.h"

static const uint8_t all_slots[4] = { OFP_PIV_SLOT_AUTH, OFP_PIV_SLOT_SIGN, OFP_PIV_SLOT_KEYMGMT,
				      OFP_PIV_SLOT_CARDAUTH };

const char *ofp_card_p11_label(uint8_t slot)
{
	switch (slot) {
	case OFP_PIV_SLOT_AUTH:
		return "PIV AUTH key";
	case OFP_PIV_SLOT_SIGN:
		return "SIGN key";
	case OFP_PIV_SLOT_KEYMGMT:
		return "KEY MAN key";
	case OFP_PIV_SLOT_CARDAUTH:
		return "CARD AUTH key";
	default:
		return "";
	}
}

unsigned ofp_card_p11_id(uint8_t slot)
{
	for (unsigned i = 0; i < OFP_ARRAY_LEN(all_slots); i++)
		if (all_slots[i] == slot)
			return i + 1;
	return 0;
}

int ofp_card_piv_fail(ofp_piv_t *p, const char *what, char *err, size_t err_len)
{
	snprintf(err, err_len, "reader '%s': %s%s%s", ofp_piv_reader(p), what ? what : "", what ? ": " : "",
		 ofp_piv_error(p));
	return OFP_CARD_FAILED;
}

/* ---- the management key -------------------------------------------------------- */

/* The algorithm of a key given without one: the card's (GET METADATA),
 * else what its length says, 3DES for 24 bytes. */
static uint8_t mgm_alg(ofp_piv_t *p, size_t len)
{
	ofp_piv_metadata_t md;

	if (ofp_piv_get_metadata(p, OFP_PIV_KEY_MGMT, &md) == OFP_PIV_OK && ofp_piv_mgm_key_len(md.alg) == len)
		return md.alg;
	return len == 16 ? OFP_PIV_ALG_AES128 : len == 32 ? OFP_PIV_ALG_AES256 : OFP_PIV_ALG_3DES;
}

int ofp_card_authenticate(ofp_piv_t *p, const ofp_card_mgm_t *m, char *err, size_t err_len)
{
	const uint8_t *key = m != NULL ? m->key : ofp_piv_default_mgm_key;
	size_t len = m != NULL ? m->len : sizeof(ofp_piv_default_mgm_key);
	uint8_t alg = m != NULL && m->alg != 0 ? m->alg : mgm_alg(p, len);
	ofp_piv_metadata_t md;

	if (m == NULL && ofp_piv_get_metadata(p, OFP_PIV_KEY_MGMT, &md) == OFP_PIV_OK && !md.is_default) {
		snprintf(err, err_len, "reader '%s': the card's management key (%s) is not the factory default: "
				       "give it with --current-mgm-key-file",
			 ofp_piv_reader(p), ofp_piv_alg_name(md.alg));
		return OFP_CARD_REFUSED;
	}
	if (ofp_piv_authenticate(p, alg, key, len) == OFP_PIV_OK)
		return OFP_CARD_OK;
	ofp_card_piv_fail(p, NULL, err, err_len);
	if (m == NULL && ofp_piv_sw(p) == 0x6982) {
		size_t n = strlen(err);
		snprintf(err + n, err_len - n, " (the card's management key is not the factory default: give it "
					       "with --current-mgm-key-file)");
	}
	return OFP_CARD_FAILED;
}

/* ---- slots ---------------------------------------------------------------------- */

/* The certificate's subject, end of validity and P-256 public key. */
static void cert_details(const uint8_t *der, size_t len, ofp_card_slot_t *s)
{
	const unsigned char *q = der;
	X509 *x = d2i_X509(NULL, &q, (long)len);
	EVP_PKEY *key = x != NULL ? X509_get0_pubkey(x) : NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	char group[32] = "";
	size_t n = 0;
	int got;

	snprintf(s->subject, sizeof(s->subject), "(not an X.509 certificate)");
	if (x == NULL || bio == NULL)
		goto out;
	X509_NAME_oneline(X509_get_subject_name(x), s->subject, (int)sizeof(s->subject));
	if (ASN1_TIME_print(bio, X509_get0_notAfter(x)) == 1) {
		got = BIO_read(bio, s->not_after, (int)sizeof(s->not_after) - 1);
		s->not_after[got > 0 ? got : 0] = '\0';
	}
	if (s->pub_len == 0 && key != NULL &&
	    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) == 1 &&
	    strcmp(group, "prime256v1") == 0 &&
	    EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, s->pub, sizeof(s->pub), &n) ==
		    1 &&
	    n == OFP_PIV_P256_POINT_LEN && s->pub[0] == 0x04)
		s->pub_len = n;
out:
	BIO_free(bio);
	X509_free(x);
}

int ofp_card_slot_info(ofp_piv_t *p, uint8_t slot, ofp_card_slot_t *out, char *err, size_t err_len)
{
	ofp_piv_metadata_t md;
	uint8_t *obj = NULL;
	size_t len = 0;
	ofp_tlv_t cert;
	int rv;

	memset(out, 0, sizeof(*out));
	out->slot = slot;
	rv = ofp_piv_get_metadata(p, slot, &md);
	if (rv == OFP_PIV_ERR)
		return ofp_card_piv_fail(p, NULL, err, err_len);
	out->key = rv == OFP_PIV_OK ? 1 : rv == OFP_PIV_ABSENT ? 0 : -1;
	if (rv == OFP_PIV_OK) {
		out->alg = md.alg;
		out->pin_policy = md.pin_policy;
		out->origin = md.origin;
		if (md.alg == OFP_PIV_ALG_ECCP256 && md.pub_len == OFP_PIV_P256_POINT_LEN) {
			memcpy(out->pub, md.pub, md.pub_len);
			out->pub_len = md.pub_len;
		}
	}
	rv = ofp_piv_get_data(p, ofp_card_cert_object(slot), &obj, &len);
	if (rv == OFP_PIV_ERR)
		return ofp_card_piv_fail(p, NULL, err, err_len);
	if (rv == OFP_PIV_OK) {
		out->has_cert = true;
		if (ofp_tlv_find(obj, len, 0x70, &cert) == 0)
			cert_details(cert.val, cert.len, out);
		else
			snprintf(out->subject, sizeof(out->subject), "(malformed certificate object)");
	}
	free(obj);
	return OFP_CARD_OK;
}

/* ---- status ---------------------------------------------------------------------------- */

static void status_secrets(ofp_piv_t *p, ofp_card_status_t *st)
{
	ofp_piv_metadata_t md;

	if (ofp_piv_get_metadata(p, OFP_PIV_REF_PIN, &md) == OFP_PIV_OK) {
		st->pin_total = md.tries_total;
		st->pin_default = md.is_default;
		if (st->pin_tries < 0)
			st->pin_tries = md.tries_left;
	}
	if (ofp_piv_get_metadata(p, OFP_PIV_REF_PUK, &md) == OFP_PIV_OK) {
		st->puk_total = md.tries_total;
		st->puk_tries = md.tries_left;
		st->puk_default = md.is_default;
	}
	if (ofp_piv_get_metadata(p, OFP_PIV_KEY_MGMT, &md) == OFP_PIV_OK) {
		st->mgm_alg = md.alg;
		st->mgm_default = md.is_default;
	}
}

static int status_credential(ofp_piv_t *p, const char *pin, ofp_card_status_t *st, char *err, size_t err_len)
{
	uint8_t *cred = NULL;
	size_t len = 0;
	ofp_credential_t c;
	ofp_fmt_error_t fe;
	int rv = ofp_card_get_credential(p, pin, &cred, &len, err, err_len);

	if (rv == 1) {
		st->cred_state = OFP_CARD_CRED_NONE;
		return OFP_CARD_OK;
	}
	if (rv != OFP_CARD_OK)
		return rv;
	if (len > sizeof(st->cred) || ofp_credential_decode(cred, len, &c, &fe) != OFP_FMT_OK) {
		st->cred_state = OFP_CARD_CRED_CORRUPT;
	} else {
		st->cred_state = OFP_CARD_CRED_PRESENT;
		memcpy(st->cred, cred, len);
		st->cred_len = len;
	}
	free(cred);
	return OFP_CARD_OK;
}

int ofp_card_status(ofp_piv_t *p, const char *pin, ofp_card_status_t *st, char *err, size_t err_len)
{
	int rv;

	memset(st, 0, sizeof(*st));
	snprintf(st->reader, sizeof(st->reader), "%s", ofp_piv_reader(p));
	st->pin_total = st->puk_tries = st->puk_total = -1;
	st->pin_default = st->puk_default = st->mgm_default = -1;
	/* First, before any VERIFY of this session: the PIN's tries left. */
	if (ofp_card_probe(p, &st->caps, err, err_len) != OFP_CARD_OK)
		return OFP_CARD_FAILED;
	st->pin_verified = st->caps.pin_verified;
	st->pin_tries = st->caps.pin_tries;
	st->has_version = st->caps.version == OFP_CARD_CAP_YES;
	memcpy(st->version, st->caps.version_bytes, sizeof(st->version));
	rv = ofp_piv_get_serial(p, &st->serial);
	if (rv == OFP_PIV_ERR)
		return ofp_card_piv_fail(p, NULL, err, err_len);
	st->has_serial = rv == OFP_PIV_OK;
	status_secrets(p, st);
	for (size_t i = 0; i < OFP_ARRAY_LEN(all_slots); i++)
		if (ofp_card_slot_info(p, all_slots[i], &st->slots[i], err, err_len) != OFP_CARD_OK)
			return OFP_CARD_FAILED;
	if (pin == NULL) {
		st->cred_state = OFP_CARD_CRED_UNREAD;
		return OFP_CARD_OK;
	}
	return status_credential(p, pin, st, err, err_len);
}

static void print_tries(FILE *f, const char *what, int left, int total, int is_default)
{
	fprintf(f, "%-12s", what);
	if (left < 0)
		fprintf(f, "tries left unknown");
	else if (left == 0)
		fprintf(f, "BLOCKED");
	else
		fprintf(f, "%d %s left", left, left == 1 ? "try" : "tries");
	if (total > 0)
		fprintf(f, " of %d", total);
	if (is_default == 1)
		fprintf(f, "; still the factory default: change it (offpass-card init)");
	fputc('\n', f);
}

static const char *policy_name(uint8_t policy)
{
	switch (policy) {
	case OFP_PIV_PIN_POLICY_NEVER:
		return "no PIN";
	case OFP_PIV_PIN_POLICY_ONCE:
		return "PIN once";
	case OFP_PIV_PIN_POLICY_ALWAYS:
		return "PIN always";
	default:
		return "PIN policy unknown";
	}
}

static void print_slot(FILE *f, const ofp_card_slot_t *s)
{
	char what[16];

	snprintf(what, sizeof(what), "slot %02X:", s->slot);
	fprintf(f, "%-12s", what);
	if (s->key == 0 && !s->has_cert) {
		fprintf(f, "empty\n");
		return;
	}
	if (s->key == 1)
		fprintf(f, "%s key, %s, %s", ofp_piv_alg_name(s->alg),
			s->origin == 1 ? "generated on the card" : "imported", policy_name(s->pin_policy));
	else if (s->key == 0)
		fprintf(f, "no key");
	else
		fprintf(f, "key unknown (the card has no GET METADATA)");
	if (s->has_cert)
		fprintf(f, "; certificate %s%s%s", s->subject, s->not_after[0] ? " until " : "", s->not_after);
	fprintf(f, "; PKCS#11 (OpenSC): '%s', id %02x\n", ofp_card_p11_label(s->slot), ofp_card_p11_id(s->slot));
}

static void print_credential(FILE *f, const ofp_card_status_t *st, uint32_t now)
{
	ofp_credential_t c;
	ofp_fmt_error_t fe;
	char hid[2 * OFP_ID_LEN + 1];

	switch (st->cred_state) {
	case OFP_CARD_CRED_UNREAD:
		fprintf(f, "credential: not read (the PIN guards it: give --pin-file or --pin-env)\n");
		return;
	case OFP_CARD_CRED_NONE:
		fprintf(f, "credential: none stored (offpass-card put-credential FILE)\n");
		return;
	case OFP_CARD_CRED_CORRUPT:
		fprintf(f, "credential: the stored one is corrupt: put it again\n");
		return;
	default:
		break;
	}
	if (ofp_credential_decode(st->cred, st->cred_len, &c, &fe) != OFP_FMT_OK)
		return;
	hex_encode(c.holder_id, OFP_ID_LEN, hid);
	fprintf(f, "credential: serial %llu, holder %s, %s, grant up to %u per operation, %u offline\n",
		(unsigned long long)c.serial, hid,
		now < c.not_before ? "not yet valid" : now < c.not_after ? "valid" : "EXPIRED",
		(unsigned)c.grant.per_op_max, (unsigned)c.grant.offline_total);
}

void ofp_card_status_print(FILE *f, const ofp_card_status_t *st, uint32_t now)
{
	fprintf(f, "%-12s%s\n", "reader:", st->reader);
	fprintf(f, "%-12sPIV", "card:");
	if (st->has_version)
		fprintf(f, ", version %u.%u.%u", st->version[0], st->version[1], st->version[2]);
	if (st->has_serial)
		fprintf(f, ", serial %u", (unsigned)st->serial);
	fputc('\n', f);
	fprintf(f, "%-12s", "commands:");
	ofp_card_caps_print(f, &st->caps);
	fputc('\n', f);
	print_tries(f, "PIN:", st->pin_tries, st->pin_total, st->pin_default);
	print_tries(f, "PUK:", st->puk_tries, st->puk_total, st->puk_default);
	fprintf(f, "%-12s", "mgmt key:");
	if (st->mgm_alg == 0)
		fprintf(f, "algorithm unknown\n");
	else
		fprintf(f, "%s%s\n", ofp_piv_alg_name(st->mgm_alg),
			st->mgm_default == 1 ? "; still the factory default: change it (offpass-card init)" : "");
	for (size_t i = 0; i < OFP_ARRAY_LEN(st->slots); i++)
		print_slot(f, &st->slots[i]);
	print_credential(f, st, now);
}

/* ---- reset ---------------------------------------------------------------------------- */

int ofp_card_reset(ofp_piv_t *p, char *err, size_t err_len)
{
	ofp_piv_metadata_t md;
	bool verified;
	int pin_left = -1, puk_left = -1;

	if (ofp_piv_pin_status(p, &verified, &pin_left) != OFP_PIV_OK)
		return ofp_card_piv_fail(p, NULL, err, err_len);
	if (ofp_piv_get_metadata(p, OFP_PIV_REF_PUK, &md) == OFP_PIV_OK)
		puk_left = md.tries_left;
	/* Unknown PUK tries (no GET METADATA): the card decides (6985). */
	if (pin_left != 0 || puk_left > 0) {
		bool pin = pin_left != 0;
		int left = pin ? pin_left : puk_left;
		char tries[32] = "";
		if (left > 0)
			snprintf(tries, sizeof(tries), " (%d %s left)", left, left == 1 ? "try" : "tries");
		snprintf(err, err_len, "reader '%s': reset refused: the %s is not blocked%s: a PIV card (and a "
				       "YubiKey) resets only once both the PIN and the PUK are blocked, and a reset "
				       "erases every key on it",
			 ofp_piv_reader(p), pin ? "PIN" : "PUK", tries);
		return OFP_CARD_REFUSED;
	}
	if (ofp_piv_reset(p) == OFP_PIV_OK)
		return OFP_CARD_OK;
	ofp_card_piv_fail(p, NULL, err, err_len);
	if (ofp_piv_sw(p) == 0x6d00) {
		size_t n = strlen(err);
		snprintf(err + n, err_len - n, ": this card has no RESET (a PIV card without YubiKey's "
					       "extensions); only its vendor's tool may reset it");
	}
	return OFP_CARD_FAILED;
}

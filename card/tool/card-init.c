/* card-init.c - preparing a holder's PIV card: probe what the card can do,
 * plan, check everything that can be checked, then act; and when a step
 * fails half-way, say what the card now has and how to finish.
 *
 * Standard PIV cards (SP 800-73-4) have none of YubiKey's extensions: no
 * GET METADATA to say whether the PIN is still the factory one, no SET
 * MANAGEMENT KEY. Init finds that out before it changes anything. */
#include "config.h"
#include "card/tool/card.h"
#include "card/tool/card_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- the probe ------------------------------------------------------------------ */

/* A probe's answer as a capability; -1 when the transport failed. */
static int cap_of(ofp_piv_t *p, int rv, ofp_card_cap_t *cap)
{
	switch (rv) {
	case OFP_PIV_OK:
	case OFP_PIV_ABSENT:
		*cap = OFP_CARD_CAP_YES;
		return 0;
	case OFP_PIV_UNSUPPORTED:
		*cap = OFP_CARD_CAP_NO;
		return 0;
	default:
		/* An error status from a card that has the command: still there. */
		*cap = ofp_piv_sw(p) != 0 ? OFP_CARD_CAP_UNKNOWN : OFP_CARD_CAP_NO;
		return ofp_piv_sw(p) != 0 ? 0 : -1;
	}
}

int ofp_card_probe(ofp_piv_t *p, ofp_card_caps_t *caps, char *err, size_t err_len)
{
	ofp_piv_metadata_t md;

	memset(caps, 0, sizeof(*caps));
	/* First: the tries left, before any VERIFY of this session. A PIN left
	 * verified by another program says none (9000): that status is dropped
	 * (this session ends with a card reset anyway) and the card asked again. */
	if (ofp_piv_pin_status(p, &caps->pin_verified, &caps->pin_tries) != OFP_PIV_OK)
		return ofp_card_piv_fail(p, NULL, err, err_len);
	if (caps->pin_verified && ofp_piv_pin_logout(p) == OFP_PIV_OK &&
	    ofp_piv_pin_status(p, &caps->pin_verified, &caps->pin_tries) != OFP_PIV_OK)
		return ofp_card_piv_fail(p, NULL, err, err_len);
	if (cap_of(p, ofp_piv_get_version(p, caps->version_bytes), &caps->version) != 0 ||
	    cap_of(p, ofp_piv_get_metadata(p, OFP_PIV_KEY_MGMT, &md), &caps->metadata) != 0)
		return ofp_card_piv_fail(p, NULL, err, err_len);
	/* No data: there is no key to set, whatever the card's state. */
	if (cap_of(p, ofp_piv_probe(p, "SET MANAGEMENT KEY (probe)", 0xff, 0xff, 0xff), &caps->set_mgm) != 0)
		return ofp_card_piv_fail(p, NULL, err, err_len);
	/* Zero tries is no valid count, and without the PIN and the management
	 * key a card that has the command refuses it (6982) anyway. */
	if (!caps->pin_verified &&
	    cap_of(p, ofp_piv_probe(p, "SET PIN RETRIES (probe)", 0xfa, 0x00, 0x00), &caps->pin_retries) != 0)
		return ofp_card_piv_fail(p, NULL, err, err_len);
	/* A card resets only once the PIN (and the PUK) is blocked: with tries
	 * left, every card with RESET refuses it (6985). FB is sent only to a
	 * card that speaks YubiKey's set at all. */
	if (caps->version == OFP_CARD_CAP_YES && caps->pin_tries > 0 &&
	    cap_of(p, ofp_piv_probe(p, "RESET (probe)", 0xfb, 0x00, 0x00), &caps->reset) != 0)
		return ofp_card_piv_fail(p, NULL, err, err_len);
	return OFP_CARD_OK;
}

static const char *cap_text(ofp_card_cap_t c)
{
	return c == OFP_CARD_CAP_YES ? "yes" : c == OFP_CARD_CAP_NO ? "no" : "not probed";
}

void ofp_card_caps_print(FILE *f, const ofp_card_caps_t *c)
{
	fprintf(f, "GET VERSION %s", cap_text(c->version));
	if (c->version == OFP_CARD_CAP_YES)
		fprintf(f, " (%u.%u.%u)", c->version_bytes[0], c->version_bytes[1], c->version_bytes[2]);
	fprintf(f, ", GET METADATA %s, SET MANAGEMENT KEY %s, SET PIN RETRIES %s, RESET %s", cap_text(c->metadata),
		cap_text(c->set_mgm), cap_text(c->pin_retries), cap_text(c->reset));
}

/* ---- the plan ------------------------------------------------------------------- */

static int refuse(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return OFP_CARD_REFUSED;
}

#define KEEP_MGM_MEANS                                                                                   \
	"--keep-management-key leaves the card's management key as it is; when that is the factory key "  \
	"(published: 010203...08 three times), anyone who holds the card, without the PIN, can generate a " \
	"new key over the holder's (destroying it), replace its certificate and the credential stored on " \
	"the card; the PIN still guards the use of the key"

/* The management key: a new one only where the card can set it; the
 * factory key kept only when asked for. */
static int plan_mgm(const ofp_card_caps_t *caps, const ofp_card_init_args_t *a, char *err, size_t err_len)
{
	if (a->keep_mgm && a->new_mgm != NULL) {
		snprintf(err, err_len, "init: a new management key and --keep-management-key exclude each other");
		return OFP_CARD_FAILED;
	}
	if (a->new_mgm != NULL && caps->set_mgm == OFP_CARD_CAP_NO)
		return refuse(err, err_len,
			      "init: nothing was changed: this card cannot change its management key (SET MANAGEMENT "
			      "KEY: 6D00, instruction not supported: a PIV card without YubiKey's extensions). Set a "
			      "new one with the card vendor's tool first (then give it with --current-mgm-key-file), "
			      "or run init again with --keep-management-key and no new key. " KEEP_MGM_MEANS);
	if (a->new_mgm == NULL && a->mgm == NULL && !a->keep_mgm)
		return refuse(err, err_len,
			      "init: no new management key: the card would keep the factory key. Give one "
			      "(--mgm-key-file), or say --keep-management-key. " KEEP_MGM_MEANS);
	return OFP_CARD_OK;
}

/* The current PIN and PUK: given, or known (GET METADATA) to be the
 * factory ones. A card without GET METADATA is not guessed at. */
static int plan_secrets(const ofp_card_caps_t *caps, const ofp_card_init_args_t *a, char *err, size_t err_len)
{
	char tries[48] = "";

	if (caps->pin_tries == 0)
		return refuse(err, err_len, "init: nothing was changed: the PIN is blocked: unblock it with the PUK "
					    "first (offpass-card unblock)");
	if (caps->pin_tries > 0)
		snprintf(tries, sizeof(tries), " (the PIN has %d %s left)", caps->pin_tries,
			 caps->pin_tries == 1 ? "try" : "tries");
	if (caps->metadata == OFP_CARD_CAP_YES)
		return OFP_CARD_OK;
	if (a->pin == NULL)
		return refuse(err, err_len,
			      "init: nothing was changed: this card cannot say whether its PIN is still the factory "
			      "one (no GET METADATA), and init never guesses a PIN%s: give the current PIN with "
			      "--current-pin-file (a new card's is " OFP_CARD_DEFAULT_PIN ")",
			      tries);
	if (a->new_puk != NULL && a->puk == NULL)
		return refuse(err, err_len,
			      "init: nothing was changed: this card cannot say whether its PUK is still the factory "
			      "one (no GET METADATA), and init never guesses a PUK: give the current PUK with "
			      "--current-puk-file (a new card's is " OFP_CARD_DEFAULT_PUK "), or keep it (no "
			      "--puk-file)");
	return OFP_CARD_OK;
}

int ofp_card_init_plan(const ofp_card_caps_t *caps, const ofp_card_init_args_t *a, unsigned *plan, char *err,
		       size_t err_len)
{
	int rv = plan_mgm(caps, a, err, err_len);

	*plan = 0;
	if (rv == OFP_CARD_OK)
		rv = plan_secrets(caps, a, err, err_len);
	if (rv != OFP_CARD_OK)
		return rv;
	*plan = OFP_CARD_STEP_KEY | OFP_CARD_STEP_CERT;
	if (a->new_puk != NULL)
		*plan |= OFP_CARD_STEP_PUK;
	if (a->new_pin != NULL)
		*plan |= OFP_CARD_STEP_PIN;
	if (a->new_mgm != NULL)
		*plan |= OFP_CARD_STEP_MGM;
	return OFP_CARD_OK;
}

void ofp_card_plan_print(FILE *f, const ofp_card_init_args_t *a, unsigned plan)
{
	const char *sep = "";

	if (plan & OFP_CARD_STEP_PUK) {
		fprintf(f, "change the PUK");
		sep = "; ";
	}
	if (plan & OFP_CARD_STEP_PIN) {
		fprintf(f, "%schange the PIN", sep);
		sep = "; ";
	}
	if (plan & OFP_CARD_STEP_KEY) {
		fprintf(f, "%sgenerate an EC P-256 key in slot %02X%s", sep, a->slot,
			a->force ? " (replacing the one there)" : "");
		sep = "; ";
	}
	if (plan & OFP_CARD_STEP_CERT) {
		fprintf(f, "%shave the card sign its certificate and store it", sep);
		sep = "; ";
	}
	if (plan & OFP_CARD_STEP_MGM)
		fprintf(f, "%sset the new %s management key", sep, ofp_piv_alg_name(a->new_mgm->alg));
	else
		fprintf(f, "%skeep the management key", sep);
}

/* ---- the checks ---------------------------------------------------------------------- */

static int check_args(const ofp_card_init_args_t *a, char *err, size_t err_len)
{
	if (a->slot != OFP_PIV_SLOT_AUTH && a->slot != OFP_PIV_SLOT_SIGN) {
		snprintf(err, err_len, "init: the holder key goes in slot 9A or 9C, not %02X", a->slot);
		return OFP_CARD_FAILED;
	}
	if ((a->pin != NULL && !ofp_piv_pin_ok(a->pin)) || (a->puk != NULL && !ofp_piv_pin_ok(a->puk)) ||
	    (a->new_pin != NULL && !ofp_piv_pin_ok(a->new_pin)) ||
	    (a->new_puk != NULL && !ofp_piv_pin_ok(a->new_puk))) {
		snprintf(err, err_len, "init: PINs and PUKs are %d to %d characters", OFP_PIV_PIN_MIN, OFP_PIV_PIN_MAX);
		return OFP_CARD_FAILED;
	}
	if (a->new_mgm != NULL && (a->new_mgm->alg == 0 || ofp_piv_mgm_key_len(a->new_mgm->alg) != a->new_mgm->len)) {
		snprintf(err, err_len, "init: the new management key is not a %s key (%zu bytes)",
			 ofp_piv_alg_name(a->new_mgm->alg), a->new_mgm->len);
		return OFP_CARD_FAILED;
	}
	return OFP_CARD_OK;
}

/* A key already in the slot is never replaced silently. */
static int check_slot_free(ofp_piv_t *p, const ofp_card_init_args_t *a, char *err, size_t err_len)
{
	ofp_card_slot_t s;

	if (ofp_card_slot_info(p, a->slot, &s, err, err_len) != OFP_CARD_OK)
		return OFP_CARD_FAILED;
	if ((s.key == 1 || s.has_cert) && !a->force) {
		snprintf(err, err_len, "reader '%s': slot %02X holds a key already%s%s: init never replaces one "
				       "(--force does, and the old key is lost for good)",
			 ofp_piv_reader(p), a->slot, s.has_cert ? " with a certificate for " : "",
			 s.has_cert ? s.subject : "");
		return OFP_CARD_REFUSED;
	}
	return OFP_CARD_OK;
}

/* The current PIN or PUK. Not given: the factory value, which the plan
 * allowed only where GET METADATA can say whether it is still set. */
static int current_value(ofp_piv_t *p, uint8_t ref, const char *given, const char **value, char *err,
			 size_t err_len)
{
	ofp_piv_metadata_t md;
	bool pin = ref == OFP_PIV_REF_PIN;

	*value = given;
	if (given != NULL)
		return OFP_CARD_OK;
	*value = pin ? OFP_CARD_DEFAULT_PIN : OFP_CARD_DEFAULT_PUK;
	if (ofp_piv_get_metadata(p, ref, &md) == OFP_PIV_OK && !md.is_default) {
		snprintf(err, err_len, "reader '%s': the card's %s is not the factory default: give the current one "
				       "(--current-%s-file)",
			 ofp_piv_reader(p), pin ? "PIN" : "PUK", pin ? "pin" : "puk");
		return OFP_CARD_REFUSED;
	}
	return OFP_CARD_OK;
}

/* Everything that can fail without changing the card. */
static int init_checks(ofp_piv_t *p, const ofp_card_init_args_t *a, ofp_card_init_result_t *r, const char **pin,
		       const char **puk, char *err, size_t err_len)
{
	int rv = check_args(a, err, err_len);

	if (rv == OFP_CARD_OK)
		rv = ofp_card_probe(p, &r->caps, err, err_len);
	if (rv == OFP_CARD_OK)
		rv = ofp_card_init_plan(&r->caps, a, &r->plan, err, err_len);
	if (rv == OFP_CARD_OK)
		rv = ofp_card_authenticate(p, a->mgm, err, err_len);
	if (rv == OFP_CARD_OK)
		rv = check_slot_free(p, a, err, err_len);
	if (rv == OFP_CARD_OK)
		rv = current_value(p, OFP_PIV_REF_PIN, a->pin, pin, err, err_len);
	if (rv == OFP_CARD_OK && a->new_puk != NULL)
		rv = current_value(p, OFP_PIV_REF_PUK, a->puk, puk, err, err_len);
	if (rv == OFP_CARD_OK && ofp_piv_verify_pin(p, *pin) != OFP_PIV_OK)
		rv = ofp_card_piv_fail(p, "the current PIN", err, err_len);
	return rv;
}

/* ---- acting, and the way on after a failure ------------------------------------------------ */

static int step_fail(ofp_piv_t *p, const ofp_card_init_args_t *a, const ofp_card_init_result_t *r,
		     const char *what, char *err, size_t err_len)
{
	size_t n;

	if (what != NULL)
		ofp_card_piv_fail(p, what, err, err_len);
	n = strlen(err);
	if (n + 1 < err_len) {
		err[n++] = '\n';
		ofp_card_init_resume(a, r->done, err + n, err_len - n);
	}
	return OFP_CARD_FAILED;
}

static int init_secrets(ofp_piv_t *p, const ofp_card_init_args_t *a, const char *pin, const char *puk,
			ofp_card_init_result_t *r, char *err, size_t err_len)
{
	if (a->new_puk != NULL) {
		if (ofp_piv_change_reference(p, OFP_PIV_REF_PUK, puk, a->new_puk) != OFP_PIV_OK)
			return step_fail(p, a, r, "changing the PUK", err, err_len);
		r->puk_changed = true;
		r->done |= OFP_CARD_STEP_PUK;
	}
	if (a->new_pin != NULL) {
		if (ofp_piv_change_reference(p, OFP_PIV_REF_PIN, pin, a->new_pin) != OFP_PIV_OK)
			return step_fail(p, a, r, "changing the PIN", err, err_len);
		r->pin_changed = true;
		r->done |= OFP_CARD_STEP_PIN;
	}
	return OFP_CARD_OK;
}

static int init_key(ofp_piv_t *p, const ofp_card_init_args_t *a, const char *pin, ofp_card_init_result_t *r,
		    char *err, size_t err_len)
{
	if (ofp_piv_generate(p, a->slot, a->pin_policy, r->pub) != OFP_PIV_OK)
		return step_fail(p, a, r, "generating the key", err, err_len);
	r->done |= OFP_CARD_STEP_KEY;
	if (ofp_card_selfsign(p, a->slot, r->pub, pin, a->subject ? a->subject : OFP_CARD_DEFAULT_SUBJECT,
			      a->days ? a->days : 3650, a->now, &r->cert, &r->cert_len, err, err_len) != OFP_CARD_OK ||
	    ofp_card_store_cert(p, a->slot, r->cert, r->cert_len, err, err_len) != OFP_CARD_OK)
		return step_fail(p, a, r, NULL, err, err_len);
	r->done |= OFP_CARD_STEP_CERT;
	return OFP_CARD_OK;
}

int ofp_card_init(ofp_piv_t *p, const ofp_card_init_args_t *a, ofp_card_init_result_t *r, char *err,
		  size_t err_len)
{
	const char *pin = NULL, *puk = NULL;
	int rv;

	memset(r, 0, sizeof(*r));
	rv = init_checks(p, a, r, &pin, &puk, err, err_len);
	if (rv != OFP_CARD_OK || a->dry_run)
		return rv;
	r->factory_mgm_kept = a->keep_mgm && a->mgm == NULL;
	rv = init_secrets(p, a, pin, puk, r, err, err_len);
	if (rv == OFP_CARD_OK)
		rv = init_key(p, a, r->pin_changed ? a->new_pin : pin, r, err, err_len);
	if (rv == OFP_CARD_OK && a->new_mgm != NULL) {
		if (ofp_piv_set_mgm_key(p, a->new_mgm->alg, a->new_mgm->key, a->new_mgm->len) != OFP_PIV_OK)
			return step_fail(p, a, r, "setting the new management key", err, err_len);
		r->mgm_changed = true;
		r->done |= OFP_CARD_STEP_MGM;
	}
	return rv;
}

void ofp_card_init_result_free(ofp_card_init_result_t *r)
{
	free(r->cert);
	r->cert = NULL;
	r->cert_len = 0;
}

/* Append to buf at *n, never past len. */
static void add(char *buf, size_t len, size_t *n, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void add(char *buf, size_t len, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*n >= len)
		return;
	va_start(ap, fmt);
	w = vsnprintf(buf + *n, len - *n, fmt, ap);
	va_end(ap);
	if (w > 0)
		*n = (size_t)w < len - *n ? *n + (size_t)w : len;
}

void ofp_card_init_resume(const ofp_card_init_args_t *a, unsigned done, char *buf, size_t len)
{
	size_t n = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (done == 0) {
		add(buf, len, &n, "init changed nothing on the card: fix the cause and run the same init again.");
		return;
	}
	add(buf, len, &n, "Already changed on the card:");
	if (done & OFP_CARD_STEP_PUK)
		add(buf, len, &n, " the PUK is the new one;");
	if (done & OFP_CARD_STEP_PIN)
		add(buf, len, &n, " the PIN is the new one;");
	if (done & OFP_CARD_STEP_KEY)
		add(buf, len, &n, " slot %02X holds a new key (any old one there is gone);", a->slot);
	if (done & OFP_CARD_STEP_CERT)
		add(buf, len, &n, " its certificate is stored;");
	add(buf, len, &n, " the management key is still the %s one.", a->mgm != NULL ? "current" : "factory");
	add(buf, len, &n, "\nTo finish, run init again with");
	if (done & OFP_CARD_STEP_PUK)
		add(buf, len, &n, " --current-puk-file (the new PUK) and no --puk-file,");
	if (done & OFP_CARD_STEP_PIN)
		add(buf, len, &n, " --current-pin-file (the new PIN) and no --pin-file,");
	if (a->mgm != NULL)
		add(buf, len, &n, " --current-mgm-key-file as before,");
	if (done & OFP_CARD_STEP_KEY)
		add(buf, len, &n, " --force (the new key in %02X is replaced: nothing uses it yet),", a->slot);
	add(buf, len, &n, " and the same --mgm-key-file (or --keep-management-key) and slot.");
}

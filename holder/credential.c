/* credential.c - the issued credential, kept on the token as a data object
 * so that the token carries the key and its credential together; its
 * validity and the holder's status. */
#include "config.h"
#include "holder/holder.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "hex.h"
#include "holder/counter.h"

/* The credential names this key (same algorithm, same public key). */
static int check_for_key(const ofp_credential_t *c, const ofp_p11_key_t *key, const char *what, char *err,
			 size_t err_len)
{
	uint8_t form[OFP_HOLDER_KEY_MAX];
	size_t form_len = 0;
	char want[2 * OFP_HOLDER_KEY_MAX + 1], got[2 * OFP_HOLDER_KEY_MAX + 1];

	if (ofp_holder_key_form(key, form, &form_len, err, err_len) != OFP_HOLDER_OK)
		return OFP_HOLDER_FAILED;
	if (c->holder_alg == key->alg && ofp_holder_key_len(c->holder_alg) == form_len &&
	    memcmp(c->holder_key, form, form_len) == 0)
		return OFP_HOLDER_OK;
	hex_encode(form, form_len, want);
	hex_encode(c->holder_key, ofp_holder_key_len(c->holder_alg), got);
	snprintf(err, err_len,
		 "%s (serial %llu) is for the %s key %s, not for this token's %s key %s: it was issued for "
		 "another key",
		 what, (unsigned long long)c->serial, ofp_holder_alg_name(c->holder_alg), got,
		 ofp_holder_alg_name(key->alg), want);
	return OFP_HOLDER_REFUSED;
}

ofp_validity_t ofp_holder_validity(const ofp_credential_t *c, uint32_t now)
{
	if (now < c->not_before)
		return OFP_VALIDITY_NOT_YET;
	return now < c->not_after ? OFP_VALIDITY_VALID : OFP_VALIDITY_EXPIRED;
}

/* "2 d 3 h", "5 h 12 min", "7 min", "30 s": two units at most. */
static void duration_text(uint32_t s, char *buf, size_t len)
{
	if (s >= 86400)
		snprintf(buf, len, "%u d %u h", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, len, "%u h %u min", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, len, "%u min", s / 60);
	else
		snprintf(buf, len, "%u s", s);
}

void ofp_holder_validity_text(const ofp_credential_t *c, uint32_t now, char *buf, size_t len)
{
	char d[32];

	switch (ofp_holder_validity(c, now)) {
	case OFP_VALIDITY_NOT_YET:
		duration_text(c->not_before - now, d, sizeof(d));
		snprintf(buf, len, "not yet valid (in %s)", d);
		break;
	case OFP_VALIDITY_VALID:
		duration_text(c->not_after - now, d, sizeof(d));
		snprintf(buf, len, "valid for %s", d);
		break;
	default:
		duration_text(now - c->not_after, d, sizeof(d));
		snprintf(buf, len, "expired %s ago", d);
		break;
	}
}

/* ---- where the credential is kept ---------------------------------------- */

/* DIR/<prefix>-<first 8 bytes of SHA-256(key form), hex>, as the counter. */
int ofp_holder_state_path(const char *dir, const char *prefix, const ofp_p11_key_t *key, char *path, size_t cap,
			  char *err, size_t err_len)
{
	uint8_t form[OFP_HOLDER_KEY_MAX], digest[OFP_HASH_LEN];
	size_t form_len = 0;
	char hex[2 * 8 + 1];
	int n;

	if (ofp_holder_key_form(key, form, &form_len, err, err_len) != OFP_HOLDER_OK)
		return OFP_HOLDER_FAILED;
	if (!ofp_sha256(form, form_len, digest)) {
		snprintf(err, err_len, "credential file: SHA-256 failed (OpenSSL)");
		return OFP_HOLDER_FAILED;
	}
	hex_encode(digest, 8, hex);
	n = snprintf(path, cap, "%s/%s-%s", dir, prefix, hex);
	if (n < 0 || (size_t)n >= cap) {
		snprintf(err, err_len, "credential file: path in '%s' too long", dir);
		return OFP_HOLDER_FAILED;
	}
	return OFP_HOLDER_OK;
}

static int state_file(const char *dir, const ofp_p11_key_t *key, char *path, size_t cap, char *err, size_t err_len)
{
	return ofp_holder_state_path(dir, "credential", key, path, cap, err, err_len);
}

/* mkdir -p; the directories it makes are 0700 (the state is the holder's). */
int ofp_holder_make_dirs(const char *dir, char *err, size_t err_len)
{
	char buf[PATH_MAX];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(buf)) {
		snprintf(err, err_len, "state directory '%s': bad path", dir);
		return OFP_HOLDER_FAILED;
	}
	memcpy(buf, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
			snprintf(err, err_len, "state directory '%s': %s", buf, strerror(errno));
			return OFP_HOLDER_FAILED;
		}
		buf[i] = i < len ? '/' : '\0';
	}
	return OFP_HOLDER_OK;
}

/* One BER-TLV (tags of 1 to 3 bytes, lengths up to 82 xx xx): 0, or -1. */
static int tlv_next(const uint8_t **pos, const uint8_t *end, unsigned *tag, const uint8_t **val, size_t *len)
{
	const uint8_t *q = *pos;
	size_t n = 0, nlen;

	if (q >= end)
		return -1;
	*tag = *q++;
	if ((*tag & 0x1f) == 0x1f) {
		for (int i = 0;; i++) {
			if (q >= end || i == 2)
				return -1;
			*tag = *tag << 8 | *q;
			if ((*q++ & 0x80) == 0)
				break;
		}
	}
	if (q >= end)
		return -1;
	if (*q < 0x80) {
		n = *q++;
	} else {
		nlen = *q++ & 0x7f;
		if (nlen == 0 || nlen > 2 || (size_t)(end - q) < nlen)
			return -1;
		while (nlen-- > 0)
			n = n << 8 | *q++;
	}
	if ((size_t)(end - q) < n)
		return -1;
	*val = q;
	*len = n;
	*pos = q + n;
	return 0;
}

/* The credential inside a PIV Printed Information value (53 {..., CF
 * credential, ...}, or the inner TLVs alone): 0 with *cred into obj, 1
 * when it has none, -1 when malformed. */
static int piv_extract(const uint8_t *obj, size_t len, const uint8_t **cred, size_t *cred_len)
{
	const uint8_t *pos = obj, *end = obj + len, *val;
	unsigned tag;
	size_t vlen;

	if (len > 0 && obj[0] == 0x53) {
		if (tlv_next(&pos, end, &tag, &val, &vlen) != 0 || pos != end)
			return -1;
		pos = val;
		end = val + vlen;
	}
	while (pos < end) {
		if (tlv_next(&pos, end, &tag, &val, &vlen) != 0)
			return -1;
		if (tag == OFP_HOLDER_PIV_CRED_TAG) {
			*cred = val;
			*cred_len = vlen;
			return 0;
		}
	}
	return 1;
}

/* The value of the first data object with this label (any application):
 * 0 with a malloc'ed copy, 1 when there is none or it cannot be read. */
static int labelled_data(ofp_p11_t *p, const char *label, size_t max, uint8_t **val, size_t *len)
{
	CK_FUNCTION_LIST *fn = ofp_p11_functions(p);
	CK_SESSION_HANDLE s = ofp_p11_session(p);
	CK_OBJECT_CLASS klass = CKO_DATA;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &klass, sizeof(klass) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_ATTRIBUTE v = { CKA_VALUE, NULL, 0 };
	CK_OBJECT_HANDLE h;
	CK_ULONG n = 0;

	*val = NULL;
	*len = 0;
	if (fn->C_FindObjectsInit(s, tmpl, OFP_ARRAY_LEN(tmpl)) != CKR_OK)
		return 1;
	if (fn->C_FindObjects(s, &h, 1, &n) != CKR_OK)
		n = 0;
	(void)fn->C_FindObjectsFinal(s);
	if (n == 0 || fn->C_GetAttributeValue(s, h, &v, 1) != CKR_OK || v.ulValueLen == 0 ||
	    v.ulValueLen == CK_UNAVAILABLE_INFORMATION || v.ulValueLen > max)
		return 1;
	v.pValue = malloc(v.ulValueLen);
	if (v.pValue == NULL || fn->C_GetAttributeValue(s, h, &v, 1) != CKR_OK) {
		free(v.pValue);
		return 1;
	}
	*val = v.pValue;
	*len = v.ulValueLen;
	return 0;
}

/* The credential bytes in the PIV card's object, through PKCS#11 (OpenSC
 * shows it once logged in): 0 with a malloc'ed copy, 1 when none, -1 when
 * the object is there but malformed. */
static int card_credential(ofp_p11_t *p, uint8_t **cred, size_t *len)
{
	uint8_t *obj = NULL;
	const uint8_t *c = NULL;
	size_t obj_len = 0, c_len = 0;
	int rv = labelled_data(p, OFP_HOLDER_PIV_OBJECT_LABEL, 4096, &obj, &obj_len);

	*cred = NULL;
	*len = 0;
	if (rv != 0)
		return 1;
	rv = piv_extract(obj, obj_len, &c, &c_len);
	if (rv == 0 && (c_len == 0 || c_len > OFP_CREDENTIAL_MAX))
		rv = -1;
	if (rv == 0 && (*cred = malloc(c_len)) == NULL)
		rv = -1;
	if (rv == 0) {
		memcpy(*cred, c, c_len);
		*len = c_len;
	}
	free(obj);
	return rv;
}

/* The token refused to create the data object because it cannot keep any
 * (p11client reports the call and its CKR_ name). */
static bool cannot_store(const char *why)
{
	return strstr(why, "C_CreateObject: CKR_FUNCTION_NOT_SUPPORTED") != NULL ||
	       strstr(why, "CKR_TOKEN_WRITE_PROTECTED") != NULL;
}

/* The token has no data objects: the card's object if it holds this
 * credential already, else the state file. */
static int install_fallback(ofp_p11_t *p, const ofp_p11_key_t *key, const char *dir, const uint8_t *cred,
			    size_t len, ofp_cred_place_t *place, char *err, size_t err_len)
{
	uint8_t *on_card = NULL;
	size_t card_len = 0;
	bool same;
	int rv;

	if (state_file(dir, key, place->path, sizeof(place->path), err, err_len) != OFP_HOLDER_OK)
		return OFP_HOLDER_FAILED;
	same = card_credential(p, &on_card, &card_len) == 0 && card_len == len && memcmp(on_card, cred, len) == 0;
	free(on_card);
	if (same) {
		place->store = OFP_CRED_STORE_CARD;
		/* An older file would otherwise compete with the card's copy. */
		if (unlink(place->path) != 0 && errno != ENOENT) {
			snprintf(err, err_len, "credential file '%s': %s", place->path, strerror(errno));
			return OFP_HOLDER_FAILED;
		}
		return OFP_HOLDER_OK;
	}
	place->store = OFP_CRED_STORE_FILE;
	if (ofp_holder_make_dirs(dir, err, err_len) != OFP_HOLDER_OK)
		return OFP_HOLDER_FAILED;
	rv = atomic_file_write(place->path, cred, len, 0600);
	if (rv != 0) {
		snprintf(err, err_len, "credential file '%s': %s", place->path, strerror(-rv));
		return OFP_HOLDER_FAILED;
	}
	return OFP_HOLDER_OK;
}

int ofp_holder_install_dir(ofp_p11_t *p, const ofp_p11_key_t *key, const char *dir, const uint8_t *cred,
			   size_t len, uint32_t now, ofp_credential_t *out, ofp_cred_place_t *place, char *err,
			   size_t err_len)
{
	ofp_cred_place_t where;
	ofp_credential_t c;
	ofp_fmt_error_t fe;
	char when[64];
	int rv;

	memset(&where, 0, sizeof(where));
	if (ofp_credential_decode(cred, len, &c, &fe) != OFP_FMT_OK) {
		snprintf(err, err_len, "not a valid credential (%s: %s)", ofp_fmt_rc_name(fe.code), fe.reason);
		return OFP_HOLDER_REFUSED;
	}
	rv = check_for_key(&c, key, "credential", err, err_len);
	if (rv != OFP_HOLDER_OK)
		return rv;
	if (ofp_holder_validity(&c, now) == OFP_VALIDITY_EXPIRED) {
		ofp_holder_time_text(c.not_after, when, sizeof(when));
		snprintf(err, err_len, "credential (serial %llu) expired at %s: ask the issuer for a new one",
			 (unsigned long long)c.serial, when);
		return OFP_HOLDER_REFUSED;
	}
	if (ofp_p11_data_write(p, OFP_HOLDER_CREDENTIAL_LABEL, cred, len) != 0) {
		if (dir == NULL || !cannot_store(ofp_p11_error(p))) {
			snprintf(err, err_len, "storing the credential: %s", ofp_p11_error(p));
			return OFP_HOLDER_FAILED;
		}
		rv = install_fallback(p, key, dir, cred, len, &where, err, err_len);
		if (rv != OFP_HOLDER_OK)
			return rv;
	}
	if (out != NULL)
		*out = c;
	if (place != NULL)
		*place = where;
	return OFP_HOLDER_OK;
}

int ofp_holder_install(ofp_p11_t *p, const ofp_p11_key_t *key, const uint8_t *cred, size_t len, uint32_t now,
		       ofp_credential_t *out, char *err, size_t err_len)
{
	return ofp_holder_install_dir(p, key, NULL, cred, len, now, out, NULL, err, err_len);
}

/* A credential found outside the token's data objects. */
typedef struct candidate {
	bool found;
	ofp_credential_t c;
	ofp_cred_place_t place;
} candidate_t;

static int decode_candidate(const uint8_t *raw, size_t len, candidate_t *cand, const char *where, char *err,
			    size_t err_len)
{
	ofp_fmt_error_t fe;

	if (ofp_credential_decode(raw, len, &cand->c, &fe) != OFP_FMT_OK) {
		snprintf(err, err_len, "the credential %s is corrupt (%s): install it again", where, fe.reason);
		return OFP_HOLDER_FAILED;
	}
	cand->found = true;
	return OFP_HOLDER_OK;
}

static int from_card(ofp_p11_t *p, candidate_t *cand, char *err, size_t err_len)
{
	uint8_t *raw = NULL;
	size_t len = 0;
	char where[128];
	int rv = card_credential(p, &raw, &len);

	cand->place.store = OFP_CRED_STORE_CARD;
	snprintf(where, sizeof(where), "in the PIV object '%s' of token '%s'", OFP_HOLDER_PIV_OBJECT_LABEL,
		 ofp_p11_token_label(p));
	if (rv < 0) {
		snprintf(err, err_len, "the credential %s is malformed: put it again (offpass-card put-credential)",
			 where);
		return OFP_HOLDER_FAILED;
	}
	if (rv == 1)
		return OFP_HOLDER_OK;
	rv = decode_candidate(raw, len, cand, where, err, err_len);
	free(raw);
	return rv;
}

static int from_file(const char *dir, const ofp_p11_key_t *key, candidate_t *cand, char *err, size_t err_len)
{
	uint8_t *raw = NULL;
	size_t len = 0;
	char where[4200];
	int rv;

	cand->place.store = OFP_CRED_STORE_FILE;
	if (dir == NULL || key == NULL)
		return OFP_HOLDER_OK;
	if (state_file(dir, key, cand->place.path, sizeof(cand->place.path), err, err_len) != OFP_HOLDER_OK)
		return OFP_HOLDER_FAILED;
	rv = file_read_all(cand->place.path, OFP_CREDENTIAL_MAX, &raw, &len);
	if (rv == -ENOENT)
		return OFP_HOLDER_OK;
	snprintf(where, sizeof(where), "in '%s'", cand->place.path);
	if (rv != 0) {
		snprintf(err, err_len, "the credential %s: %s", where,
			 rv == -EFBIG ? "larger than any credential" : strerror(-rv));
		return OFP_HOLDER_FAILED;
	}
	rv = decode_candidate(raw, len, cand, where, err, err_len);
	free(raw);
	return rv;
}

/* Of the candidates, the one for this key that expires last. */
static int choose(ofp_p11_t *p, const ofp_p11_key_t *key, candidate_t *cands, size_t n, ofp_credential_t *out,
		  ofp_cred_place_t *place, char *err, size_t err_len)
{
	candidate_t *best = NULL, *other = NULL;

	for (size_t i = 0; i < n; i++) {
		char ignored[OFP_HOLDER_ERR_LEN];
		if (!cands[i].found)
			continue;
		if (key != NULL && check_for_key(&cands[i].c, key, "", ignored, sizeof(ignored)) != OFP_HOLDER_OK) {
			other = &cands[i];
			continue;
		}
		if (best == NULL || cands[i].c.not_after > best->c.not_after ||
		    (cands[i].c.not_after == best->c.not_after && cands[i].c.serial > best->c.serial))
			best = &cands[i];
	}
	if (best == NULL && other == NULL) {
		snprintf(err, err_len, "token '%s' has no credential: install one (offpass-holder install FILE)",
			 ofp_p11_token_label(p));
		return 1;
	}
	if (best == NULL) {
		*out = other->c;
		if (place != NULL)
			*place = other->place;
		return check_for_key(&other->c, key, "the installed credential", err, err_len);
	}
	*out = best->c;
	if (place != NULL)
		*place = best->place;
	return OFP_HOLDER_OK;
}

int ofp_holder_credential_dir(ofp_p11_t *p, const ofp_p11_key_t *key, const char *dir, ofp_credential_t *out,
			      ofp_cred_place_t *place, char *err, size_t err_len)
{
	uint8_t *val = NULL;
	size_t len = 0;
	ofp_fmt_error_t fe;
	candidate_t cands[2];
	int rv = ofp_p11_data_read(p, OFP_HOLDER_CREDENTIAL_LABEL, OFP_CREDENTIAL_MAX, &val, &len);

	if (place != NULL)
		memset(place, 0, sizeof(*place));
	if (rv == 1) {
		memset(cands, 0, sizeof(cands));
		rv = from_card(p, &cands[0], err, err_len);
		if (rv == OFP_HOLDER_OK)
			rv = from_file(dir, key, &cands[1], err, err_len);
		if (rv == OFP_HOLDER_OK)
			rv = choose(p, key, cands, OFP_ARRAY_LEN(cands), out, place, err, err_len);
		return rv;
	}
	if (rv != 0) {
		snprintf(err, err_len, "reading the credential: %s", ofp_p11_error(p));
		return OFP_HOLDER_FAILED;
	}
	if (ofp_credential_decode(val, len, out, &fe) != OFP_FMT_OK) {
		snprintf(err, err_len, "the credential on token '%s' is corrupt (%s): install it again",
			 ofp_p11_token_label(p), fe.reason);
		rv = OFP_HOLDER_FAILED;
	} else if (key != NULL) {
		rv = check_for_key(out, key, "the credential on the token", err, err_len);
	}
	free(val);
	return rv;
}

int ofp_holder_credential(ofp_p11_t *p, const ofp_p11_key_t *key, ofp_credential_t *out, char *err,
			  size_t err_len)
{
	return ofp_holder_credential_dir(p, key, NULL, out, NULL, err, err_len);
}

/* The pinned trust list's version; a damaged one is reported, not fatal. */
static int status_trust(const ofp_p11_key_t *key, const char *dir, ofp_holder_status_t *st, char *err,
			size_t err_len)
{
	char ignored[OFP_HOLDER_ERR_LEN];
	ofp_trust_set_t *t;

	st->trust = 1;
	if (dir == NULL)
		return OFP_HOLDER_OK;
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		snprintf(err, err_len, "out of memory");
		return OFP_HOLDER_FAILED;
	}
	st->trust = ofp_holder_trust_pinned(dir, key, t, ignored, sizeof(ignored));
	if (st->trust == OFP_HOLDER_OK)
		st->trust_version = t->list.version;
	ofp_trust_set_free(t);
	free(t);
	return OFP_HOLDER_OK;
}

int ofp_holder_status(ofp_p11_t *p, const ofp_p11_key_t *key, const char *dir, ofp_holder_status_t *st,
		      char *err, size_t err_len)
{
	char ignored[OFP_HOLDER_ERR_LEN];
	int rv;

	memset(st, 0, sizeof(*st));
	st->token_label = ofp_p11_token_label(p);
	st->alg = key->alg;
	if (ofp_holder_key_form(key, st->key, &st->key_len, err, err_len) != OFP_HOLDER_OK)
		return OFP_HOLDER_FAILED;
	st->key_id_len = key->id_len < sizeof(st->key_id) ? key->id_len : sizeof(st->key_id);
	memcpy(st->key_id, key->id, st->key_id_len);

	/* The credential for this key; failing that, whichever is there (and
	 * reported as being for another key). */
	rv = ofp_holder_credential_dir(p, key, dir, &st->credential, &st->place, err, err_len);
	if (rv == OFP_HOLDER_REFUSED)
		rv = ofp_holder_credential_dir(p, NULL, dir, &st->credential, &st->place, err, err_len);
	if (rv < 0)
		return rv;
	st->has_credential = rv == 0;
	st->credential_for_key = st->has_credential &&
				 check_for_key(&st->credential, key, "", ignored, sizeof(ignored)) == OFP_HOLDER_OK;

	if (ofp_counter_path(dir, st->key, st->key_len, st->counter_path, sizeof(st->counter_path), err,
			     err_len) != 0)
		return OFP_HOLDER_FAILED;
	rv = ofp_counter_last(dir, st->key, st->key_len, &st->counter, err, err_len);
	if (rv < 0)
		return OFP_HOLDER_FAILED;
	st->has_counter = rv == 0;
	return status_trust(key, dir, st, err, err_len);
}

static void print_credential(FILE *f, const ofp_credential_t *c, uint32_t now)
{
	char hid[2 * OFP_ID_LEN + 1], kid[2 * OFP_KEY_ID_LEN + 1], v[64], nb[64], na[64];

	hex_encode(c->holder_id, OFP_ID_LEN, hid);
	hex_encode(c->issuer_kid, OFP_KEY_ID_LEN, kid);
	ofp_holder_validity_text(c, now, v, sizeof(v));
	ofp_holder_time_text(c->not_before, nb, sizeof(nb));
	ofp_holder_time_text(c->not_after, na, sizeof(na));
	fprintf(f, "credential: serial %llu, holder %s, issuer key %s\n", (unsigned long long)c->serial, hid,
		kid);
	fprintf(f, "validity:   %s (%s to %s)\n", v, nb, na);
	fprintf(f, "grant:      resource class %u, up to %u per operation, %u in total offline\n",
		(unsigned)c->grant.resource_class, (unsigned)c->grant.per_op_max,
		(unsigned)c->grant.offline_total);
}

void ofp_holder_status_print(FILE *f, const ofp_holder_status_t *st, uint32_t now)
{
	char key[2 * OFP_HOLDER_KEY_MAX + 1], id[2 * 64 + 1];

	hex_encode(st->key, st->key_len, key);
	hex_encode(st->key_id, st->key_id_len, id);
	fprintf(f, "token:      %s\n", st->token_label != NULL ? st->token_label : "");
	fprintf(f, "key:        %s %s (id %s)\n", ofp_holder_alg_name(st->alg), key, id);
	if (!st->has_credential)
		fprintf(f, "credential: none installed (offpass-holder install FILE)\n");
	else if (!st->credential_for_key)
		fprintf(f, "credential: serial %llu is for another key: install a new one\n",
			(unsigned long long)st->credential.serial);
	else
		print_credential(f, &st->credential, now);
	if (st->has_credential && st->place.store == OFP_CRED_STORE_CARD)
		fprintf(f, "stored:     on the card (PIV object '%s')\n", OFP_HOLDER_PIV_OBJECT_LABEL);
	else if (st->has_credential && st->place.store == OFP_CRED_STORE_FILE)
		fprintf(f, "stored:     %s (the token keeps no data objects)\n", st->place.path);
	if (st->has_counter)
		fprintf(f, "counter:    %u last used (%s)\n", (unsigned)st->counter, st->counter_path);
	else
		fprintf(f, "counter:    none used yet (%s)\n", st->counter_path);
	if (st->trust == OFP_HOLDER_OK)
		fprintf(f, "issuer:     trust list version %llu pinned\n", (unsigned long long)st->trust_version);
	else if (st->trust == 1)
		fprintf(f, "issuer:     no trust list pinned (offpass-holder install --trust FILE)\n");
	else
		fprintf(f, "issuer:     the pinned trust list cannot be read or is damaged\n");
}

/* ---- the next window's credential ------------------------------------------- */

int ofp_holder_next_keep(const ofp_p11_key_t *key, const char *dir, const uint8_t *cred, size_t len,
			 ofp_credential_t *out, ofp_cred_place_t *place, char *err, size_t err_len)
{
	ofp_credential_t c;
	ofp_fmt_error_t fe;
	int rc;

	if (ofp_credential_decode(cred, len, &c, &fe) != OFP_FMT_OK) {
		snprintf(err, err_len, "credential: %s", fe.reason);
		return OFP_HOLDER_REFUSED;
	}
	if (check_for_key(&c, key, "next credential", err, err_len) != OFP_HOLDER_OK)
		return OFP_HOLDER_REFUSED;
	if (ofp_holder_make_dirs(dir, err, err_len) != OFP_HOLDER_OK ||
	    ofp_holder_state_path(dir, "credential-next", key, place->path, sizeof(place->path), err, err_len) != OFP_HOLDER_OK)
		return OFP_HOLDER_FAILED;
	rc = atomic_file_write(place->path, cred, len, 0600);
	if (rc != 0) {
		snprintf(err, err_len, "%s: %s", place->path, strerror(-rc));
		return OFP_HOLDER_FAILED;
	}
	place->store = OFP_CRED_STORE_FILE;
	if (out != NULL)
		*out = c;
	return OFP_HOLDER_OK;
}

int ofp_holder_next_valid(const ofp_p11_key_t *key, const char *dir, uint32_t now, ofp_credential_t *out)
{
	char path[4096], err[256];
	uint8_t *raw = NULL;
	size_t len = 0;
	int rc = -1;

	if (dir == NULL || ofp_holder_state_path(dir, "credential-next", key, path, sizeof(path), err, sizeof(err)) != 0 ||
	    file_read_all(path, OFP_CREDENTIAL_MAX, &raw, &len) != 0)
		return -1;
	if (ofp_credential_decode(raw, len, out, NULL) == OFP_FMT_OK &&
	    check_for_key(out, key, "next credential", err, sizeof(err)) == OFP_HOLDER_OK &&
	    ofp_holder_validity(out, now) == OFP_VALIDITY_VALID)
		rc = 0;
	free(raw);
	return rc;
}

int ofp_holder_next_promote(ofp_p11_t *p, const ofp_p11_key_t *key, const char *dir, uint32_t now, char *err,
			    size_t err_len)
{
	char path[4096];
	uint8_t *raw = NULL;
	size_t len = 0;
	ofp_credential_t c;
	int rc;

	if (dir == NULL || ofp_holder_state_path(dir, "credential-next", key, path, sizeof(path), err, err_len) != OFP_HOLDER_OK)
		return OFP_HOLDER_OK;
	rc = file_read_all(path, OFP_CREDENTIAL_MAX, &raw, &len);
	if (rc == -ENOENT)
		return OFP_HOLDER_OK;
	if (rc != 0) {
		snprintf(err, err_len, "%s: %s", path, strerror(-rc));
		return OFP_HOLDER_FAILED;
	}
	rc = OFP_HOLDER_OK;
	if (ofp_credential_decode(raw, len, &c, NULL) != OFP_FMT_OK || ofp_holder_validity(&c, now) == OFP_VALIDITY_EXPIRED) {
		unlink(path); /* unusable or past: nothing to keep */
	} else if (ofp_holder_validity(&c, now) == OFP_VALIDITY_VALID) {
		rc = ofp_holder_install_dir(p, key, dir, raw, len, now, NULL, NULL, err, err_len);
		if (rc == OFP_HOLDER_OK)
			unlink(path);
	}
	free(raw);
	return rc;
}

/* trust.c - the issuer's trust list the holder pins, and the check of
 * every credential it receives against it (holder.h). The rules are the
 * gates' (format/trust.h); only where the list lives is the holder's. */
#include "config.h"
#include "holder/holder.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"

static int pin_path(const char *dir, const ofp_p11_key_t *key, char *path, size_t cap, char *err, size_t err_len)
{
	if (dir == NULL) {
		snprintf(err, err_len, "trust list: no state directory to keep it in");
		return OFP_HOLDER_FAILED;
	}
	return ofp_holder_state_path(dir, "trust", key, path, cap, err, err_len);
}

/* The pinned file's bytes: OFP_HOLDER_OK, 1 when there is none. */
static int read_pin(const char *path, unsigned char **buf, size_t *len, char *err, size_t err_len)
{
	int rc = file_read_all(path, OFP_TRUST_LIST_MAX, buf, len);

	if (rc == -ENOENT)
		return 1;
	if (rc != 0) {
		snprintf(err, err_len, "pinned trust list %s: %s", path,
			 rc == -EFBIG ? "larger than any trust list" : strerror(-rc));
		return OFP_HOLDER_FAILED;
	}
	return OFP_HOLDER_OK;
}

int ofp_holder_trust_pinned(const char *dir, const ofp_p11_key_t *key, ofp_trust_set_t *out, char *err,
			    size_t err_len)
{
	char path[4096], why[200];
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = pin_path(dir, key, path, sizeof(path), err, err_len);
	if (rc == OFP_HOLDER_OK)
		rc = read_pin(path, &buf, &len, err, err_len);
	if (rc != OFP_HOLDER_OK)
		return rc;
	/* Verified when it was pinned; a file that no longer decodes was
	 * damaged on disk (as a gate's trust.bin). */
	if (!ofp_trust_set_load(out, buf, len, why, sizeof(why))) {
		snprintf(err, err_len, "pinned trust list %s is damaged: %s", path, why);
		rc = OFP_HOLDER_FAILED;
	}
	free(buf);
	return rc;
}

int ofp_holder_trust_pin(const char *dir, const ofp_p11_key_t *key, const uint8_t *list, size_t len, uint32_t now,
			 uint64_t *version, bool *changed, char *err, size_t err_len)
{
	ofp_trust_set_t *cur = calloc(1, sizeof(*cur)), *next = calloc(1, sizeof(*next));
	char path[4096], why[200];
	int rc, wr;

	*changed = false;
	*version = 0;
	if (cur == NULL || next == NULL) {
		rc = OFP_HOLDER_FAILED;
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	rc = ofp_holder_trust_pinned(dir, key, cur, err, err_len);
	if (rc == 1)
		rc = OFP_HOLDER_OK; /* none yet: this one is the anchor */
	if (rc != OFP_HOLDER_OK)
		goto out;
	if (!ofp_trust_set_load(next, list, len, why, sizeof(why))) {
		rc = OFP_HOLDER_REFUSED;
		snprintf(err, err_len, "trust list refused: %s", why);
		goto out;
	}
	*version = cur->loaded ? cur->list.version : 0;
	if (cur->loaded && next->list.version <= cur->list.version)
		goto out; /* the pinned one is as new: an older list never replaces it */
	/* No bound on issued_at ahead of our clock: the holder counts no age
	 * from it (a gate does, VERIFIER.md 3.5). */
	if (!ofp_trust_set_accept(cur, next, now, OFP_HOLDER_TRUST_SKEW, UINT32_MAX, why, sizeof(why))) {
		rc = OFP_HOLDER_REFUSED;
		snprintf(err, err_len, "trust list (version %llu) refused: %s%s", (unsigned long long)next->list.version,
			 why, cur->loaded ? "; the pinned list stays" : "");
		goto out;
	}
	rc = pin_path(dir, key, path, sizeof(path), err, err_len);
	if (rc == OFP_HOLDER_OK)
		rc = ofp_holder_make_dirs(dir, err, err_len);
	if (rc != OFP_HOLDER_OK)
		goto out;
	wr = atomic_file_write(path, list, len, 0600);
	if (wr != 0) {
		rc = OFP_HOLDER_FAILED;
		snprintf(err, err_len, "pinned trust list %s: %s", path, strerror(-wr));
		goto out;
	}
	*version = next->list.version;
	*changed = true;
out:
	if (cur != NULL)
		ofp_trust_set_free(cur);
	if (next != NULL)
		ofp_trust_set_free(next);
	free(cur);
	free(next);
	return rc;
}

int ofp_holder_check_issued(const char *dir, const ofp_p11_key_t *key, const ofp_credential_t *c, uint32_t now,
			    char *err, size_t err_len)
{
	ofp_trust_set_t *pin = calloc(1, sizeof(*pin));
	uint32_t at = c->not_before > now ? c->not_before : now;
	char why[200];
	int rc;

	if (pin == NULL) {
		snprintf(err, err_len, "out of memory");
		return OFP_HOLDER_FAILED;
	}
	rc = ofp_holder_trust_pinned(dir, key, pin, err, err_len);
	if (rc == 1) {
		rc = OFP_HOLDER_REFUSED;
		snprintf(err, err_len,
			 "the credential (serial %llu) cannot be checked: no issuer trust list is pinned for this key; "
			 "give the issuer's trust.bin with --trust FILE; nothing installed",
			 (unsigned long long)c->serial);
	} else if (rc == OFP_HOLDER_OK && ofp_holder_validity(c, now) == OFP_VALIDITY_EXPIRED) {
		rc = OFP_HOLDER_REFUSED;
		snprintf(err, err_len, "the credential (serial %llu) has expired; nothing installed",
			 (unsigned long long)c->serial);
	} else if (rc == OFP_HOLDER_OK &&
		   !ofp_trust_set_check_credential(pin, c, at, OFP_HOLDER_TRUST_SKEW, why, sizeof(why))) {
		rc = OFP_HOLDER_REFUSED;
		snprintf(err, err_len,
			 "the credential (serial %llu) is not the issuer's: %s (pinned trust list version %llu); "
			 "nothing installed",
			 (unsigned long long)c->serial, why, (unsigned long long)pin->list.version);
	}
	ofp_trust_set_free(pin);
	free(pin);
	return rc;
}

/* gatekey.c - the gate's batch-signing key: a software P-256 key, PEM
 * (PKCS#8, unencrypted) mode 0600 in the state directory, created at the
 * first open. It signs sealed batches only; the issuer registers its
 * public half (offpass_verifier_public_key). */
#include "config.h"
#include "verifier/verifier_internal.h"

#include <errno.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "atomic_file.h"
#include "format/sig.h"

#define PEM_MAX 16384

/* The PEM goes through a secure-memory BIO, wiped when freed. */
static offpass_status_t create_key(offpass_verifier_t *v, const char *path)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	BIO *bio = BIO_new(BIO_s_secmem());
	char *pem = NULL;
	long len;
	int rc;
	offpass_status_t st = OFFPASS_STATUS_INTERNAL;

	if (key == NULL || bio == NULL ||
	    PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (len = BIO_get_mem_data(bio, &pem)) <= 0) {
		st = ofp_v_fail(v, OFFPASS_STATUS_INTERNAL, "%s: cannot generate the gate key (OpenSSL)", path);
		goto out;
	}
	rc = atomic_file_write(path, pem, (size_t)len, 0600);
	if (rc != 0) {
		st = ofp_v_fail(v, OFFPASS_STATUS_IO, "%s: %s", path, strerror(-rc));
		goto out;
	}
	v->gate_key = key;
	key = NULL;
	st = OFFPASS_STATUS_OK;
out:
	BIO_free(bio);
	EVP_PKEY_free(key);
	return st;
}

static offpass_status_t read_key(offpass_verifier_t *v, const char *path, const unsigned char *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);

	if (bio == NULL)
		return ofp_v_fail(v, OFFPASS_STATUS_NO_MEMORY, "%s: out of memory", path);
	v->gate_key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (v->gate_key == NULL)
		return ofp_v_fail(v, OFFPASS_STATUS_CORRUPT, "%s: not a PEM private key", path);
	return OFFPASS_STATUS_OK;
}

offpass_status_t ofp_gatekey_load(offpass_verifier_t *v)
{
	char path[4096];
	unsigned char *pem = NULL;
	size_t len = 0, pub_len;
	offpass_status_t st;
	int rc;

	if (!ofp_v_path(v, path, sizeof(path), OFP_V_KEY_FILE))
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT, "%s: path too long", v->state_dir);
	rc = file_read_all(path, PEM_MAX, &pem, &len);
	if (rc == -ENOENT)
		st = create_key(v, path);
	else if (rc != 0)
		st = ofp_v_fail(v, OFFPASS_STATUS_IO, "%s: %s", path, rc == -EFBIG ? "too large" : strerror(-rc));
	else
		st = read_key(v, path, pem, len);
	if (pem != NULL) {
		OPENSSL_cleanse(pem, len);
		free(pem);
	}
	if (st != OFFPASS_STATUS_OK)
		return st;
	if (!ofp_sig_public_raw(v->gate_key, OFP_ALG_P256, v->gate_pub, &pub_len) ||
	    ofp_key_id(OFP_ALG_P256, v->gate_pub, pub_len, v->gate_kid, NULL) != OFP_FMT_OK)
		return ofp_v_fail(v, OFFPASS_STATUS_CORRUPT, "%s: not a P-256 key", path);
	return OFFPASS_STATUS_OK;
}

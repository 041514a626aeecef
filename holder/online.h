/* online.h - the holder online: the next credential from offpass-issuerd
 * by OpenID4VCI (metadata, c_nonce, a proof JWT signed by the token key,
 * the credential endpoint), installed like a file-borne one. The key
 * never leaves the token: the JWT's signature is a C_Sign. */
#ifndef OFFPASS_HOLDER_ONLINE_H
#define OFFPASS_HOLDER_ONLINE_H

#include "holder/holder.h"
#include "http.h"

/* The proof JWT (OpenID4VCI 1.0 appendix F.1) for the token key: header
 * typ, alg (ES256 or EdDSA) and jwk; payload aud, iat, nonce. *out is
 * malloc'ed. */
int ofp_holder_proof_jwt(ofp_p11_t *p, const ofp_p11_key_t *key, const char *aud, const char *nonce, uint32_t iat,
			 char **out, char *err, size_t err_len) OFP_WUR;

/* Refresh: show the installed credential (still valid) with a proof of the
 * key against a fresh nonce; the answer is checked and installed (token,
 * card or state directory dir as ofp_holder_install_dir). REFUSED when the
 * issuer says no (the reason in err), FAILED when it could not be asked. */
int ofp_holder_refresh_online(ofp_p11_t *p, const ofp_p11_key_t *key, const char *dir, const char *issuer_url,
			      const ofp_http_opts_t *http, uint32_t now, ofp_credential_t *out, ofp_cred_place_t *place,
			      char *err, size_t err_len) OFP_WUR;

/* Enrollment: redeem the enrollment code at the token endpoint (the
 * pre-authorized code is the holder id, the tx_code the code), then the
 * credential for the token key with a proof over a fresh nonce; the
 * answer is checked and installed. */
int ofp_holder_enroll_online(ofp_p11_t *p, const ofp_p11_key_t *key, const char *dir,
			     const uint8_t holder_id[OFP_ID_LEN], const uint8_t code[OFP_ENROLL_CODE_LEN],
			     const char *issuer_url, const ofp_http_opts_t *http, uint32_t now, ofp_credential_t *out,
			     ofp_cred_place_t *place, char *err, size_t err_len) OFP_WUR;

#endif

/* b64url.h - base64url without padding (RFC 4648 section 5, RFC 7515
 * appendix C): JWTs, nonces, tokens and credentials on the issuer's API. */
#ifndef OFFPASS_B64URL_H
#define OFFPASS_B64URL_H

#include <stddef.h>
#include <stdint.h>
#include "compiler.h"

/* Characters b64url_encode writes for len bytes, NUL not counted. */
#define B64URL_LEN(len) (((len) / 3) * 4 + ((len) % 3 == 0 ? 0 : (len) % 3 + 1))

/* Encode len bytes into out (B64URL_LEN(len) + 1 bytes, NUL-terminated). */
void b64url_encode(const uint8_t *in, size_t len, char *out);
/* Decode exactly in_len characters into out (at most cap bytes);
 * *out_len gets the count. Strict: only the url alphabet, no padding,
 * no white space, no length of 1 mod 4, and the unused low bits of the
 * last character zero (so that one byte string has one encoding).
 * 0, or -1 with out's content unspecified. */
int b64url_decode(const char *in, size_t in_len, uint8_t *out, size_t cap, size_t *out_len) OFP_WUR;

#endif

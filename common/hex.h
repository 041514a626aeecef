/* hex.h - hexadecimal text for ids, keys and keys' fingerprints. */
#ifndef OFFPASS_HEX_H
#define OFFPASS_HEX_H

#include <stddef.h>
#include <stdint.h>
#include "compiler.h"

/* Lower-case hex of len bytes into out (2*len+1 bytes, NUL-terminated). */
void hex_encode(const uint8_t *in, size_t len, char *out);
/* Parse exactly out_len bytes of hex (upper or lower case, no separators).
 * Returns 0, or -1 for a wrong length or a non-hex character. */
int hex_decode(const char *in, uint8_t *out, size_t out_len) OFP_WUR;
/* Parse up to cap bytes of hex of any even length; *out_len gets the count. */
int hex_decode_var(const char *in, uint8_t *out, size_t cap, size_t *out_len) OFP_WUR;

#endif

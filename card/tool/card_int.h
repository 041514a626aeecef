/* card_int.h - helpers shared by the files of the holder card library. */
#ifndef OFFPASS_CARD_INT_H
#define OFFPASS_CARD_INT_H

#include <stddef.h>
#include "card/tool/card.h"

/* "reader 'X': [what: ]<the client's error>" into err; OFP_CARD_FAILED. */
int ofp_card_piv_fail(ofp_piv_t *p, const char *what, char *err, size_t err_len);

#endif

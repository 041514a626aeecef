/* util.c - names and times as the holder prints them. */
#include "config.h"
#include "holder/holder.h"

#include <time.h>

const char *ofp_holder_alg_name(unsigned alg)
{
	switch (alg) {
	case OFP_ALG_P256:
		return "P-256";
	case OFP_ALG_ED25519:
		return "Ed25519";
	default:
		return "unknown";
	}
}

void ofp_holder_time_text(uint32_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "%u", (unsigned)t);
}

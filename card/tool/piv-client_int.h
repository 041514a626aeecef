/* piv-client_int.h - what the piv-client files share: the session. */
#ifndef OFFPASS_PIV_CLIENT_INT_H
#define OFFPASS_PIV_CLIENT_INT_H

#include "card/tool/piv-client.h"

struct ofp_piv {
	ofp_piv_transport_t t;
	uint16_t sw; /* of the last command; 0 when the transport failed */
	char reader[256];
	char err[512];
};

#endif

/* vpcd.h - the card's side of vsmartcard's vpcd protocol.
 *
 * pcscd's vpcd driver listens on TCP (35963 for reader 0, 35964 for reader
 * 1); the card connects. Every message either way is a 2-byte big-endian
 * length and that many bytes. From vpcd, a 1-byte message is a control
 * (VPCD_*); anything longer is a command APDU, answered with the response
 * APDU. Closing the connection pulls the card out of the reader. */
#ifndef OFFPASS_VPCD_H
#define OFFPASS_VPCD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "compiler.h"

enum {
	VPCD_POWER_OFF = 0x00, /* no reply */
	VPCD_POWER_ON = 0x01,  /* no reply */
	VPCD_RESET = 0x02,     /* no reply */
	VPCD_GET_ATR = 0x04,   /* reply with the ATR, even while off */
};

#define VPCD_MSG_MAX 0xffff

/* Connect to vpcd at host:port. Returns the socket, or -errno. */
int vpcd_connect(const char *host, const char *port) OFP_WUR;

/* Read one message into buf (VPCD_MSG_MAX bytes). Returns its length, 0
 * when vpcd closed the connection, or -errno. A signal makes it return
 * -EINTR and loses the message: offpass-vcard stops on every signal it
 * catches. */
ssize_t vpcd_recv(int fd, uint8_t *buf) OFP_WUR;

/* Send one message (length and payload in one write). 0 or -errno. */
int vpcd_send(int fd, const uint8_t *buf, size_t len) OFP_WUR;

#endif

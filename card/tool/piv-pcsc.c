/* piv-pcsc.c - the PC/SC transport (libpcsclite): a card in a reader, as
 * yubico-piv-tool and OpenSC reach it. One transaction spans the whole
 * session, so no other program slips a command between a VERIFY and the
 * signature it allows; closing resets the card, so no PIN status or
 * management-key authentication outlives the session. */
#include "config.h"
#include "card/tool/piv-client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winscard.h>

typedef struct pcsc {
	SCARDCONTEXT ctx;
	SCARDHANDLE card;
	DWORD protocol;
	bool have_ctx, have_card, in_transaction;
} pcsc_t;

static void pcsc_close(void *arg)
{
	pcsc_t *s = arg;

	if (s->in_transaction)
		(void)SCardEndTransaction(s->card, SCARD_LEAVE_CARD);
	if (s->have_card)
		(void)SCardDisconnect(s->card, SCARD_RESET_CARD);
	if (s->have_ctx)
		(void)SCardReleaseContext(s->ctx);
	free(s);
}

static int pcsc_transmit(void *arg, const uint8_t *apdu, size_t len, uint8_t *resp, size_t cap,
			 size_t *resp_len, char *err, size_t err_len)
{
	pcsc_t *s = arg;
	const SCARD_IO_REQUEST *pci = s->protocol == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
	DWORD n = (DWORD)cap;
	LONG rv = SCardTransmit(s->card, pci, apdu, (DWORD)len, NULL, resp, &n);

	if (rv != SCARD_S_SUCCESS) {
		snprintf(err, err_len, "PC/SC: SCardTransmit: %s", pcsc_stringify_error(rv));
		return -1;
	}
	*resp_len = n;
	return 0;
}

/* Does the reader hold a card right now? */
static bool card_present(SCARDCONTEXT ctx, const char *reader)
{
	SCARD_READERSTATE st;

	memset(&st, 0, sizeof(st));
	st.szReader = reader;
	st.dwCurrentState = SCARD_STATE_UNAWARE;
	if (SCardGetStatusChange(ctx, 0, &st, 1) != SCARD_S_SUCCESS)
		return false;
	return (st.dwEventState & SCARD_STATE_PRESENT) && !(st.dwEventState & SCARD_STATE_MUTE);
}

/* "A", "B" for messages. */
static void list_names(const char *names, char *out, size_t cap)
{
	size_t at = 0;

	out[0] = '\0';
	for (const char *r = names; *r != '\0' && at < cap; r += strlen(r) + 1) {
		int n = snprintf(out + at, cap - at, "%s'%s'", at ? ", " : "", r);
		if (n < 0)
			break;
		at += (size_t)n;
	}
}

/* The reader to use from the multi-string names, into out. */
static int choose(SCARDCONTEXT ctx, const char *names, const char *want, char *out, size_t cap, char *err,
		  size_t err_len)
{
	const char *found = NULL;
	unsigned matches = 0;
	char all[512];

	for (const char *r = names; *r != '\0'; r += strlen(r) + 1) {
		if (want != NULL && strcmp(r, want) == 0) {
			found = r;
			matches = 1;
			break;
		}
		if (want != NULL ? strstr(r, want) != NULL : card_present(ctx, r)) {
			if (matches++ == 0)
				found = r;
			if (want == NULL)
				break;
		}
	}
	list_names(names, all, sizeof(all));
	if (matches == 0) {
		if (want != NULL)
			snprintf(err, err_len, "no reader named '%s' (readers: %s)", want, all);
		else
			snprintf(err, err_len, "no card in any reader (readers: %s)", all);
		return -1;
	}
	if (matches > 1) {
		snprintf(err, err_len, "several readers match '%s' (readers: %s): give the whole name", want, all);
		return -1;
	}
	snprintf(out, cap, "%s", found);
	return 0;
}

static int pcsc_error(char *err, size_t err_len, const char *call, LONG rv)
{
	snprintf(err, err_len, "PC/SC: %s: %s%s", call, pcsc_stringify_error(rv),
		 rv == SCARD_E_NO_SERVICE ? " (is pcscd running? PCSCLITE_CSOCK_NAME names its socket)" : "");
	return -1;
}

static int pick_reader(pcsc_t *s, const char *want, char *out, size_t cap, char *err, size_t err_len)
{
	DWORD len = 0;
	char *names = NULL;
	LONG rv = SCardListReaders(s->ctx, NULL, NULL, &len);
	int ret = -1;

	if (rv == SCARD_E_NO_READERS_AVAILABLE || (rv == SCARD_S_SUCCESS && len <= 1)) {
		snprintf(err, err_len, "PC/SC: no smart card reader");
		return -1;
	}
	if (rv != SCARD_S_SUCCESS)
		return pcsc_error(err, err_len, "SCardListReaders", rv);
	names = calloc(1, (size_t)len + 1);
	if (names == NULL) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	rv = SCardListReaders(s->ctx, NULL, names, &len);
	if (rv != SCARD_S_SUCCESS)
		pcsc_error(err, err_len, "SCardListReaders", rv);
	else
		ret = choose(s->ctx, names, want, out, cap, err, err_len);
	free(names);
	return ret;
}

static int attach(pcsc_t *s, const char *reader, char *err, size_t err_len)
{
	LONG rv = SCardConnect(s->ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &s->card,
			       &s->protocol);

	if (rv == SCARD_E_NO_SMARTCARD || rv == SCARD_W_REMOVED_CARD) {
		snprintf(err, err_len, "reader '%s': no card in the reader", reader);
		return -1;
	}
	if (rv != SCARD_S_SUCCESS)
		return pcsc_error(err, err_len, "SCardConnect", rv);
	s->have_card = true;
	rv = SCardBeginTransaction(s->card);
	if (rv == SCARD_W_RESET_CARD) {
		/* Another program reset the card since we connected: reconnect. */
		rv = SCardReconnect(s->card, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
				    SCARD_LEAVE_CARD, &s->protocol);
		if (rv == SCARD_S_SUCCESS)
			rv = SCardBeginTransaction(s->card);
	}
	if (rv != SCARD_S_SUCCESS)
		return pcsc_error(err, err_len, "SCardBeginTransaction", rv);
	s->in_transaction = true;
	return 0;
}

int ofp_piv_connect(const char *reader, ofp_piv_t **out, char *err, size_t err_len)
{
	pcsc_t *s = calloc(1, sizeof(*s));
	char name[256];
	LONG rv;

	*out = NULL;
	if (s == NULL) {
		snprintf(err, err_len, "out of memory");
		return OFP_PIV_ERR;
	}
	rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &s->ctx);
	if (rv != SCARD_S_SUCCESS) {
		pcsc_error(err, err_len, "SCardEstablishContext", rv);
		goto fail;
	}
	s->have_ctx = true;
	if (pick_reader(s, reader, name, sizeof(name), err, err_len) != 0 || attach(s, name, err, err_len) != 0)
		goto fail;
	ofp_piv_transport_t t = { s, pcsc_transmit, pcsc_close };
	return ofp_piv_open(&t, name, out, err, err_len);
fail:
	pcsc_close(s);
	return OFP_PIV_ERR;
}

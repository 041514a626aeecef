/* apdu.c - APDU parsing (ISO 7816-4 cases 1-4, short and extended),
 * command chaining, GET RESPONSE, and dispatch to the command handlers. */
#include "piv_int.h"

#include <string.h>

enum { INS_GET_RESPONSE = 0xc0, CLA_CHAIN = 0x10 };

struct parsed {
	struct piv_cmd cmd;
	size_t le; /* absent Le counts as 256, as YubiKeys and ykpiv assume */
};

static size_t be16(const uint8_t *p)
{
	return (size_t)p[0] << 8 | p[1];
}

static int parse(const uint8_t *a, size_t n, struct parsed *out)
{
	memset(out, 0, sizeof(*out));
	if (n < 4)
		return -1;
	out->cmd = (struct piv_cmd){ a[0], a[1], a[2], a[3], NULL, 0 };
	out->le = 256;
	if (n == 4)
		return 0;
	size_t b4 = a[4];
	if (n == 5) {
		out->le = b4 ? b4 : 256;
		return 0;
	}
	if (b4 != 0) {
		out->cmd.data = a + 5;
		out->cmd.lc = b4;
		if (n == 5 + b4)
			return 0;
		if (n == 6 + b4) {
			out->le = a[n - 1] ? a[n - 1] : 256;
			return 0;
		}
		return -1;
	}
	/* Extended: 00 then two length bytes. */
	if (n < 7)
		return -1;
	size_t x = be16(a + 5);
	if (n == 7) {
		out->le = x ? x : 65536;
		return 0;
	}
	out->cmd.data = a + 7;
	out->cmd.lc = x;
	if (x == 0)
		return -1;
	if (n == 7 + x)
		return 0;
	if (n == 9 + x) {
		size_t le = be16(a + n - 2);
		out->le = le ? le : 65536;
		return 0;
	}
	return -1;
}

/* A command that never reached a handler still ends the one-shot grants. */
static void end_grants(struct piv_card *c)
{
	c->pin_always = false;
	c->auth_state = AUTH_NONE;
}

static size_t put_sw(uint8_t *out, size_t at, uint16_t sw)
{
	out[at] = (uint8_t)(sw >> 8);
	out[at + 1] = (uint8_t)sw;
	return at + 2;
}

static void drop_response(struct piv_card *c)
{
	piv_wipe(c->resp, c->resp_len);
	c->resp_len = 0;
	c->resp_off = 0;
}

static void drop_chain(struct piv_card *c)
{
	piv_wipe(c->chain, c->chain_len);
	c->chain_len = 0;
	c->chaining = false;
}

/* Send what is left of the response: as much as Le and out allow, then
 * 61xx while more is waiting (xx = bytes left, 00 for 256 or more). */
static size_t emit(struct piv_card *c, uint8_t *out, size_t cap, size_t le)
{
	size_t left = c->resp_len - c->resp_off;
	size_t n = left;
	if (n > le)
		n = le;
	if (n > cap - 2)
		n = cap - 2;
	memcpy(out, c->resp + c->resp_off, n);
	c->resp_off += n;
	left -= n;
	if (left == 0) {
		drop_response(c);
		return put_sw(out, n, SW_OK);
	}
	return put_sw(out, n, (uint16_t)(SW_MORE | (left > 0xff ? 0 : left)));
}

static size_t get_response(struct piv_card *c, const struct parsed *a, uint8_t *out, size_t cap)
{
	if (a->cmd.p1 != 0 || a->cmd.p2 != 0)
		return put_sw(out, 0, SW_WRONG_P1P2);
	if (a->cmd.lc != 0)
		return put_sw(out, 0, SW_WRONG_LENGTH);
	if (c->resp_off >= c->resp_len)
		return put_sw(out, 0, SW_CONDITIONS);
	return emit(c, out, cap, a->le);
}

static bool chain_append(struct piv_card *c, const struct piv_cmd *cmd)
{
	if (cmd->lc > sizeof(c->chain) - c->chain_len) {
		drop_chain(c);
		return false;
	}
	if (cmd->lc > 0)
		memcpy(c->chain + c->chain_len, cmd->data, cmd->lc);
	c->chain_len += cmd->lc;
	return true;
}

static bool chain_continues(const struct piv_card *c, const struct piv_cmd *cmd)
{
	return c->chaining && c->chain_hdr[0] == cmd->ins && c->chain_hdr[1] == cmd->p1 &&
	       c->chain_hdr[2] == cmd->p2;
}

/* A piece of a chain (CLA 10): kept until the last piece (CLA 00) with the
 * same INS P1 P2. A command that does not continue the chain ends it. */
static uint16_t chain_piece(struct piv_card *c, const struct piv_cmd *cmd)
{
	if (!chain_continues(c, cmd)) {
		drop_chain(c);
		c->chaining = true;
		c->chain_hdr[0] = cmd->ins;
		c->chain_hdr[1] = cmd->p1;
		c->chain_hdr[2] = cmd->p2;
	}
	return chain_append(c, cmd) ? SW_OK : SW_WRONG_LENGTH;
}

typedef uint16_t (*handler_fn)(struct piv_card *c, const struct piv_cmd *cmd);

/* yubikey: one of YubiKey's extensions, absent from the standard profile. */
static const struct {
	uint8_t ins;
	bool yubikey;
	handler_fn run;
} handlers[] = {
	{ 0xa4, false, cmd_select },
	{ 0xcb, false, cmd_get_data },
	{ 0xdb, false, cmd_put_data },
	{ 0x20, false, cmd_verify },
	{ 0x24, false, cmd_change_reference },
	{ 0x2c, false, cmd_reset_retry },
	{ 0x47, false, cmd_generate },
	{ 0x87, false, cmd_general_authenticate },
	{ 0xfd, true, cmd_get_version },
	{ 0xf8, true, cmd_get_serial },
	{ 0xff, true, cmd_set_mgmkey },
	{ 0xfb, true, cmd_reset },
	{ 0xfa, true, cmd_set_pin_retries },
	{ 0xf7, true, cmd_get_metadata },
};

static uint16_t run(struct piv_card *c, const struct piv_cmd *cmd)
{
	/* One-shot grants belong to the command right after the one that
	 * made them: a PIN-always VERIFY, a management-key challenge. */
	c->cmd_always = c->pin_always;
	c->pin_always = false;
	c->cmd_auth = c->auth_state;
	c->auth_state = AUTH_NONE;
	uint16_t sw = SW_INS;
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (handlers[i].ins == cmd->ins) {
			if (!handlers[i].yubikey || c->profile != PIV_PROFILE_STANDARD)
				sw = handlers[i].run(c, cmd);
			break;
		}
	}
	c->cmd_always = false;
	c->cmd_auth = AUTH_NONE;
	return sw;
}

static size_t complete(struct piv_card *c, const struct parsed *a, uint8_t *out, size_t cap)
{
	struct piv_cmd cmd = a->cmd;
	if (c->chaining) {
		if (!chain_continues(c, &cmd)) {
			drop_chain(c);
		} else {
			if (!chain_append(c, &cmd))
				return put_sw(out, 0, SW_WRONG_LENGTH);
			cmd.data = c->chain;
			cmd.lc = c->chain_len;
		}
	}
	uint16_t sw = run(c, &cmd);
	drop_chain(c);
	if (sw != SW_OK) {
		drop_response(c);
		return put_sw(out, 0, sw);
	}
	return emit(c, out, cap, a->le);
}

size_t piv_apdu(struct piv_card *c, const uint8_t *apdu, size_t len, uint8_t *out, size_t cap)
{
	struct parsed a;
	if (cap < 2)
		return 0;
	bool bad_len = parse(apdu, len, &a) != 0;
	if (bad_len || (a.cmd.cla & ~CLA_CHAIN) != 0) {
		drop_response(c);
		drop_chain(c);
		end_grants(c);
		return put_sw(out, 0, bad_len ? SW_WRONG_LENGTH : SW_CLA);
	}
	if (a.cmd.ins == INS_GET_RESPONSE && a.cmd.cla == 0) {
		drop_chain(c);
		return get_response(c, &a, out, cap);
	}
	drop_response(c);
	if (a.cmd.cla & CLA_CHAIN)
		return put_sw(out, 0, chain_piece(c, &a.cmd));
	return complete(c, &a, out, cap);
}

void piv_set_profile(struct piv_card *card, enum piv_profile profile)
{
	card->profile = profile;
}

void piv_reset(struct piv_card *card)
{
	state_session_clear(card);
}

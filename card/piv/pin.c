/* pin.c - VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER, and the
 * YubiKey SET PIN RETRIES and RESET.
 *
 * Retry counters resist tearing as real cards do: a try is paid for (the
 * counter decremented and saved) before the comparison, and only a match
 * gives it back. Pulling the card during the comparison cannot buy a free
 * guess. */
#include "piv_int.h"

#include <string.h>

struct secret {
	uint8_t *value;
	uint8_t *left;
	uint8_t max;
};

static struct secret secret_of(struct piv_card *c, uint8_t ref)
{
	if (ref == PIV_REF_PIN)
		return (struct secret){ c->p.pin, &c->p.pin_left, c->p.pin_max };
	return (struct secret){ c->p.puk, &c->p.puk_left, c->p.puk_max };
}

static uint16_t tries_sw(uint8_t left)
{
	return (uint16_t)(SW_TRIES | left);
}

/* Pay for one try, then compare. SW_OK on a match (the caller restores the
 * counter with its own commit), else the status to answer. */
static uint16_t pay_and_compare(struct piv_card *c, struct secret s, const uint8_t cand[8])
{
	if (*s.left == 0)
		return SW_BLOCKED;
	state_begin(c);
	(*s.left)--;
	uint16_t sw = state_commit(c);
	if (sw != SW_OK)
		return sw;
	if (!piv_equal(s.value, cand, 8))
		return tries_sw(*s.left);
	return SW_OK;
}

static uint16_t pin_status(const struct piv_card *c)
{
	if (c->p.pin_left == 0)
		return SW_BLOCKED;
	return c->pin_verified ? SW_OK : tries_sw(c->p.pin_left);
}

/* Key references VERIFY knows but this card does not have: the global PIN,
 * the OCC and the pairing code. */
static bool absent_reference(uint8_t ref)
{
	return ref == 0x00 || ref == 0x96 || ref == 0x97 || ref == 0x98;
}

uint16_t cmd_verify(struct piv_card *c, const struct piv_cmd *cmd)
{
	if (cmd->p1 == 0xff && cmd->p2 == PIV_REF_PIN) {
		/* SP 800-73-4: P1 FF resets the security status. */
		if (cmd->lc != 0)
			return SW_WRONG_LENGTH;
		c->pin_verified = false;
		return SW_OK;
	}
	if (cmd->p1 != 0x00)
		return SW_WRONG_P1P2;
	if (absent_reference(cmd->p2))
		return SW_REF_NOT_FOUND;
	if (cmd->p2 != PIV_REF_PIN)
		return SW_WRONG_P1P2;
	if (cmd->lc == 0)
		return pin_status(c);
	if (cmd->lc != 8)
		return SW_WRONG_LENGTH;
	if (!pin_well_formed(cmd->data))
		return SW_WRONG_DATA;
	uint16_t sw = pay_and_compare(c, secret_of(c, PIV_REF_PIN), cmd->data);
	if (sw != SW_OK) {
		c->pin_verified = false;
		return sw;
	}
	state_begin(c);
	c->p.pin_left = c->p.pin_max;
	sw = state_commit(c);
	c->pin_verified = sw == SW_OK;
	c->pin_always = sw == SW_OK;
	return sw;
}

/* Old and new value, 8 bytes each. A PIN must be 6-8 digits padded with FF;
 * a PUK is any 8 bytes (SP 800-73-4 part 2, 2.4.3). */
uint16_t cmd_change_reference(struct piv_card *c, const struct piv_cmd *cmd)
{
	uint8_t ref = cmd->p2;
	if (cmd->p1 != 0x00)
		return SW_WRONG_P1P2;
	if (absent_reference(ref))
		return SW_REF_NOT_FOUND;
	if (ref != PIV_REF_PIN && ref != PIV_REF_PUK)
		return SW_WRONG_P1P2;
	if (cmd->lc != 16)
		return SW_WRONG_LENGTH;
	if (ref == PIV_REF_PIN && (!pin_well_formed(cmd->data) || !pin_well_formed(cmd->data + 8)))
		return SW_WRONG_DATA;
	struct secret s = secret_of(c, ref);
	uint16_t sw = pay_and_compare(c, s, cmd->data);
	if (sw != SW_OK) {
		if (ref == PIV_REF_PIN)
			c->pin_verified = false;
		return sw;
	}
	state_begin(c);
	*s.left = s.max;
	memcpy(s.value, cmd->data + 8, 8);
	sw = state_commit(c);
	/* Part 2, 3.2.2: success sets the security status of the reference. */
	if (ref == PIV_REF_PIN)
		c->pin_verified = sw == SW_OK;
	return sw;
}

/* PUK and a new PIN: the PIN gets its full tries back. */
uint16_t cmd_reset_retry(struct piv_card *c, const struct piv_cmd *cmd)
{
	if (cmd->p1 != 0x00 || cmd->p2 != PIV_REF_PIN)
		return SW_WRONG_P1P2;
	if (cmd->lc != 16)
		return SW_WRONG_LENGTH;
	if (!pin_well_formed(cmd->data + 8))
		return SW_WRONG_DATA;
	uint16_t sw = pay_and_compare(c, secret_of(c, PIV_REF_PUK), cmd->data);
	if (sw != SW_OK)
		return sw;
	state_begin(c);
	c->p.puk_left = c->p.puk_max;
	memcpy(c->p.pin, cmd->data + 8, 8);
	c->p.pin_left = c->p.pin_max;
	c->pin_verified = false;
	return state_commit(c);
}

/* YubiKey: P1 PIN tries, P2 PUK tries; like a YubiKey it puts the PIN and
 * PUK back to their defaults. Needs the management key and the PIN. */
uint16_t cmd_set_pin_retries(struct piv_card *c, const struct piv_cmd *cmd)
{
	if (cmd->lc != 0)
		return SW_WRONG_LENGTH;
	if (!c->mgm_authed || !c->pin_verified)
		return SW_SECURITY;
	/* 63Cx can say at most 15 tries left. */
	if (cmd->p1 < 1 || cmd->p1 > 15 || cmd->p2 < 1 || cmd->p2 > 15)
		return SW_WRONG_P1P2;
	state_begin(c);
	c->p.pin_max = c->p.pin_left = cmd->p1;
	c->p.puk_max = c->p.puk_left = cmd->p2;
	state_default_pin_puk(c);
	c->pin_verified = false;
	return state_commit(c);
}

/* YubiKey: back to factory state, only once both PIN and PUK are blocked
 * (a lost card cannot be reset by a finder who does not know either). */
uint16_t cmd_reset(struct piv_card *c, const struct piv_cmd *cmd)
{
	if (cmd->p1 != 0 || cmd->p2 != 0)
		return SW_WRONG_P1P2;
	if (cmd->lc != 0)
		return SW_WRONG_LENGTH;
	if (c->p.pin_left != 0 || c->p.puk_left != 0)
		return SW_CONDITIONS;
	state_begin(c);
	if (state_defaults(c, c->p.serial) != 0) {
		memcpy(&c->p, &c->shadow, sizeof(c->p));
		return SW_INTERNAL;
	}
	uint16_t sw = state_commit(c);
	if (sw == SW_OK)
		state_session_clear(c);
	return sw;
}

/* piv_int.h - the applet's internals shared by its files. */
#ifndef OFFPASS_PIV_INT_H
#define OFFPASS_PIV_INT_H

#include "piv.h"

/* Status words. */
enum {
	SW_OK = 0x9000,
	SW_MORE = 0x6100,              /* | bytes left, via GET RESPONSE */
	SW_MEMORY = 0x6581,            /* the state could not be saved */
	SW_WRONG_LENGTH = 0x6700,
	SW_TRIES = 0x63c0,             /* | tries left */
	SW_SECURITY = 0x6982,
	SW_BLOCKED = 0x6983,
	SW_CONDITIONS = 0x6985,
	SW_WRONG_DATA = 0x6a80,
	SW_NOT_FOUND = 0x6a82,
	SW_NO_SPACE = 0x6a84,
	SW_WRONG_P1P2 = 0x6a86,
	SW_REF_NOT_FOUND = 0x6a88,
	SW_INS = 0x6d00,
	SW_CLA = 0x6e00,
	SW_INTERNAL = 0x6f00,
};

/* One parsed command; data is the whole (de-chained) data field. */
struct piv_cmd {
	uint8_t cla, ins, p1, p2;
	const uint8_t *data;
	size_t lc;
};

/* Management-key exchange under way (auth_state). */
enum { AUTH_NONE = 0, AUTH_EXTERNAL, AUTH_MUTUAL };

/* ---- Bounded writer into the response buffer. ---- */
struct piv_buf {
	uint8_t *p;
	size_t len, cap;
	bool overflow;
};

void buf_put(struct piv_buf *b, const uint8_t *data, size_t len);
void buf_byte(struct piv_buf *b, uint8_t v);
/* A tag of 1 to 3 bytes (as an integer, 0x7f49, 0x5fc102) then a length. */
void buf_tag_len(struct piv_buf *b, uint32_t tag, size_t len);
void buf_tlv(struct piv_buf *b, uint32_t tag, const uint8_t *val, size_t len);
/* Reserve room for a length field to patch later with buf_close. */
size_t buf_open(struct piv_buf *b, uint32_t tag);
void buf_close(struct piv_buf *b, size_t mark);

/* ---- BER-TLV reading (tags up to 3 bytes, definite lengths up to 82). ---- */
struct piv_tlv {
	uint32_t tag;
	const uint8_t *val;
	size_t len;
};
/* Read the next TLV at *p (< end) and advance past it. Returns 0, or -1
 * when it is malformed or runs past end. */
int tlv_next(const uint8_t **p, const uint8_t *end, struct piv_tlv *out) PIV_WUR;
/* The single TLV that fills [data, data+len) exactly, with tag want. */
int tlv_whole(const uint8_t *data, size_t len, uint32_t want, struct piv_tlv *out) PIV_WUR;

/* ---- Small helpers. ---- */
void piv_wipe(void *p, size_t len);
bool piv_equal(const uint8_t *a, const uint8_t *b, size_t len);
size_t piv_ec_len(uint8_t alg);    /* scalar bytes; 0 for non-EC algorithms */
size_t piv_block_len(uint8_t alg); /* cipher block; 0 for non-symmetric */
size_t piv_sym_key_len(uint8_t alg);
/* A PIN as SP 800-73-4 wants it: 6 to 8 digits, then FF padding. */
bool pin_well_formed(const uint8_t pin[8]);
/* A data object PUT DATA may write: 5FC101..5FC123 or 5FFF00..5FFF15. */
bool object_tag_storable(const uint8_t tag[3]);

/* ---- State (state.c). ---- */
/* Before the first change of a command: remember the state to roll back. */
void state_begin(struct piv_card *c);
/* Save the changed state; on failure restore it. Returns SW_OK or SW_MEMORY. */
uint16_t state_commit(struct piv_card *c) PIV_WUR;
/* Factory defaults except the serial (RESET, piv_init). 0 or -1 (rand). */
int state_defaults(struct piv_card *c, uint32_t serial) PIV_WUR;
void state_session_clear(struct piv_card *c);
void state_default_pin_puk(struct piv_card *c);
bool state_is_default_pin(const struct piv_card *c, uint8_t ref); /* PIN or PUK */
bool state_is_default_mgm(const struct piv_card *c);
struct piv_key *state_key(struct piv_card *c, uint8_t ref); /* NULL: not a key slot */
struct piv_object *state_object(struct piv_card *c, const uint8_t tag[3]);

/* ---- Command handlers: each builds its response data in c->resp. ---- */
uint16_t cmd_select(struct piv_card *c, const struct piv_cmd *cmd);
uint16_t cmd_get_data(struct piv_card *c, const struct piv_cmd *cmd);
uint16_t cmd_put_data(struct piv_card *c, const struct piv_cmd *cmd);
uint16_t cmd_verify(struct piv_card *c, const struct piv_cmd *cmd);
uint16_t cmd_change_reference(struct piv_card *c, const struct piv_cmd *cmd);
uint16_t cmd_reset_retry(struct piv_card *c, const struct piv_cmd *cmd);
uint16_t cmd_set_pin_retries(struct piv_card *c, const struct piv_cmd *cmd);
uint16_t cmd_reset(struct piv_card *c, const struct piv_cmd *cmd);
uint16_t cmd_generate(struct piv_card *c, const struct piv_cmd *cmd);
uint16_t cmd_general_authenticate(struct piv_card *c, const struct piv_cmd *cmd);
uint16_t cmd_mgmt_authenticate(struct piv_card *c, const struct piv_cmd *cmd,
			       const uint8_t *tmpl, size_t tmpl_len);
uint16_t cmd_set_mgmkey(struct piv_card *c, const struct piv_cmd *cmd);
uint16_t cmd_get_metadata(struct piv_card *c, const struct piv_cmd *cmd);
uint16_t cmd_get_version(struct piv_card *c, const struct piv_cmd *cmd);
uint16_t cmd_get_serial(struct piv_card *c, const struct piv_cmd *cmd);

/* The response writer over c->resp. */
static inline struct piv_buf resp_buf(struct piv_card *c)
{
	struct piv_buf b = { c->resp, 0, sizeof(c->resp), false };
	return b;
}

/* Finish a response built in b: SW_OK with b as the response, or
 * SW_INTERNAL if it did not fit. */
uint16_t resp_done(struct piv_card *c, const struct piv_buf *b);

#endif

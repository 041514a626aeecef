/* test-token.h - a fresh PKCS#11 token for the test suites and benches,
 * made the way an administrator makes one with pkcs11-tool: C_InitToken on
 * a free slot, then the user PIN, set by the SO with C_InitPIN, all
 * through the raw function list. Works with offpass-p11.so and SoftHSM2.
 *
 * Errors are values, not Check assertions, so that the benches can use it
 * too; a test asserts on the result and prints err. */
#ifndef OFFPASS_TEST_TOKEN_H
#define OFFPASS_TEST_TOKEN_H

#include <stddef.h>
#include <p11-kit/pkcs11.h>
#include "compiler.h"

/* The built offpass-p11.so keeps its tokens in dir, with a low scrypt
 * cost (OFFPASS_P11_SCRYPT_N=1024) so that C_InitToken and C_Login are
 * quick. 0, or -1 with errno set. */
int ofp_test_token_offpass_env(const char *dir) OFP_WUR;

/* SoftHSM2 keeps its tokens in dir/tokens (made here, 0700): writes
 * dir/softhsm2.conf and points SOFTHSM2_CONF at it. 0, or -1 with err
 * saying why. */
int ofp_test_token_softhsm_env(const char *dir, char *err, size_t err_len) OFP_WUR;

/* Initialise a token labelled label (at most 32 bytes) on the first slot
 * of fn whose token is not initialised yet, set the user PIN, and close
 * the session used. fn is initialised (C_Initialize) by the caller. On
 * CKR_OK *slot is the new token's slot (SoftHSM2 moves a token it
 * initialises to a slot of its own); otherwise *failed names the step
 * that failed ("C_InitToken"; CKR_TOKEN_NOT_PRESENT when there is no free
 * slot or no token with the label afterwards). */
CK_RV ofp_test_token_init_fn(CK_FUNCTION_LIST *fn, const char *label, const char *so_pin,
			     const char *user_pin, CK_SLOT_ID *slot, const char **failed) OFP_WUR;

/* The same on the module at path: loaded with dlopen, C_Initialize'd and
 * C_Finalize'd here; it stays loaded, and a later load of the same path
 * (p11-kit, ofp_p11_open) finds it. 0, or -1 with err naming the module
 * and the step. */
int ofp_test_token_init(const char *module, const char *label, const char *so_pin, const char *user_pin,
			char *err, size_t err_len) OFP_WUR;

#endif

/* offpass-holder_int.h - what the files of the offpass-holder CLI share:
 * the options every command takes, the token session it opens, the output
 * helpers, and the commands the table in offpass-holder.c lists. */
#ifndef OFFPASS_HOLDER_CLI_INT_H
#define OFFPASS_HOLDER_CLI_INT_H

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "holder/holder.h"

#define PROG "offpass-holder"

/* Options every command takes, before or after the command name. */
typedef struct holder_opts {
	const char *module, *token_label, *uri, *pin_file, *pin_env, *dir;
	const char *key_label, *key_id; /* --key-label, --key-id */
	ofp_clock_t clock; /* --now */
} holder_opts_t;
extern holder_opts_t g;

enum { OPT_MODULE = 0x100, OPT_TOKEN_LABEL, OPT_URI, OPT_PIN_FILE, OPT_PIN_ENV, OPT_DIR, OPT_NOW, OPT_KEY_LABEL,
       OPT_KEY_ID };

#define GLOBAL_OPTIONS                                                      \
	{ "module", required_argument, NULL, OPT_MODULE },                  \
	{ "token-label", required_argument, NULL, OPT_TOKEN_LABEL },        \
	{ "uri", required_argument, NULL, OPT_URI },                        \
	{ "pin-file", required_argument, NULL, OPT_PIN_FILE },              \
	{ "pin-env", required_argument, NULL, OPT_PIN_ENV },                \
	{ "dir", required_argument, NULL, OPT_DIR },                        \
	{ "now", required_argument, NULL, OPT_NOW },                        \
	{ "key-label", required_argument, NULL, OPT_KEY_LABEL },            \
	{ "key-id", required_argument, NULL, OPT_KEY_ID },                  \
	{ "help", no_argument, NULL, 'h' }

/* The global options, for --help. */
extern const char global_help[];

/* offpass-holder-opts.c */
uint32_t now(void);
/* A global option, or '?' from getopt (which printed the reason). */
int global_option(const char *cmd, int c, const char *arg);
int help(const char *usage);
/* A library result as an exit status, reporting err. */
int holder_exit(int rv, const char *err);
/* "-" is standard output; anything else is replaced atomically. */
int write_output(const char *path, const void *data, size_t len, const char *what);

/* offpass-holder-session.c: the token */
typedef struct session {
	ofp_p11_t *p;
	ofp_p11_key_t key;
	char key_label[129]; /* the URI's object=, else OFP_HOLDER_KEY_LABEL */
	bool uri_names_key;  /* the URI has object= or id= */
	bool uri_has_pin;
	char dir[PATH_MAX];
} session_t;

/* Open the token, log in, and (find_key) find the holder key.
 * rw_if_writable: read/write unless the token is write-protected, for
 * present, which keeps the counter on the token where it can. */
int session_open_mode(session_t *s, bool rw, bool rw_if_writable, bool find_key);
int session_open(session_t *s, bool rw, bool find_key);
/* The state directory, for the commands that use counters. */
int session_state_dir(session_t *s);
void session_close(session_t *s);

/* offpass-holder-enroll.c */
/* --trust FILE: pin the issuer's signed trust list for the session's key
 * (the first one), or take it as the pinned list's successor; says which
 * on stdout. path NULL: nothing to do. */
int pin_trust_file(session_t *s, const char *path);
/* Where the credential went (token, the card's own object, state dir). */
void install_report(const session_t *s, const ofp_credential_t *c, const ofp_cred_place_t *place,
		    const char *validity);

/* offpass-holder-online.c */
/* enroll --issuer: the same code, redeemed online; the credential installed. */
int enroll_online(const char *issuer, const char *cacert, const char *trust, const uint8_t hid[OFP_ID_LEN],
		  const uint8_t code[OFP_ENROLL_CODE_LEN]);

/* present --issuer: the refresh step before each code. The credentials
 * held (the installed one, and the kept next window that follows it) are
 * refreshed online once they end within the margin (default: the last
 * 10% of the window, at most 1 h) or have ended. */
typedef struct present_online {
	const char *issuer; /* NULL: no online refresh */
	const char *cacert;
	bool margin_set;    /* --refresh-margin */
	uint32_t margin;    /* seconds */
	uint32_t retry_at;  /* after a failed attempt, none before this time */
} present_online_t;
/* Before the code at now: install a kept next credential whose window has
 * begun; refresh online when due. Never fails: a refresh that fails is one
 * warning line on stderr, and presenting goes on with what is held.
 * info gets one line after a refresh. */
void present_online_step(session_t *s, present_online_t *o, uint32_t now, FILE *info);

/* The commands. */
int cmd_keygen(int argc, char **argv);
int cmd_enroll(int argc, char **argv);
int cmd_install(int argc, char **argv);
int cmd_refresh(int argc, char **argv);
int cmd_present(int argc, char **argv);
int cmd_status(int argc, char **argv);

#endif

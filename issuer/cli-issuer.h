/* cli-issuer.h - what the parts of offpass-issuer share: the global
 * options, the option ids, and the helpers that open the issuer, report
 * errors, read inputs and write outputs. Only offpass-issuer includes it. */
#ifndef OFFPASS_ISSUER_CLI_ISSUER_H
#define OFFPASS_ISSUER_CLI_ISSUER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cli.h"
#include "issuer/issuer.h"

#define PROG "offpass-issuer"

/* Options every command takes, before or after the command name. */
struct cli_globals {
	const char *dir, *pin_file, *pin_env, *ledger;
	ofp_clock_t clock; /* --now */
};
extern struct cli_globals g;

enum { OPT_DIR = 0x100, OPT_LEDGER, OPT_NOW, OPT_PIN_FILE, OPT_PIN_ENV, OPT_MODULE, OPT_TOKEN_LABEL, OPT_URI, OPT_CONFIG,
       OPT_ID, OPT_KEY, OPT_REPLACE };

#define GLOBAL_OPTIONS                                         \
	{ "dir", required_argument, NULL, OPT_DIR },           \
	{ "ledger", required_argument, NULL, OPT_LEDGER },     \
	{ "now", required_argument, NULL, OPT_NOW },           \
	{ "pin-file", required_argument, NULL, OPT_PIN_FILE }, \
	{ "pin-env", required_argument, NULL, OPT_PIN_ENV },   \
	{ "help", no_argument, NULL, 'h' }

extern const char global_help[];

uint32_t now(void);
/* A global option: 0 when handled, else an exit status. */
int global_option(int c, const char *arg);
int usage_text(const char *text);
/* Parse the options of a command that has none of its own besides the
 * global ones; *rc is set when the command must return now. */
bool plain_options(int argc, char **argv, const char *help, int *rc);
int report(ofp_issuer_rc_t rc, const char *msg);
int open_issuer(ofp_issuer_t **iss);
void print_time(const char *label, uint32_t t);
int write_out(const char *path, const uint8_t *data, size_t len);
/* A file an operator hands in: its errors are refusals of that input. */
int read_input(const char *path, size_t max, const char *what, uint8_t **data, size_t *len);
/* want positional arguments after plain options: OFP_EXIT_OK, -1 after
 * --help, else an exit status. */
int account_args(int argc, char **argv, int want, const char *help);
int ledger_report(ofp_issuer_t *iss, int lrc);
/* A second level of commands (account, gate, deny). */
int dispatch(const char *group, const ofp_cmd_t *cmds, size_t n, int argc, char **argv);

/* The command groups (cli-account.c, cli-enroll.c, cli-money.c). */
int cmd_account(int argc, char **argv);
int cmd_account_open(int argc, char **argv);
int cmd_account_code(int argc, char **argv);
int cmd_issue(int argc, char **argv);
int cmd_gate(int argc, char **argv);
int cmd_settle(int argc, char **argv);
int cmd_deny(int argc, char **argv);

#endif

/* offpass-card_int.h - what the files of the offpass-card CLI share: the
 * options every command parses, the secrets it reads, the card it opens, and
 * the commands the table in offpass-card.c lists. */
#ifndef OFFPASS_CARD_CLI_INT_H
#define OFFPASS_CARD_CLI_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "card/tool/card.h"
#include "format/format.h"

#define PROG "offpass-card"

/* Every option any command takes; each command names the ones it allows. */
enum opt {
	O_READER = 0x100, O_PIN_FILE, O_PIN_ENV, O_PUK_FILE, O_NEW_PIN_FILE, O_NEW_PUK_FILE, O_MGM_KEY_FILE,
	O_MGM_ALG, O_CUR_PIN_FILE, O_CUR_PUK_FILE, O_CUR_MGM_KEY_FILE, O_SLOT, O_SUBJECT, O_DAYS, O_PIN_POLICY,
	O_FORCE, O_OUTPUT, O_CERT_OUT, O_NOW, O_KEEP_MGM, O_DRY_RUN, O_END
};
#define BIT(o) (1ull << ((o) - O_READER))

typedef struct opts {
	const char *reader, *pin_file, *pin_env, *puk_file, *new_pin_file, *new_puk_file, *mgm_key_file;
	const char *cur_pin_file, *cur_puk_file, *cur_mgm_key_file, *subject, *output, *cert_out;
	uint8_t mgm_alg, slot, pin_policy;
	unsigned days;
	bool force, keep_mgm, dry_run;
	ofp_clock_t clock;
	bool help;
} opts_t;

/* --reader given before the command (main sets it). */
extern const char *global_reader;
/* The options every command takes, for --help. */
extern const char common_help[];

/* offpass-card-opts.c */
int parse_opts(int argc, char **argv, unsigned long long allowed, const char *usage, opts_t *o);
uint32_t now_of(const opts_t *o);
int no_args(int argc, char **argv);

/* offpass-card-access.c */
/* The secrets a command may need, in secmem. */
typedef struct secrets {
	char *pin, *puk, *new_pin, *new_puk;
	ofp_card_mgm_t *mgm, *new_mgm;
} secrets_t;
void secrets_free(secrets_t *s);
int secret(char **slot, const char *file, const char *env, const char *prompt, bool confirm, const char *what);
int mgm_key(ofp_card_mgm_t **out, const char *file, const char *prompt, bool confirm, uint8_t alg);
int card_pin(secrets_t *s, const opts_t *o, const char *prompt);
int card_open(const opts_t *o, ofp_piv_t **p);
int card_exit(int rv, const char *err);
int piv_exit(ofp_piv_t *p, int rv);

/* The commands. */
int cmd_init(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_verify_pin(int argc, char **argv);
int cmd_change_pin(int argc, char **argv);
int cmd_change_puk(int argc, char **argv);
int cmd_unblock(int argc, char **argv);
int cmd_reset(int argc, char **argv);
int cmd_put_credential(int argc, char **argv);
int cmd_get_credential(int argc, char **argv);

#endif

/* gate.h - the parts of offpass-gate under its command table: reading a
 * presentation from an image, a file or stdin, scanning QR codes, and the
 * gate's configuration file. Internal to the gate (and its tests).
 *
 * Errors: functions return 0, or -1 with a message in err (err_len bytes,
 * always NUL-terminated) that names what is at fault. */
#ifndef OFFPASS_GATE_H
#define OFFPASS_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compiler.h"
#include "verifier/offpass-verifier.h"

/* Bounds on what the gate reads. An image file is at most 16 MiB and
 * 4096 pixels a side (a phone screenshot is far smaller); a payload is at
 * most 4096 bytes, more than any QR code holds (2953), so that a QR code
 * or a file that is not a presentation still reaches the caller whole
 * enough to say so. */
#define GATE_FILE_MAX (16u << 20)
#define GATE_IMAGE_SIDE_MAX 4096u
#define GATE_PAYLOAD_MAX 4096u

/* --- qrscan.c: images and QR codes ------------------------------------ */

/* An 8-bit grey image (Y800: one byte a pixel, rows without padding). */
typedef struct gate_grey {
	uint8_t *pixels; /* malloc'ed, width * height bytes */
	unsigned width;
	unsigned height;
} gate_grey_t;

/* PNG, or binary PGM/PPM (P5/P6), judged by the first bytes. */
bool gate_is_image(const uint8_t *data, size_t len);
/* Decode a PNG or PNM image into grey pixels (alpha over white). */
int gate_image_decode(const uint8_t *data, size_t len, gate_grey_t *out, char *err, size_t err_len) OFP_WUR;
void gate_grey_free(gate_grey_t *g);
/* The bytes of the one QR code in the image, exactly as encoded (zbar in
 * binary mode: no character set conversion). Refuses an image with no QR
 * code or with more than one, and a payload over cap. */
int gate_qr_scan_grey(const gate_grey_t *g, uint8_t *out, size_t cap, size_t *out_len, char *err,
		      size_t err_len) OFP_WUR;
/* gate_image_decode + gate_qr_scan_grey. */
int gate_qr_scan_image(const uint8_t *data, size_t len, uint8_t *out, size_t cap, size_t *out_len, char *err,
		       size_t err_len) OFP_WUR;

/* --- input.c: what `check` reads ------------------------------------- */

typedef enum gate_input_kind {
	GATE_INPUT_RAW = 1, /* the presentation's bytes */
	GATE_INPUT_HEX,	    /* hex text (--hex), whitespace ignored */
	GATE_INPUT_IMAGE,   /* a QR code in a PNG or PNM image */
} gate_input_kind_t;

typedef struct gate_input {
	gate_input_kind_t kind;
	size_t len;
	uint8_t bytes[GATE_PAYLOAD_MAX];
} gate_input_t;

/* Turn the content of one input into payload bytes: an image (by its
 * magic bytes) is scanned for its QR code; otherwise, with hex, the text
 * is hex; otherwise the content is the payload as is. */
int gate_input_parse(const uint8_t *data, size_t len, bool hex, gate_input_t *in, char *err,
		     size_t err_len) OFP_WUR;
/* Read path ("-" is stdin) within GATE_FILE_MAX and parse it. The error
 * names the file. */
int gate_input_read(const char *path, bool hex, gate_input_t *in, char *err, size_t err_len) OFP_WUR;

/* --- gateconf.c: STATE/gate.conf -------------------------------------- */

#define GATE_CONF_NAME "gate.conf"
#define GATE_CONF_MAX 4096u
/* A gate whose clock is off by more than a day needs fixing, not a
 * tolerance (the library's own cap); a QR code fresh for more than a day is no longer fresh. */
#define GATE_SKEW_MAX OFFPASS_CLOCK_SKEW_MAX
#define GATE_FRESHNESS_MAX 86400u

/* Who sets the price (offpass_fare_mode_t): a fixed fare, or a till that
 * gives each check its amount. */
typedef enum gate_mode { GATE_MODE_FIXED = 1, GATE_MODE_TILL = 2 } gate_mode_t;

/* What init decides once and every later command reads. */
typedef struct gate_conf {
	uint8_t verifier_id[8];
	uint16_t resource_class;
	gate_mode_t mode;
	uint32_t fare;	     /* fixed mode: charged per passage; till mode: 0 */
	bool allow_zero;     /* a charge of 0 may operate */
	uint32_t clock_skew; /* seconds */
	uint32_t freshness;  /* seconds */
	/* The deny list's maximum age in seconds, 0 for off ("off" in the
	 * file), and what a charge may be while it is stale (0: refuse).
	 * Optional in the file (gates made before them get the defaults). */
	uint32_t deny_max_age;
	uint32_t stale_operation_max;
} gate_conf_t;

/* The library's defaults (offpass_verifier_config_init), id 0, mode 0
 * (none: init must be told). */
void gate_conf_defaults(gate_conf_t *c);
/* "key = value" lines, '#' comments; every key exactly once (but
 * deny_max_age and stale_operation_max, which may be missing), no other
 * key, values in range. */
int gate_conf_parse(const char *text, size_t len, gate_conf_t *c, char *err, size_t err_len) OFP_WUR;
/* Tolerances within their bounds (freshness at least 1 s); a mode, a fare
 * only in fixed mode, and 0 only with allow_zero. */
int gate_conf_check(const gate_conf_t *c, char *err, size_t err_len) OFP_WUR;
/* The file's text; returns its length, or 0 when cap is too small. */
size_t gate_conf_format(const gate_conf_t *c, char *out, size_t cap);
/* dir/gate.conf: read and parse; write atomically (0600). */
int gate_conf_load(const char *dir, gate_conf_t *c, char *err, size_t err_len) OFP_WUR;
int gate_conf_save(const char *dir, const gate_conf_t *c, char *err, size_t err_len) OFP_WUR;
/* Whether dir/gate.conf exists (init refuses to overwrite it). */
bool gate_conf_exists(const char *dir);

#endif

/* qr.h - a presentation as a QR code (claims 7 and 14): libqrencode in
 * 8-bit (byte) mode at error correction M, the smallest version that holds
 * the data (a P-256 presentation, 213 bytes, is version 10), drawn for a
 * terminal (UTF-8 half blocks), as PNG (libpng, 1-bit grey) or SVG. */
#ifndef OFFPASS_HOLDER_QR_H
#define OFFPASS_HOLDER_QR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "compiler.h"

/* The light border every reader needs around the symbol, in modules. */
#define OFP_QR_QUIET_ZONE 4
/* PNG pixels per module. */
#define OFP_QR_PNG_MODULE_PX 6

typedef struct ofp_qr {
	int version;	  /* 1..40 */
	int width;	  /* modules per side, quiet zone excluded */
	uint8_t *modules; /* width * width, row by row; 1 = dark */
} ofp_qr_t;

/* Encode data (any bytes, NUL included). 0, or -1 with err set (too long
 * for a QR code, out of memory). Free with ofp_qr_free. */
int ofp_qr_encode(const uint8_t *data, size_t len, ofp_qr_t *qr, char *err, size_t err_len) OFP_WUR;
void ofp_qr_free(ofp_qr_t *qr);
/* The module at (x, y); outside the symbol (the quiet zone) is light. */
bool ofp_qr_dark(const ofp_qr_t *qr, int x, int y);

/* A PNG image (malloc'ed): 1-bit grey, OFP_QR_PNG_MODULE_PX pixels a
 * module, the quiet zone included. 0, or -1 with err set. */
int ofp_qr_png(const ofp_qr_t *qr, uint8_t **out, size_t *len, char *err, size_t err_len) OFP_WUR;
/* An SVG document (malloc'ed, NUL-terminated): a white square and one
 * black path, one unit a module, the quiet zone included. */
int ofp_qr_svg(const ofp_qr_t *qr, char **out, size_t *len, char *err, size_t err_len) OFP_WUR;
/* Two module rows a text line with UTF-8 half blocks, the quiet zone
 * included; light modules are drawn (the glyphs' colour), dark ones left
 * as background.
 * colour: every line sets its colours explicitly (ANSI SGR 40;97, black
 * background and bright white glyphs, as qrencode's ANSIUTF8 mode) and
 * resets them (SGR 0) before the newline, so the code has the right
 * polarity on a dark and on a light terminal theme alike.
 * plain (colour false): no escape codes; the glyphs take the terminal's
 * text colour, so the code is right only where text is lighter than the
 * background (a light-on-dark theme) and a negative on a dark-on-light
 * one (docs/man/offpass-holder.1, --plain). */
int ofp_qr_terminal(const ofp_qr_t *qr, FILE *f, bool colour) OFP_WUR;

#endif

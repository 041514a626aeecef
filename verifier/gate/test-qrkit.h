/* test-qrkit.h - QR codes for the gate's tests: libqrencode in byte mode
 * (any bytes, NUL included), drawn as grey pixels and written as PNG with
 * libpng. Test code only; the holder has its own renderer. */
#ifndef OFFPASS_GATE_TEST_QRKIT_H
#define OFFPASS_GATE_TEST_QRKIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "gate.h"

/* data as a QR code at level M, scale pixels a module and the standard
 * 4-module quiet zone, black on white; *version gets the QR version. */
bool tq_qr_grey(const uint8_t *data, size_t len, unsigned scale, gate_grey_t *out, int *version);
/* A white image. */
bool tq_blank_grey(unsigned width, unsigned height, gate_grey_t *out);
/* An 8-bit grey PNG of g (malloc'ed). */
bool tq_png_encode(const gate_grey_t *g, uint8_t **out, size_t *len);
/* A binary PGM (P5) of g (malloc'ed). */
bool tq_pgm_encode(const gate_grey_t *g, uint8_t **out, size_t *len);
bool tq_write_file(const char *path, const uint8_t *data, size_t len);

#endif

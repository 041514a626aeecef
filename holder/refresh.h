/* refresh.h - `present --refresh N`: a fresh authorization every N seconds
 * (a screenshot of the code is then worth at most N seconds) until the
 * user interrupts or a bounded count is reached (tests). */
#ifndef OFFPASS_HOLDER_REFRESH_H
#define OFFPASS_HOLDER_REFRESH_H

#include <stdbool.h>
#include "compiler.h"

/* Draw one frame (index 0, 1, ...); nonzero stops the loop with that
 * value. */
typedef int (*ofp_refresh_frame_fn)(void *ctx, unsigned index);

/* Call frame at once, then every interval seconds, until count frames
 * (0: no limit) or SIGINT/SIGTERM. A signal never cuts a frame short: it
 * is taken between frames, so a counter write or a drawing is always
 * whole. Returns the failing frame's value, else 0; *frames counts the
 * frames drawn and *interrupted says whether a signal ended the loop. */
int ofp_refresh_run(unsigned interval, unsigned count, ofp_refresh_frame_fn frame, void *ctx, unsigned *frames,
		    bool *interrupted) OFP_WUR;

#endif

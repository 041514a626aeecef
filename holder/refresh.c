/* refresh.c - the redraw loop of `present --refresh`. SIGINT and SIGTERM
 * are blocked for the loop's duration and taken with sigtimedwait while
 * waiting, so no handler runs in the middle of signing or drawing. */
#include "config.h"
#include "holder/refresh.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <time.h>

/* Wait up to seconds for SIGINT/SIGTERM: true when one came. */
static bool wait_signal(const sigset_t *set, unsigned seconds)
{
	struct timespec deadline, now, left;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (time_t)seconds;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		left.tv_sec = deadline.tv_sec - now.tv_sec;
		left.tv_nsec = deadline.tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_sec--;
			left.tv_nsec += 1000000000L;
		}
		if (left.tv_sec < 0)
			left.tv_sec = left.tv_nsec = 0;
		if (sigtimedwait(set, NULL, &left) >= 0)
			return true;
		if (errno == EAGAIN)
			return false;
		/* EINTR: another signal's handler ran; wait out the rest. */
	}
}

int ofp_refresh_run(unsigned interval, unsigned count, ofp_refresh_frame_fn frame, void *ctx, unsigned *frames,
		    bool *interrupted)
{
	sigset_t set, old;
	int rv = 0;

	*frames = 0;
	*interrupted = false;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, &old);
	for (unsigned i = 0; count == 0 || i < count; i++) {
		rv = frame(ctx, i);
		if (rv != 0)
			break;
		(*frames)++;
		if (count != 0 && i + 1 == count)
			break;
		if (wait_signal(&set, interval)) {
			*interrupted = true;
			break;
		}
	}
	/* A signal that came during the last frame is taken here, not left
	 * pending to kill the process when the mask is restored. */
	if (wait_signal(&set, 0))
		*interrupted = true;
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rv;
}

/*
 * error.c - thread-local error detail, in the manner of libgit2's
 * git_error_last(): functions return a code, the message waits here.
 *
 * The message lives in a fixed per-thread buffer so that recording an error
 * never allocates (it is often called on an out-of-memory path).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "mlreg/error.h"

static _Thread_local char last_msg[1024];
static _Thread_local int last_code;

int mlreg_error_set(int code, const char *fmt, ...)
{
	/* format into a scratch buffer first: callers may pass
	 * mlreg_error_last() itself as an argument to wrap it */
	char tmp[sizeof(last_msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	memcpy(last_msg, tmp, sizeof(last_msg));
	last_code = code;
	return code;
}

const char *mlreg_error_last(void) { return last_msg; }
int mlreg_error_code(void) { return last_code; }

void mlreg_error_clear(void)
{
	last_msg[0] = '\0';
	last_code = MLREG_OK;
}

const char *mlreg_error_name(int code)
{
	switch (code) {
	case MLREG_OK: return "ok";
	case MLREG_ENOTFOUND: return "not_found";
	case MLREG_EEXISTS: return "exists";
	case MLREG_ECONFLICT: return "conflict";
	case MLREG_EINVALID: return "invalid";
	case MLREG_EREFUSED: return "refused";
	case MLREG_EAUTH: return "unauthenticated";
	case MLREG_EFORBIDDEN: return "forbidden";
	case MLREG_EIO: return "io_error";
	case MLREG_ENOMEM: return "out_of_memory";
	case MLREG_EINTEGRITY: return "integrity";
	case MLREG_ETOOBIG: return "too_large";
	case MLREG_ERANGE: return "range";
	case MLREG_EUSAGE: return "usage";
	case MLREG_ENEWER: return "newer_version";
	case MLREG_EMETHOD: return "method";
	case MLREG_ERATELIMITED: return "rate_limited";
	default: return "error";
	}
}

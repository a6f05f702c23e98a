/*
 * mlreg/error.h - the error codes callers branch on, and the thread-local
 * detail message that goes with the last one.
 *
 * Every fallible function returns 0 (or a non-negative value) on success and
 * one of the negative MLREG_E* codes on failure, after setting a message with
 * mlreg_error_set().  The api/ layer maps codes to HTTP statuses through one
 * table, the cli/ layer maps them to exit codes through another.
 */
#ifndef MLREG_ERROR_H
#define MLREG_ERROR_H

typedef enum {
	MLREG_OK = 0,
	MLREG_ERROR = -1,     /* generic failure */
	MLREG_ENOTFOUND = -2, /* object does not exist */
	MLREG_EEXISTS = -3,   /* object already exists */
	MLREG_ECONFLICT = -4, /* state changed under us, or precondition failed */
	MLREG_EINVALID = -5,  /* malformed input */
	MLREG_EREFUSED = -6,  /* refused by a gate or policy */
	MLREG_EAUTH = -7,     /* no valid credentials */
	MLREG_EFORBIDDEN = -8,/* valid credentials, role not allowed */
	MLREG_EIO = -9,       /* filesystem or database failure */
	MLREG_ENOMEM = -10,   /* allocation failed */
	MLREG_EINTEGRITY = -11, /* digest or chain mismatch */
	MLREG_ETOOBIG = -12,  /* input past a configured limit */
	MLREG_ERANGE = -13,   /* bad byte range / gap in upload */
	MLREG_EUSAGE = -14,   /* command-line usage error */
	MLREG_ENEWER = -15,   /* data written by a newer mlreg */
	MLREG_EMETHOD = -16,  /* HTTP method not allowed on this route */
	MLREG_ERATELIMITED = -17 /* too many requests: retry later */
} mlreg_error_t;

/* Record a printf-style message for the current thread and return `code`,
 * so callers can write `return mlreg_error_set(MLREG_EINVALID, "...")`. */
int mlreg_error_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The last message recorded on this thread ("" when none); borrowed, valid
 * until the next mlreg_error_set() on this thread. */
const char *mlreg_error_last(void);

/* The code recorded with the last message (MLREG_OK when none). */
int mlreg_error_code(void);

/* Forget the last error on this thread. */
void mlreg_error_clear(void);

/* A short stable token for a code ("not_found", "conflict", ...) used in
 * JSON error bodies. */
const char *mlreg_error_name(int code);

#endif

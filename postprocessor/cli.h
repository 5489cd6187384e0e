/* cli.h - conventions shared by every verb of the `flopmeter` command: exit codes, one-line
 * error messages, and checked parsing of option values. */
#ifndef FM_CLI_H
#define FM_CLI_H

#include <stdint.h>
#include <stdio.h>

/* Exit codes of every verb. */
enum {
    EXIT_OK = 0,
    EXIT_INTERNAL = 1, /* the tool itself failed (out of memory, a bug) */
    EXIT_BAD_INPUT = 2 /* bad arguments, unreadable, corrupt or failing input */
};

/* Prints "flopmeter: <message>" as one line on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Maps a trace-library status to an exit code (bad input vs internal failure). */
int cli_exit_for_status(int status);

/* Parse an option value; on failure print a one-line error naming the option and return -1. */
int cli_parse_u64(const char *option, const char *text, uint64_t min, uint64_t max, uint64_t *out);
int cli_parse_double(const char *option, const char *text, double min, double max, double *out);

/* "--help" handling: prints usage to stdout and returns 1 when argv asks for help. */
int cli_wants_help(int argc, char **argv);

/* Writes the 16-byte trace id as 32 lower-case hex digits (out has room for 33). */
void cli_hex(const uint8_t *bytes, size_t n, char *out);

/* Formats Unix nanoseconds as an ISO 8601 UTC time with milliseconds (out: 32 bytes). */
void cli_iso_time(uint64_t unix_ns, char *out, size_t len);

#endif

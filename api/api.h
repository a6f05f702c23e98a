/*
 * api.h - the HTTP server of mlreg (`mlreg server`).
 */
#ifndef MLREG_API_H
#define MLREG_API_H

/* Run `mlreg server [flags]`: parse flags, open the registry, serve until
 * SIGINT/SIGTERM.  Returns a process exit code. */
int api_server_main(int argc, char **argv);

#endif

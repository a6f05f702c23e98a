/* placeholder, replaced by the real server */
#include <stdio.h>
#include "api/api.h"
int api_server_main(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "not yet\n"); return 1; }

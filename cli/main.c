#include "api/api.h"
int main(int argc, char **argv) { return api_server_main(argc, argv); }

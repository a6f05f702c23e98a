/*
 * fuzz_node_trust.c - libFuzzer target for mlreg-node's signature check
 * (node/trust.c): the "signatures" member of a load body, as it arrives
 * from the network and as it is read back from state.json on restore.
 *
 * Each input is parsed as JSON and handed to node_trust_parse (the shape
 * check of a load) and, when accepted, to node_trust_check against one
 * trusted key built at start-up.  Nothing an outsider sends may crash or
 * leak, and nothing may pass without a real signature: the only way through
 * is a signature by the trusted key, which no input can contain, so an
 * accepted check aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "node/node.h"
#include "util/sign.h"

static node_trust *trust;
static char dir[] = "/tmp/mlreg-fuzz-trust-XXXXXX";

static void cleanup(void)
{
	node_trust_free(trust);
	util_rm_rf(dir);
}

static void setup(void)
{
	char priv[128], pub[128];
	node_config c = {0};
	if (!mkdtemp(dir))
		abort();
	snprintf(priv, sizeof(priv), "%s/k", dir);
	snprintf(pub, sizeof(pub), "%s/k.pub", dir);
	if (util_sig_keygen(priv, pub, NULL) != 0)
		abort();
	c.trust_keys[0] = pub;
	c.ntrust_keys = 1;
	util_log_set_level(UTIL_LOG_ERROR);
	if (node_trust_load(&c, &trust) != 0 || !trust)
		abort();
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *sigs = NULL;
	char *text = NULL;
	if (!trust)
		setup();
	if (size > 65536 || util_json_parse((const char *)data, size, 32, &sigs) != 0)
		return 0;
	if (node_trust_parse(sigs, &text) == 0) {
		if (node_trust_check(trust, "m", 1,
				     "sha256:0000000000000000000000000000000000000000000000000000000000000000", text) == 0)
			abort(); /* no input can hold a signature by a key made at start-up */
		free(text);
	}
	cJSON_Delete(sigs);
	return 0;
}

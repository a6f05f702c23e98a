/*
 * cmd_key.c - `mlreg keygen --out NAME` and `mlreg key add|ls|rm`: Ed25519
 * signing keys (docs/security.md "Signing").
 *
 * keygen runs without a registry: it writes the private key to NAME (mode
 * 0600) and the public key to NAME.pub, each through a temporary file
 * linked into place, so an existing file is never replaced and neither is
 * ever seen half written (util_sig_keygen).  `key add` reads a public key
 * file and sends its text: the registry checks it (Ed25519 only) and keeps
 * its canonical form; a private key given by mistake is refused here,
 * before anything secret travels.
 */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/client.h"
#include "util/json.h"
#include "util/sign.h"

enum { OPT_OUT = 256 };

static const cli_option keygen_options[] = {
	{"out", OPT_OUT, true},
	{NULL, 0, false},
};

static int cmd_keygen_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	const char *out = NULL;
	char pub[4096], fp[UTIL_SIG_FP_LEN + 1];
	int rc;
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_OUT)
			out = a.value;
		else if (rc == CLI_ARGS_POS)
			return cli_usage_error(self->name, "unexpected argument '%s'", a.value);
		else
			return rc;
	}
	if (!out || !*out)
		return cli_usage_error(self->name, "expected --out NAME");
	if ((size_t)snprintf(pub, sizeof(pub), "%s.pub", out) >= sizeof(pub))
		return cli_usage_error(self->name, "--out path too long");
	if ((rc = util_sig_keygen(out, pub, fp)) < 0)
		return cli_error_wrap(rc, "cannot generate a key");
	if (cfg->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "private_key", out);
		cJSON_AddStringToObject(o, "public_key", pub);
		cJSON_AddStringToObject(o, "fingerprint", fp);
		rc = cli_print_json(o);
		cJSON_Delete(o);
		return rc;
	}
	printf("private key %s (keep it secret)\npublic key  %s\nfingerprint %s\n", out, pub, fp);
	return 0;
}

const cli_cmd_entry cli_cmd_keygen_entry = {
	.name = "keygen",
	.usage = "--out NAME",
	.summary = "make an Ed25519 key pair: NAME (private, 0600) and NAME.pub",
	.help = "options:\n"
		"  --out NAME   where the private key goes; the public key goes to NAME.pub\n"
		"Refuses to overwrite either file.  No registry is contacted.\n"
		"--json: {\"private_key\",\"public_key\",\"fingerprint\"} (paths and fingerprint)\n",
	.options = keygen_options,
	.exec = cmd_keygen_exec,
};

static int cmd_key_add_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	const char *pos[2];
	char *pem = NULL;
	size_t len = 0;
	cli_client *c = NULL;
	cli_response resp;
	cJSON *body = NULL;
	int error;
	memset(&resp, 0, sizeof(resp));
	if ((error = cli_args_positionals(self, argc, argv, pos, 2, "expected NAME PUB.pem")) < 0)
		return error;
	if ((error = util_read_file(pos[1], UTIL_SIG_PEM_MAX, &pem, &len)) < 0) {
		error = error == MLREG_ETOOBIG ? mlreg_error_set(MLREG_EINVALID, "'%s' is not a public key file", pos[1])
					       : cli_error_wrap(error, "cannot read '%s'", pos[1]);
		goto done;
	}
	/* never send a private key anywhere */
	if (strstr(pem, "PRIVATE KEY")) {
		error = mlreg_error_set(MLREG_EINVALID, "'%s' holds a private key: give the public key (NAME.pub)", pos[1]);
		goto done;
	}
	if (!(body = cJSON_CreateObject()) || !cJSON_AddStringToObject(body, "name", pos[0]) ||
	    !cJSON_AddStringToObject(body, "public_key", pem)) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if ((error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "POST", "/api/v1/keys", body, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot add key '%s'", pos[0]);
		goto done;
	}
	if (cfg->json)
		error = cli_print_json(resp.body);
	else
		printf("trusted key %s %s\n", cli_json_text(resp.body, "name", pos[0]),
		       cli_json_text(resp.body, "fingerprint", "?"));
done:
	free(pem);
	cJSON_Delete(body);
	cli_response_release(&resp);
	cli_client_free(c);
	return error;
}

const cli_cmd_entry cli_cmd_key_add_entry = {
	.name = "key add",
	.usage = "NAME PUB.pem",
	.summary = "trust an Ed25519 public key for signatures (admin)",
	.help = "NAME: 1 to 63 of letters, digits and ._-; PUB.pem: a PEM public key (mlreg keygen's NAME.pub).\n"
		"Keys of other algorithms, private keys and malformed PEM are refused.\n"
		"--json: {\"name\",\"fingerprint\",\"public_key\",\"created_at\",\"created_by\"}\n",
	.exec = cmd_key_add_exec,
};

static void key_row(const cJSON *k, const char **row, char buf[CLI_ROW_BUFS][CLI_ROW_BUF])
{
	(void)buf;
	row[0] = cli_json_text(k, "name", "?");
	row[1] = cli_json_text(k, "fingerprint", "?");
	row[2] = cli_json_text(k, "created_at", "-");
	row[3] = cli_json_text(k, "created_by", "-");
}

static int cmd_key_ls_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	static const char *const head[] = {"NAME", "FINGERPRINT", "ADDED", "BY"};
	return cli_list_table(self, cfg, argc, argv, "/api/v1/keys", "keys", "keys", head, 4, key_row);
}

const cli_cmd_entry cli_cmd_key_ls_entry = {
	.name = "key ls",
	.usage = "",
	.summary = "list the public keys the registry trusts",
	.help = "--json: {\"keys\":[{\"name\",\"fingerprint\",\"public_key\",\"created_at\",\"created_by\"}]}\n",
	.exec = cmd_key_ls_exec,
};

static int cmd_key_rm_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	const char *pos[1];
	char *name = NULL;
	util_buf path;
	cli_client *c = NULL;
	cli_response resp;
	int error;
	memset(&resp, 0, sizeof(resp));
	util_buf_init(&path, 1024);
	if ((error = cli_args_positionals(self, argc, argv, pos, 1, "expected NAME")) < 0)
		goto done;
	if (!(name = cli_escape(pos[0])) || util_buf_printf(&path, "/api/v1/keys/%s", name) < 0) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	if ((error = cli_client_new(&c, cfg)) < 0)
		goto done;
	if ((error = cli_client_json(c, "DELETE", path.ptr, NULL, &resp)) < 0) {
		error = cli_error_wrap(error, "cannot remove key '%s'", pos[0]);
		goto done;
	}
	if (cfg->json)
		error = cli_print_json(resp.body);
	else
		printf("removed key %s %s: its signatures are no longer trusted\n", pos[0],
		       cli_json_text(resp.body, "fingerprint", "?"));
done:
	free(name);
	util_buf_release(&path);
	cli_response_release(&resp);
	cli_client_free(c);
	return error;
}

const cli_cmd_entry cli_cmd_key_rm_entry = {
	.name = "key rm",
	.usage = "NAME",
	.summary = "stop trusting a key (admin); its signatures stay, untrusted",
	.help = "--json: {\"name\",\"fingerprint\",\"removed\":true}\n",
	.exec = cmd_key_rm_exec,
};

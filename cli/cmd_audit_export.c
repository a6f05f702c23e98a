/*
 * cmd_audit_export.c - `mlreg audit export --git DIR`: copy the registry's
 * hash-chained audit log into a git repository, and the comparison that
 * `mlreg audit verify --against DIR` runs on such a copy.
 *
 * The registry's own `audit verify` recomputes the chain from its rows, so
 * it cannot tell an intact log from one whose hashes were all recomputed
 * after an edit, nor from one cut short.  An export anchors the chain
 * outside the database: once an entry's hash is committed (and the
 * repository pushed somewhere else), a rewrite or truncation shows up as a
 * differing or missing entry.  Hence the rules here: an export only ever
 * appends, and before appending it checks that the registry still has the
 * exported head with the exported hash (else exit 6 and nothing written);
 * entries must come gap-free and each must link to the one before.
 *
 * Each run is one commit holding the changed chunk files and head.json
 * (layout in audit_export_parse.h; git plumbing in audit_git.c).
 */
#include <stdlib.h>
#include <string.h>
#include "cli/audit_git.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "util/json.h"

#define PAGE 1000
#define MAX_CHUNK_TEXT ((size_t)1 << 30)

enum { OPT_GIT = 256 };

static const cli_option export_options[] = {
	{"git", OPT_GIT, true},
	{NULL, 0, false},
};

/* One page of entries with seq > after, oldest first: *entries borrows
 * from resp, which the caller releases. */
static int fetch_page(cli_client *c, int64_t after, int limit, cli_response *resp, const cJSON **entries)
{
	char path[128];
	int error;
	snprintf(path, sizeof(path), "/api/v1/audit?after_seq=%lld&limit=%d", (long long)after, limit);
	if ((error = cli_client_json(c, "GET", path, NULL, resp)) < 0)
		return cli_error_wrap(error, "cannot read the audit log");
	*entries = cJSON_GetObjectItemCaseSensitive(resp->body, "entries");
	if (!cJSON_IsArray(*entries))
		return mlreg_error_set(MLREG_EIO, "registry answer lacks 'entries'");
	return 0;
}

/* The registry's entry `seq` (its hash into *line); *found false when the
 * registry has no such entry. */
static int fetch_entry(cli_client *c, int64_t seq, cli_audit_line *line, bool *found)
{
	cli_response resp;
	const cJSON *entries;
	int error;
	*found = false;
	if ((error = fetch_page(c, seq - 1, 1, &resp, &entries)) == 0 && entries->child) {
		if ((error = cli_audit_entry_fields(entries->child, line)) < 0)
			error = cli_error_wrap(MLREG_EIO, "registry sent a malformed audit entry");
		else
			*found = line->seq == seq;
	}
	cli_response_release(&resp);
	return error;
}

/* ---- export ---- */

typedef struct {
	cli_audit_repo *repo;
	int64_t chunk;          /* chunk in `text`, -1 for none */
	util_buf text;          /* its full content so far */
	int64_t head_seq;       /* the export's head before this run */
	char head_hash[CLI_AUDIT_HASH_MAX];
	int64_t last_seq;       /* last entry appended (or head_seq) */
	char last_hash[CLI_AUDIT_HASH_MAX];
	int64_t first, count;
} export_state;

static int flush_chunk(export_state *st)
{
	int error = 0;
	if (st->chunk >= 0)
		error = cli_audit_repo_stage_chunk(st->repo, st->chunk, st->text.ptr, st->text.len);
	util_buf_release(&st->text);
	st->chunk = -1;
	return error;
}

/* Start chunk `chunk`: empty, or (for the head's chunk) HEAD's content,
 * checked to end with the exported head. */
static int open_chunk(export_state *st, int64_t chunk)
{
	char *data = NULL;
	size_t len = 0, pos = 0;
	cli_audit_line line;
	int64_t last = 0;
	int rc, error = 0;
	util_buf_init(&st->text, MAX_CHUNK_TEXT);
	st->chunk = chunk;
	if (st->head_seq == 0 || cli_audit_chunk_of(st->head_seq) != chunk)
		return 0;
	if ((error = cli_audit_repo_read_chunk(st->repo, chunk, &data, &len)) < 0)
		return cli_error_wrap(MLREG_EINTEGRITY, "the export is damaged");
	while ((rc = cli_audit_chunk_next(data, len, &pos, &line)) > 0)
		last = line.seq;
	if (rc < 0 || last != st->head_seq || strcmp(line.hash, st->head_hash) != 0)
		error = mlreg_error_set(MLREG_EINTEGRITY, "the export is damaged: its last chunk does not end with head %lld",
					(long long)st->head_seq);
	else
		error = util_buf_put(&st->text, data, len);
	free(data);
	return error;
}

static int append_entry(export_state *st, const cJSON *e)
{
	cli_audit_line line;
	char *text;
	int error;
	if ((error = cli_audit_entry_fields(e, &line)) < 0)
		return cli_error_wrap(MLREG_EIO, "registry sent a malformed audit entry");
	if (line.seq != st->last_seq + 1)
		return mlreg_error_set(MLREG_EINTEGRITY, "registry sent audit entry %lld after %lld: the log has a gap",
				       (long long)line.seq, (long long)st->last_seq);
	if (st->last_seq > 0 && strcmp(line.prev_hash, st->last_hash) != 0)
		return mlreg_error_set(MLREG_EINTEGRITY, "audit entry %lld does not link to entry %lld (prev_hash differs)",
				       (long long)line.seq, (long long)st->last_seq);
	if (cli_audit_chunk_of(line.seq) != st->chunk &&
	    ((error = flush_chunk(st)) < 0 || (error = open_chunk(st, cli_audit_chunk_of(line.seq))) < 0))
		return error;
	/* the entry as received, compact, one line: its hash covers the
	 * canonical form, not these bytes, so re-printing loses nothing */
	if (!(text = util_json_print(e)))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	error = util_buf_puts(&st->text, text);
	free(text);
	if (error < 0 || (error = util_buf_put(&st->text, "\n", 1)) < 0)
		return error;
	if (!st->count++)
		st->first = line.seq;
	st->last_seq = line.seq;
	snprintf(st->last_hash, sizeof(st->last_hash), "%s", line.hash);
	return 0;
}

static int print_export(const cli_config *cfg, const export_state *st)
{
	cJSON *o, *head;
	int error;
	if (!cfg->json) {
		if (st->count == 0)
			printf("nothing to export (head %lld)\n", (long long)st->last_seq);
		else
			printf("exported %lld entries (%lld..%lld), head %lld %s\n", (long long)st->count,
			       (long long)st->first, (long long)st->last_seq, (long long)st->last_seq, st->last_hash);
		return 0;
	}
	if (!(o = cJSON_CreateObject()) || !cJSON_AddNumberToObject(o, "exported", (double)st->count) ||
	    !(st->count ? cJSON_AddNumberToObject(o, "from", (double)st->first) : cJSON_AddNullToObject(o, "from")) ||
	    !(st->count ? cJSON_AddNumberToObject(o, "to", (double)st->last_seq) : cJSON_AddNullToObject(o, "to")) ||
	    !(head = cJSON_AddObjectToObject(o, "head")) ||
	    !cJSON_AddNumberToObject(head, "seq", (double)st->last_seq) ||
	    !cJSON_AddStringToObject(head, "hash", st->last_hash)) {
		cJSON_Delete(o);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	error = cli_print_json(o);
	cJSON_Delete(o);
	return error;
}

static int cmd_audit_export_exec(const cli_cmd_entry *self, const cli_config *cfg, int argc, char **argv)
{
	cli_args a;
	cli_client *c = NULL;
	export_state st;
	const char *dir = NULL;
	char message[256];
	int rc, error = 0;

	memset(&st, 0, sizeof(st));
	st.chunk = -1;
	util_buf_init(&st.text, MAX_CHUNK_TEXT);
	cli_args_init(&a, self->name, self->options, argc, argv);
	while ((rc = cli_args_next(&a)) != CLI_ARGS_END) {
		if (rc == OPT_GIT)
			dir = a.value;
		else if (rc == CLI_ARGS_POS)
			error = cli_usage_error(self->name, "unexpected argument '%s'", a.value);
		else
			error = rc;
		if (error < 0)
			goto done;
	}
	if (!dir || !*dir) {
		error = cli_usage_error(self->name, "expected --git DIR");
		goto done;
	}
	if ((error = cli_client_new(&c, cfg)) < 0 || (error = cli_audit_repo_open(&st.repo, dir, true)) < 0 ||
	    (error = cli_audit_repo_head(st.repo, &st.head_seq, st.head_hash)) < 0)
		goto done;
	st.last_seq = st.head_seq;
	snprintf(st.last_hash, sizeof(st.last_hash), "%s", st.head_hash);
	if (st.head_seq > 0) {
		cli_audit_line line;
		bool found;
		if ((error = fetch_entry(c, st.head_seq, &line, &found)) < 0)
			goto done;
		if (!found) {
			error = mlreg_error_set(MLREG_EINTEGRITY, "audit log truncated: export has entries up to %lld, the "
								  "registry has no entry %lld",
						(long long)st.head_seq, (long long)st.head_seq);
			goto done;
		}
		if (strcmp(line.hash, st.head_hash) != 0) {
			error = mlreg_error_set(MLREG_EINTEGRITY,
						"audit chain diverged from the export at seq %lld: recomputed or rewritten",
						(long long)st.head_seq);
			goto done;
		}
	}
	for (;;) {
		cli_response resp;
		const cJSON *entries, *e;
		int n = 0;
		if (cli_interrupted()) {
			error = mlreg_error_set(MLREG_ERROR, "interrupted");
			goto done;
		}
		if ((error = fetch_page(c, st.last_seq, PAGE, &resp, &entries)) == 0) {
			cJSON_ArrayForEach(e, entries)
			{
				if ((error = append_entry(&st, e)) < 0)
					break;
				n++;
			}
		}
		cli_response_release(&resp);
		if (error < 0)
			goto done;
		if (n < PAGE)
			break;
	}
	if (st.count > 0) {
		snprintf(message, sizeof(message), "audit: entries %lld..%lld, head %s\n", (long long)st.first,
			 (long long)st.last_seq, st.last_hash);
		if ((error = flush_chunk(&st)) < 0 ||
		    (error = cli_audit_repo_commit(st.repo, st.last_seq, st.last_hash, message)) < 0)
			goto done;
	}
	error = print_export(cfg, &st);
done:
	if (error < 0 && error != MLREG_EUSAGE && dir)
		error = cli_error_wrap(error, "cannot export the audit log to '%s'", dir);
	util_buf_release(&st.text);
	cli_audit_repo_free(st.repo);
	cli_client_free(c);
	return error;
}

/* ---- verify --against ---- */

typedef struct {
	cli_client *c;
	cli_response resp;      /* the current page */
	const cJSON *next;      /* next entry of it */
	int64_t after;          /* last seq read from the registry */
} server_cursor;

/* The registry's next entry into *line; *found false past its end. */
static int cursor_next(server_cursor *sc, cli_audit_line *line, bool *found)
{
	const cJSON *entries;
	int error;
	*found = false;
	if (!sc->next) {
		cli_response_release(&sc->resp);
		if ((error = fetch_page(sc->c, sc->after, PAGE, &sc->resp, &entries)) < 0)
			return error;
		sc->next = entries->child;
		if (!sc->next)
			return 0;
	}
	if ((error = cli_audit_entry_fields(sc->next, line)) < 0)
		return cli_error_wrap(MLREG_EIO, "registry sent a malformed audit entry");
	sc->next = sc->next->next;
	sc->after = line->seq;
	*found = true;
	return 0;
}

/* Compare one exported chunk's lines with the registry's entries. */
static int compare_chunk(server_cursor *sc, int64_t head, int64_t chunk, const char *data, size_t len,
			 int64_t *expect, char last_hash[CLI_AUDIT_HASH_MAX], int64_t *first_bad)
{
	size_t pos = 0;
	cli_audit_line mine, theirs;
	bool found;
	int rc, error;
	char name[32];
	cli_audit_chunk_name(chunk, name);
	while ((rc = cli_audit_chunk_next(data, len, &pos, &mine)) > 0) {
		if (mine.seq != *expect || cli_audit_chunk_of(mine.seq) != chunk)
			return mlreg_error_set(MLREG_EINTEGRITY, "the export is damaged: entries/%s holds seq %lld where %lld was expected",
					       name, (long long)mine.seq, (long long)*expect);
		if ((error = cursor_next(sc, &theirs, &found)) < 0)
			return error;
		if (!found) {
			*first_bad = mine.seq;
			return mlreg_error_set(MLREG_EINTEGRITY, "audit log truncated: export has entries up to %lld, registry only up to %lld",
					       (long long)head, (long long)(mine.seq - 1));
		}
		if (theirs.seq != mine.seq || strcmp(theirs.hash, mine.hash) != 0) {
			*first_bad = mine.seq;
			return mlreg_error_set(MLREG_EINTEGRITY, "entry %lld differs from the export (chain recomputed after an edit?)",
					       (long long)mine.seq);
		}
		snprintf(last_hash, CLI_AUDIT_HASH_MAX, "%s", mine.hash);
		++*expect;
	}
	if (rc < 0)
		return cli_error_wrap(MLREG_EINTEGRITY, "the export is damaged: entries/%s line at byte %zu", name, pos);
	return 0;
}

int cli_audit_export_compare(cli_client *c, const char *dir, int64_t *export_head, int64_t *first_bad)
{
	cli_audit_repo *repo = NULL;
	server_cursor sc;
	int64_t *chunks = NULL, head = 0, expect = 1;
	size_t nchunks = 0;
	char head_hash[CLI_AUDIT_HASH_MAX], last_hash[CLI_AUDIT_HASH_MAX] = "";
	int error;

	memset(&sc, 0, sizeof(sc));
	sc.c = c;
	*first_bad = 0;
	if ((error = cli_audit_repo_open(&repo, dir, false)) < 0 ||
	    (error = cli_audit_repo_head(repo, &head, head_hash)) < 0 ||
	    (error = cli_audit_repo_chunks(repo, &chunks, &nchunks)) < 0)
		goto done;
	*export_head = head;
	for (size_t i = 0; i < nchunks; i++) {
		char *data = NULL;
		size_t len = 0;
		if (cli_interrupted()) {
			error = mlreg_error_set(MLREG_ERROR, "interrupted");
			goto done;
		}
		if ((error = cli_audit_repo_read_chunk(repo, chunks[i], &data, &len)) < 0)
			goto done;
		error = compare_chunk(&sc, head, chunks[i], data, len, &expect, last_hash, first_bad);
		free(data);
		if (error < 0)
			goto done;
	}
	if (expect - 1 != head || strcmp(last_hash, head_hash) != 0)
		error = mlreg_error_set(MLREG_EINTEGRITY,
					"the export is damaged: its entries end at %lld but head.json says %lld",
					(long long)(expect - 1), (long long)head);
done:
	cli_response_release(&sc.resp);
	free(chunks);
	cli_audit_repo_free(repo);
	return error;
}

const cli_cmd_entry cli_cmd_audit_export_entry = {
	.name = "audit export",
	.usage = "--git DIR",
	.summary = "append new audit entries to a git repository (one commit per run)",
	.help = "options:\n"
		"  --git DIR   the repository (created when missing)\n"
		"Layout: entries/CCCCCCCC.jsonl (CCCCCCCC = seq / 1000, zero-padded; one\n"
		"entry per line, oldest first) and head.json {\"seq\",\"hash\"}.  Refuses (exit 6,\n"
		"nothing written) when the registry's entry at the exported head no longer has\n"
		"the exported hash.\n"
		"output: 'exported N entries (A..B), head B HASH' or 'nothing to export (head N)'\n"
		"--json: {\"exported\",\"from\",\"to\",\"head\":{\"seq\",\"hash\"}}\n",
	.options = export_options,
	.exec = cmd_audit_export_exec,
};

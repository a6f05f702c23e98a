/*
 * manifest.c - version manifests (the serving descriptor, mlreg-model.json,
 * is parsed in util/model_config.c, which mlreg-node shares).
 *
 * A version is the sorted list of its files {path,size,digest,mode}; its
 * canonical encoding (schema/canonical.md) is stored as a blob and the
 * version's digest is that blob's digest, so two pushes of the same tree
 * get the same digest on any machine.  Paths are checked here, once, for
 * every way a hostile manifest could escape a pull's destination.
 */
#include <stdlib.h>
#include <string.h>
#include "registry/registry.h"
#include "util/json.h"

#define MANIFEST_MEDIA_TYPE "application/vnd.mlreg.manifest.v1+json"

static int cmp_path(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	return strcmp(util_json_str(x, "path"), util_json_str(y, "path"));
}

int reg_manifest_normalise(const cJSON *files, uint64_t max_files, cJSON **out, uint64_t *total_size)
{
	int n, i = 0, rc = 0;
	cJSON **items = NULL, *arr = NULL;
	uint64_t total = 0;
	if (!cJSON_IsArray(files))
		return mlreg_error_set(MLREG_EINVALID, "'files' must be an array");
	n = cJSON_GetArraySize(files);
	if (n == 0)
		return mlreg_error_set(MLREG_EINVALID, "a version needs at least one file");
	if ((uint64_t)n > max_files)
		return mlreg_error_set(MLREG_EINVALID, "too many files: %d (limit %llu)", n, (unsigned long long)max_files);
	items = calloc((size_t)n, sizeof(*items));
	if (!items)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	for (const cJSON *f = files->child; f; f = f->next) {
		const char *path = util_json_str(f, "path"), *digest = util_json_str(f, "digest");
		int64_t size, mode = 420;
		cJSON *o;
		if (!cJSON_IsObject(f)) {
			rc = mlreg_error_set(MLREG_EINVALID, "file entry %d is not an object", i);
			goto done;
		}
		if (!util_manifest_path_valid(path)) {
			rc = mlreg_error_set(MLREG_EINVALID,
					     "invalid path '%s' in manifest: paths are relative, '/'-separated, without '.', '..' or empty parts",
					     path ? path : "(missing)");
			goto done;
		}
		if (!util_digest_valid(digest)) {
			rc = mlreg_error_set(MLREG_EINVALID, "invalid digest for '%s': expected sha256:<64 hex>", path);
			goto done;
		}
		if (util_json_i64(f, "size", &size) != 0 || size < 0) {
			rc = mlreg_error_set(MLREG_EINVALID, "invalid or missing size for '%s'", path);
			goto done;
		}
		if (cJSON_GetObjectItem(f, "mode") && (util_json_i64(f, "mode", &mode) != 0 || (mode != 420 && mode != 493))) {
			rc = mlreg_error_set(MLREG_EINVALID, "invalid mode for '%s': use 420 (0644) or 493 (0755)", path);
			goto done;
		}
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "path", path);
		cJSON_AddNumberToObject(o, "size", (double)size);
		cJSON_AddStringToObject(o, "digest", digest);
		cJSON_AddNumberToObject(o, "mode", (double)mode);
		items[i++] = o;
		total += (uint64_t)size;
	}
	qsort(items, (size_t)n, sizeof(*items), cmp_path);
	for (i = 1; i < n; i++) {
		const char *a = util_json_str(items[i - 1], "path"), *b = util_json_str(items[i], "path");
		if (!strcmp(a, b)) {
			rc = mlreg_error_set(MLREG_EINVALID, "duplicate path '%s' in manifest", a);
			goto done;
		}
	}
	/* no file may also be a folder: look up every folder prefix of every
	 * path among the (sorted) paths; neighbours alone are not enough since
	 * '-' and '.' sort before '/' ("a", "a-b", "a/c") */
	for (i = 0; i < n; i++) {
		const char *p = util_json_str(items[i], "path");
		for (const char *slash = strchr(p, '/'); slash; slash = strchr(slash + 1, '/')) {
			size_t plen = (size_t)(slash - p);
			int lo = 0, hi = i - 1; /* a prefix sorts before the path itself */
			while (lo <= hi) {
				int mid = lo + (hi - lo) / 2;
				const char *m = util_json_str(items[mid], "path");
				int c = strncmp(m, p, plen);
				if (c == 0 && m[plen] != '\0')
					c = 1; /* m is longer than the prefix: it sorts after it */
				if (c == 0) {
					rc = mlreg_error_set(MLREG_EINVALID, "path '%s' is both a file and a folder", m);
					goto done;
				}
				if (c < 0)
					lo = mid + 1;
				else
					hi = mid - 1;
			}
		}
	}
	arr = cJSON_CreateArray();
	for (i = 0; i < n; i++) {
		cJSON_AddItemToArray(arr, items[i]);
		items[i] = NULL;
	}
	*out = arr;
	*total_size = total;
done:
	for (i = 0; i < n; i++)
		cJSON_Delete(items[i]);
	free(items);
	return rc;
}

int reg_manifest_encode(const cJSON *files, char **data, size_t *len)
{
	cJSON *m = cJSON_CreateObject();
	util_buf b;
	int rc;
	util_buf_init(&b, (size_t)1 << 30);
	cJSON_AddItemToObject(m, "files", cJSON_Duplicate(files, 1));
	cJSON_AddStringToObject(m, "mediaType", MANIFEST_MEDIA_TYPE);
	cJSON_AddNumberToObject(m, "schemaVersion", 1);
	rc = util_json_canonical(m, &b);
	cJSON_Delete(m);
	if (rc < 0) {
		util_buf_release(&b);
		return rc;
	}
	*len = b.len;
	*data = util_buf_detach(&b);
	return 0;
}

int reg_manifest_decode(const char *data, size_t len, cJSON **files)
{
	cJSON *m = NULL, *norm = NULL;
	uint64_t total;
	int64_t version = 0;
	int rc;
	if ((rc = util_json_parse(data, len, UTIL_JSON_MAX_DEPTH, &m)) < 0)
		return rc;
	if (!cJSON_IsObject(m) || !util_json_str(m, "mediaType") || strcmp(util_json_str(m, "mediaType"), MANIFEST_MEDIA_TYPE)) {
		cJSON_Delete(m);
		return mlreg_error_set(MLREG_EINVALID, "not an mlreg manifest");
	}
	if (util_json_i64(m, "schemaVersion", &version) != 0 || version != 1) {
		cJSON_Delete(m);
		return mlreg_error_set(MLREG_EINVALID, "unsupported manifest schemaVersion (this mlreg reads 1)");
	}
	rc = reg_manifest_normalise(cJSON_GetObjectItem(m, "files"), (uint64_t)-1, &norm, &total);
	cJSON_Delete(m);
	if (rc < 0)
		return rc;
	*files = norm;
	return 0;
}

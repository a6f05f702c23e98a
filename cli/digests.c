/*
 * digests.c - push's local digest cache: (device, inode, size, mtime ns,
 * ctime ns) -> SHA-256, so that re-pushing a folder of unchanged weights
 * does not read them again (git's index does the same for `git status`).
 *
 * Correctness rests on two rules, because a stale entry would silently
 * register old content under a new version whenever the registry already
 * holds the old blob (its digest check cannot catch that):
 *   - An entry is only recorded when the file's ctime lies before the
 *     moment reading began, at the filesystem's timestamp granularity (the
 *     "racy git" problem).  Any write during or after the read then gets a
 *     later ctime, and ctime, unlike mtime, cannot be set back by
 *     `touch -d`.
 *   - Only local filesystems whose ctime is a real change time are cached
 *     (ext2/3/4, XFS, btrfs, tmpfs, F2FS, ZFS, bcachefs, overlayfs).  Network
 *     filesystems cache attributes on the client and FAT has no change time;
 *     files there are hashed on every push.
 * A write through a shared memory map to a page that is already dirty does
 * not update ctime; that, like for git, is out of reach of stat.
 *
 * The file is text, one entry a line, with a header line and a trailer
 * line holding the SHA-256 of everything before it: a torn or edited file
 * fails the check and is ignored as a whole.  It is rewritten through a
 * temp file and rename only when something changed, merged with entries
 * other processes added since we read it, and cut to the 100,000 most
 * recently used entries.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include "cli/digests.h"

#define HEADER "mlreg-digest-cache 1\n"
#define MAX_ENTRIES 100000
#define MAX_LINES (2 * MAX_ENTRIES) /* a longer file is not one we wrote */
#define REFRESH_SECS 3600           /* rewrite for a hit whose use time is older */
#define MAX_LINE (64 + 6 * 21 + 1)   /* digest and six numbers, spaces, newline */
#define READ_CHUNK (1 << 20)

#ifndef ZFS_SUPER_MAGIC
#define ZFS_SUPER_MAGIC 0x2fc12fc1
#endif
#ifndef BCACHEFS_SUPER_MAGIC
#define BCACHEFS_SUPER_MAGIC 0xca451a4e
#endif

enum { LIVE = 1, DEAD = 2 };

typedef struct {
	cli_file_stamp s;
	int64_t used;          /* unix seconds of the last hash or hit */
	unsigned char md[32];
	unsigned char state;   /* LIVE or DEAD (forgotten: not written, not merged back) */
} entry;

struct cli_digest_cache {
	pthread_mutex_t mu;
	char *path;
	entry *ents;
	size_t n, cap;
	uint32_t *slots;       /* open addressing on (dev, ino): index + 1, 0 empty */
	size_t nslots;         /* power of two, > 2n */
	bool dirty;
	struct stat loaded;    /* the file as we read it (st_ino 0: none) */
};

void cli_file_stamp_from_stat(cli_file_stamp *s, const struct stat *sb)
{
	s->dev = (uint64_t)sb->st_dev;
	s->ino = (uint64_t)sb->st_ino;
	s->size = (uint64_t)sb->st_size;
	s->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
	s->ctime_ns = (int64_t)sb->st_ctim.tv_sec * 1000000000 + sb->st_ctim.tv_nsec;
}

static bool stamp_eq(const cli_file_stamp *a, const cli_file_stamp *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns &&
	       a->ctime_ns == b->ctime_ns;
}

static size_t key_hash(uint64_t dev, uint64_t ino)
{
	uint64_t h = (dev * 0x9e3779b97f4a7c15ULL) ^ (ino * 0xc2b2ae3d27d4eb4fULL);
	return (size_t)(h ^ (h >> 29));
}

/* Slot of (dev, ino): its entry's slot or the empty slot it would take. */
static size_t find_slot(const cli_digest_cache *c, uint64_t dev, uint64_t ino)
{
	size_t mask = c->nslots - 1, i = key_hash(dev, ino) & mask;
	while (c->slots[i]) {
		const entry *e = &c->ents[c->slots[i] - 1];
		if (e->s.dev == dev && e->s.ino == ino)
			break;
		i = (i + 1) & mask;
	}
	return i;
}

static int grow_slots(cli_digest_cache *c)
{
	size_t n = c->nslots ? c->nslots * 2 : 1024;
	uint32_t *s = calloc(n, sizeof(*s));
	if (!s)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	free(c->slots);
	c->slots = s;
	c->nslots = n;
	for (size_t k = 0; k < c->n; k++)
		c->slots[find_slot(c, c->ents[k].s.dev, c->ents[k].s.ino)] = (uint32_t)(k + 1);
	return 0;
}

/* The entry of (dev, ino), or NULL. */
static entry *lookup(const cli_digest_cache *c, uint64_t dev, uint64_t ino)
{
	size_t i;
	if (!c->nslots)
		return NULL;
	i = find_slot(c, dev, ino);
	return c->slots[i] ? &c->ents[c->slots[i] - 1] : NULL;
}

/* The entry of (dev, ino), added (zeroed but for the key) when missing. */
static entry *lookup_add(cli_digest_cache *c, uint64_t dev, uint64_t ino)
{
	entry *e = lookup(c, dev, ino);
	size_t i;
	if (e)
		return e;
	if ((c->n + 1) * 2 > c->nslots && grow_slots(c) < 0)
		return NULL;
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 256;
		entry *p = realloc(c->ents, ncap * sizeof(*p));
		if (!p)
			return NULL;
		c->ents = p;
		c->cap = ncap;
	}
	e = &c->ents[c->n];
	memset(e, 0, sizeof(*e));
	e->s.dev = dev;
	e->s.ino = ino;
	i = find_slot(c, dev, ino);
	c->slots[i] = (uint32_t)(++c->n);
	return e;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

static bool parse_md(const char *hex, unsigned char md[32])
{
	for (int i = 0; i < 32; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		md[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

static void md_to_hex(const unsigned char md[32], char out[65])
{
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hx[md[i] >> 4];
		out[2 * i + 1] = hx[md[i] & 15];
	}
	out[64] = '\0';
}

/* Parse "<64 hex> dev ino size mtime_ns ctime_ns used\n" into e. */
static bool parse_line(const char *line, entry *e)
{
	unsigned long long v[3];
	long long t[3];
	char *end;
	const char *p;
	if (!parse_md(line, e->md) || line[64] != ' ')
		return false;
	p = line + 65;
	for (int i = 0; i < 3; i++) {
		if (*p < '0' || *p > '9')
			return false;
		errno = 0;
		v[i] = strtoull(p, &end, 10);
		if (errno || *end != ' ')
			return false;
		p = end + 1;
	}
	for (int i = 0; i < 3; i++) {
		if (!((*p >= '0' && *p <= '9') || *p == '-'))
			return false;
		errno = 0;
		t[i] = strtoll(p, &end, 10);
		if (errno || *end != (i < 2 ? ' ' : '\n') || (i == 2 && end[1] != '\0'))
			return false;
		p = end + 1;
	}
	e->s.dev = v[0];
	e->s.ino = v[1];
	e->s.size = v[2];
	e->s.mtime_ns = t[0];
	e->s.ctime_ns = t[1];
	e->used = t[2];
	e->state = LIVE;
	return true;
}

/* Read the file at path into c (which must be empty).  Anything short of a
 * complete file we wrote leaves c empty; that is not an error. */
static int load(cli_digest_cache *c, const char *path)
{
	FILE *f = fopen(path, "re");
	util_sha256 *h = NULL;
	char line[MAX_LINE + 64], want[65], got[UTIL_DIGEST_LEN + 1];
	bool complete = false;
	size_t lines = 0;
	int error = 0;
	if (!f)
		return 0;
	if (fstat(fileno(f), &c->loaded) < 0)
		memset(&c->loaded, 0, sizeof(c->loaded));
	if (!(h = util_sha256_new())) {
		fclose(f);
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	}
	if (!fgets(line, sizeof(line), f) || strcmp(line, HEADER) != 0)
		goto done;
	util_sha256_update(h, line, strlen(line));
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		entry e, *slot;
		if (len == 0 || line[len - 1] != '\n' || ++lines > MAX_LINES)
			goto done;
		if (!strncmp(line, "end ", 4)) {
			if (len != 4 + 64 + 1 || fgetc(f) != EOF)
				goto done; /* the trailer is the last line */
			memcpy(want, line + 4, 64);
			want[64] = '\0';
			util_sha256_final(h, got);
			h = NULL;
			complete = !strcmp(got + 7, want);
			goto done;
		}
		util_sha256_update(h, line, len);
		memset(&e, 0, sizeof(e));
		if (!parse_line(line, &e))
			goto done;
		if (!(slot = lookup_add(c, e.s.dev, e.s.ino))) {
			error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
			goto done;
		}
		*slot = e;
	}
done:
	util_sha256_free(h);
	fclose(f);
	if (!complete) {
		c->n = 0;
		if (c->slots)
			memset(c->slots, 0, c->nslots * sizeof(*c->slots));
	}
	return error;
}

static char *default_path(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	util_buf b;
	util_buf_init(&b, 8192);
	if (xdg && *xdg)
		util_buf_printf(&b, "%s/mlreg/digests", xdg);
	else if (home && *home)
		util_buf_printf(&b, "%s/.cache/mlreg/digests", home);
	return util_buf_detach(&b);
}

static cli_digest_cache *cache_new(const char *path)
{
	cli_digest_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (!(c->path = strdup(path))) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

int cli_digest_cache_open(cli_digest_cache **out, const char *path)
{
	char *def = NULL;
	cli_digest_cache *c;
	int error;
	*out = NULL;
	if (!path) {
		def = default_path();
		if (!def)
			return 0; /* nowhere to keep a cache */
		path = def;
	}
	c = cache_new(path);
	free(def);
	if (!c)
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	if ((error = load(c, c->path)) < 0) {
		cli_digest_cache_free(c);
		return error;
	}
	*out = c;
	return 0;
}

void cli_digest_cache_free(cli_digest_cache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->mu);
	free(c->path);
	free(c->ents);
	free(c->slots);
	free(c);
}

static int64_t now_secs(void)
{
	return (int64_t)time(NULL);
}

bool cli_digest_cache_get(cli_digest_cache *c, const cli_file_stamp *s, char digest[UTIL_DIGEST_LEN + 1])
{
	entry *e;
	bool hit = false;
	if (!c)
		return false;
	pthread_mutex_lock(&c->mu);
	e = lookup(c, s->dev, s->ino);
	if (e && e->state == LIVE && stamp_eq(&e->s, s)) {
		int64_t now = now_secs();
		memcpy(digest, "sha256:", 7);
		md_to_hex(e->md, digest + 7);
		if (now - e->used > REFRESH_SECS) {
			e->used = now;
			c->dirty = true;
		}
		hit = true;
	}
	pthread_mutex_unlock(&c->mu);
	return hit;
}

void cli_digest_cache_put(cli_digest_cache *c, const cli_file_stamp *s, const char *digest)
{
	entry *e;
	if (!c || !util_digest_valid(digest))
		return;
	pthread_mutex_lock(&c->mu);
	if ((e = lookup_add(c, s->dev, s->ino)) != NULL) {
		e->s = *s;
		parse_md(digest + 7, e->md);
		e->used = now_secs();
		e->state = LIVE;
		c->dirty = true;
	}
	pthread_mutex_unlock(&c->mu);
}

void cli_digest_cache_forget(cli_digest_cache *c, const cli_file_stamp *s)
{
	entry *e;
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	if ((e = lookup_add(c, s->dev, s->ino)) != NULL) {
		e->state = DEAD;
		c->dirty = true;
	}
	pthread_mutex_unlock(&c->mu);
}

static int cmp_used_desc(const void *a, const void *b)
{
	const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
	return x->used < y->used ? 1 : x->used > y->used ? -1 : 0;
}

/* Merge in what the file holds now (entries other processes added since we
 * loaded it); our own entries, live or forgotten, win. */
static int merge_disk(cli_digest_cache *c)
{
	cli_digest_cache *disk;
	struct stat now;
	int error;
	if (stat(c->path, &now) < 0 ||
	    (now.st_ino == c->loaded.st_ino && now.st_dev == c->loaded.st_dev && now.st_size == c->loaded.st_size &&
	     now.st_mtim.tv_sec == c->loaded.st_mtim.tv_sec && now.st_mtim.tv_nsec == c->loaded.st_mtim.tv_nsec))
		return 0; /* gone, or not rewritten since we read it (a rewrite is a new inode) */
	if (!(disk = cache_new(c->path)))
		return mlreg_error_set(MLREG_ENOMEM, "out of memory");
	if ((error = load(disk, c->path)) == 0) {
		for (size_t i = 0; i < disk->n; i++) {
			const entry *d = &disk->ents[i];
			entry *e;
			if (lookup(c, d->s.dev, d->s.ino))
				continue;
			if (!(e = lookup_add(c, d->s.dev, d->s.ino))) {
				error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
				break;
			}
			*e = *d;
		}
	}
	cli_digest_cache_free(disk);
	return error;
}

int cli_digest_cache_save(cli_digest_cache *c)
{
	entry **live = NULL;
	size_t nlive = 0, len = 0, cap;
	char *buf = NULL, hex[65], sum[UTIL_DIGEST_LEN + 1], *slash;
	int error = 0;
	if (!c)
		return 0;
	pthread_mutex_lock(&c->mu);
	if (!c->dirty)
		goto done;
	if ((error = merge_disk(c)) < 0)
		goto done;
	if (!(live = malloc((c->n + 1) * sizeof(*live)))) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < c->n; i++)
		if (c->ents[i].state == LIVE)
			live[nlive++] = &c->ents[i];
	if (nlive > MAX_ENTRIES) {
		qsort(live, nlive, sizeof(*live), cmp_used_desc);
		nlive = MAX_ENTRIES;
	}
	/* Every line fits MAX_LINE, so one allocation of the worst case (of
	 * which only what is written gets touched) and no regrowth. */
	cap = sizeof(HEADER) + nlive * MAX_LINE + 4 + 64 + 2;
	if (!(buf = malloc(cap))) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	len = (size_t)snprintf(buf, cap, "%s", HEADER);
	for (size_t i = 0; i < nlive; i++) {
		const entry *e = live[i];
		md_to_hex(e->md, hex);
		len += (size_t)snprintf(buf + len, cap - len, "%s %llu %llu %llu %lld %lld %lld\n", hex,
					(unsigned long long)e->s.dev, (unsigned long long)e->s.ino,
					(unsigned long long)e->s.size, (long long)e->s.mtime_ns,
					(long long)e->s.ctime_ns, (long long)e->used);
	}
	util_sha256_buf(buf, len, sum);
	len += (size_t)snprintf(buf + len, cap - len, "end %s\n", sum + 7);
	if ((slash = strrchr(c->path, '/')) && slash != c->path) {
		*slash = '\0';
		error = util_mkdir_p(c->path, 0700);
		*slash = '/';
	}
	if (error == 0 && (error = util_write_file_atomic(c->path, buf, len, 0600)) == 0) {
		c->dirty = false;
		if (stat(c->path, &c->loaded) < 0)
			memset(&c->loaded, 0, sizeof(c->loaded));
	}
done:
	pthread_mutex_unlock(&c->mu);
	free(live);
	free(buf);
	return error;
}

/* ---- hashing ---- */

/* Is ctime a change time we can trust on this file's filesystem? */
static bool local_fs(int fd)
{
	struct statfs sf;
	if (fstatfs(fd, &sf) < 0)
		return false;
	switch ((unsigned long)sf.f_type) {
	case EXT4_SUPER_MAGIC: /* also ext2 and ext3 */
	case XFS_SUPER_MAGIC:
	case BTRFS_SUPER_MAGIC:
	case TMPFS_MAGIC:
	case F2FS_SUPER_MAGIC:
	case OVERLAYFS_SUPER_MAGIC:
	case ZFS_SUPER_MAGIC:
	case BCACHEFS_SUPER_MAGIC:
		return true;
	default:
		return false;
	}
}

/* Will any write after `now` give the file a ctime other than sb's?  File
 * times come from the kernel's coarse clock (CLOCK_REALTIME_COARSE),
 * truncated to the filesystem's granularity, and never go below it (also
 * with multigrain timestamps).  So a ctime strictly before `now` is safe;
 * a ctime with no nanoseconds is taken to come from a filesystem with
 * whole-second times, and must then lie in an earlier second. */
static bool ctime_settled(const struct stat *sb, const struct timespec *now)
{
	if (sb->st_ctim.tv_nsec == 0)
		return sb->st_ctim.tv_sec < now->tv_sec;
	return sb->st_ctim.tv_sec < now->tv_sec ||
	       (sb->st_ctim.tv_sec == now->tv_sec && sb->st_ctim.tv_nsec < now->tv_nsec);
}

int cli_digest_file(const char *path, char digest[UTIL_DIGEST_LEN + 1], uint64_t *size, cli_file_stamp *stamp,
		    bool *cacheable, const atomic_bool *stop)
{
	struct timespec now;
	struct stat before, after;
	cli_file_stamp s1, s2;
	util_sha256 *h = NULL;
	char *buf = NULL;
	uint64_t total = 0;
	int fd, error = 0;

	clock_gettime(CLOCK_REALTIME_COARSE, &now);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mlreg_error_set(errno == ENOENT ? MLREG_ENOTFOUND : MLREG_EIO, "cannot open '%s': %s", path,
				       strerror(errno));
	if (fstat(fd, &before) < 0) {
		error = mlreg_error_set(MLREG_EIO, "cannot read '%s': %s", path, strerror(errno));
		goto done;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	h = util_sha256_new();
	buf = malloc(READ_CHUNK);
	if (!h || !buf) {
		error = mlreg_error_set(MLREG_ENOMEM, "out of memory");
		goto done;
	}
	for (;;) {
		ssize_t n = read(fd, buf, READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error = mlreg_error_set(MLREG_EIO, "cannot read '%s': %s", path, strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		if (stop && atomic_load(stop)) {
			error = mlreg_error_set(MLREG_ERROR, "stopped");
			goto done;
		}
		util_sha256_update(h, buf, (size_t)n);
		total += (uint64_t)n;
	}
	if (fstat(fd, &after) < 0) {
		error = mlreg_error_set(MLREG_EIO, "cannot read '%s': %s", path, strerror(errno));
		goto done;
	}
	util_sha256_final(h, digest);
	h = NULL;
	cli_file_stamp_from_stat(&s1, &before);
	cli_file_stamp_from_stat(&s2, &after);
	*size = total;
	*stamp = s1;
	*cacheable = stamp_eq(&s1, &s2) && s1.size == total && S_ISREG(before.st_mode) && local_fs(fd) &&
		     ctime_settled(&before, &now);
done:
	util_sha256_free(h);
	free(buf);
	close(fd);
	return error;
}

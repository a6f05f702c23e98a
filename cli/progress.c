/*
 * progress.c - the push/pull progress bar.
 *
 * Transfer threads add bytes from their libcurl callbacks; whichever thread
 * crosses a 100 ms boundary redraws the line under the mutex, so there is no
 * extra drawing thread and the bar costs nothing when it is disabled.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/progress.h"

bool cli_progress_wanted(bool quiet)
{
	return !quiet && isatty(STDERR_FILENO);
}

void cli_progress_init(cli_progress *p, const char *label, uint64_t total, bool enabled)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->mu, NULL);
	p->label = label;
	p->total = total;
	p->enabled = enabled && total > 0;
	p->start_ms = util_now_ms();
}

static void draw(cli_progress *p, int64_t now)
{
	char done_s[32], total_s[32], rate_s[32];
	uint64_t done = p->done > 0 ? (uint64_t)p->done : 0;
	double secs = (double)(now - p->start_ms) / 1000.0;
	unsigned pct = p->total ? (unsigned)(done * 100 / p->total) : 100;
	int width = 24, fill;
	char bar[25];
	if (pct > 100)
		pct = 100;
	fill = (int)(pct * (unsigned)width / 100);
	for (int i = 0; i < width; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[width] = '\0';
	cli_fmt_size(done, done_s);
	cli_fmt_size(p->total, total_s);
	cli_fmt_size(secs > 0.05 ? (uint64_t)((double)done / secs) : 0, rate_s);
	fprintf(stderr, "\r%s [%s] %3u%% %s / %s  %s/s\033[K", p->label, bar, pct, done_s, total_s,
		rate_s);
	fflush(stderr);
}

void cli_progress_add(cli_progress *p, int64_t delta)
{
	int64_t now;
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->done += delta;
	if (p->enabled) {
		now = util_now_ms();
		if (now - p->last_draw_ms >= 100) {
			p->last_draw_ms = now;
			draw(p, now);
		}
	}
	pthread_mutex_unlock(&p->mu);
}

void cli_progress_add_total(cli_progress *p, int64_t delta)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->total = (int64_t)p->total + delta > 0 ? (uint64_t)((int64_t)p->total + delta) : 0;
	pthread_mutex_unlock(&p->mu);
}

void cli_progress_release(cli_progress *p)
{
	if (p->enabled && p->last_draw_ms) {
		fprintf(stderr, "\r\033[K");
		fflush(stderr);
	}
	pthread_mutex_destroy(&p->mu);
}

/*
 * worker_accesslog.c: owns the access log: one line per request when
 * `access_log` is set, in the combined format or as JSON
 * (`access_log_format = json`); USR1 reopens the file. Each worker
 * appends whole lines with one write(2) on an O_APPEND descriptor, so
 * lines from different workers never interleave.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>

#include "../common/log.h"
#include "worker.h"
#include "worker_http_int.h"

#define ALOG_LINE_MAX	4096

void
accesslog_open(struct worker_http *wh)
{
	const char *path = wh->cfg->access_log;

	wh->alog_fd = -1;
	if (path[0] == '\0')
		return;
	wh->alog_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640);
	if (wh->alog_fd == -1)
		log_warn("%s: %s", __func__, path);
}

void
accesslog_reopen(struct worker_http *wh)
{
	int old = wh->alog_fd;

	accesslog_open(wh);
	if (wh->alog_fd == -1)
		wh->alog_fd = old;	/* keep logging somewhere */
	else if (old != -1)
		close(old);
}

/* A header's value, or "-". */
static void
hdr_value(const struct conn *c, const char *name, const char **v, int *len)
{
	unsigned i;

	*v = "-";
	*len = 1;
	for (i = 0; i < c->req.nhdrs; i++)
		if (hp_name_eq(&c->req, i, name)) {
			*v = c->req.buf + c->req.hdrs[i].val_off;
			*len = c->req.hdrs[i].val_len;
			return;
		}
}

/* JSON/quoted-string escape; always leaves room for the NUL. */
static size_t
esc(char *dst, size_t cap, const char *s, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 7 < cap; i++) {
		unsigned char ch = s[i];

		if (ch == '"' || ch == '\\') {
			dst[o++] = '\\';
			dst[o++] = ch;
		} else if (ch < 0x20 || ch >= 0x7f)
			o += snprintf(dst + o, cap - o, "\\u%04x", ch);
		else
			dst[o++] = ch;
	}
	dst[o] = '\0';
	return o;
}

void
accesslog_write(struct worker_http *wh, const struct conn *c)
{
	char		 line[ALOG_LINE_MAX], ts[64], host[300], path[1024];
	char		 ref[512], ua[512];
	const char	*v;
	int		 vl, n;
	struct timeval	 now;
	struct tm	 tm;
	long		 ms;

	if (c->req.buf == NULL)
		return;
	gettimeofday(&now, NULL);
	ms = (now.tv_sec - c->t0.tv_sec) * 1000 +
	    (now.tv_usec - c->t0.tv_usec) / 1000;
	localtime_r(&now.tv_sec, &tm);
	esc(host, sizeof(host), c->req.buf + c->req.host_off, c->req.host_len);
	esc(path, sizeof(path), c->req.buf + c->req.url_off, c->req.url_len);
	hdr_value(c, "referer", &v, &vl);
	esc(ref, sizeof(ref), v, vl);
	hdr_value(c, "user-agent", &v, &vl);
	esc(ua, sizeof(ua), v, vl);
	if (wh->cfg->access_log_format == ALF_JSON) {
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S%z", &tm);
		n = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"client\":"
		    "\"%s\",\"host\":\"%s\",\"method\":\"%s\",\"path\":\"%s\","
		    "\"version\":\"HTTP/%u.%u\",\"status\":%u,\"bytes_in\":%llu,"
		    "\"bytes_out\":%llu,\"duration_ms\":%ld,\"referer\":\"%s\","
		    "\"user_agent\":\"%s\"}\n", ts, c->peer_txt, host,
		    http_method_str(c->req.method), path, c->req.major,
		    c->req.minor, c->status, (unsigned long long)c->bytes_in,
		    (unsigned long long)c->bytes_out, ms, ref, ua);
	} else {
		strftime(ts, sizeof(ts), "%d/%b/%Y:%H:%M:%S %z", &tm);
		n = snprintf(line, sizeof(line), "%s - - [%s] \"%s %s "
		    "HTTP/%u.%u\" %u %llu \"%s\" \"%s\" %s %ld\n", c->peer_txt,
		    ts, http_method_str(c->req.method), path, c->req.major,
		    c->req.minor, c->status, (unsigned long long)c->bytes_out,
		    ref, ua, host[0] ? host : "-", ms);
	}
	if (n > 0 && (size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (n > 0 && write(wh->alog_fd, line, n) == -1 && errno != EAGAIN)
		log_warn("%s: write", __func__);
}

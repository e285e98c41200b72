/*
 * master_ctl.c: the control socket (a Unix stream socket, one JSON request
 * per line, one JSON reply per line) and the start/stop of the control
 * plane as a whole (control socket, REST, state journal). Master only.
 *
 * The socket is created before chroot and the privilege drop (mode 0660,
 * owned by the user and group the daemon drops to); each peer's uid is
 * checked with SO_PEERCRED: root, the daemon's own uid and control_allow's
 * uids get in.
 * A bad request gets an error reply naming the problem and the connection
 * goes on; a request over CTL_LINE_MAX is answered once and its bytes are
 * skipped up to the next newline. Requests on one connection run in order:
 * while a mutation waits for its journal sync the connection reads nothing.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <json-c/json.h>

#include "../common/ctlproto.h"
#include "../common/log.h"
#include "master.h"
#include "master_cmd.h"
#include "master_ctl.h"
#include "master_rest.h"
#include "master_state.h"

/*
 * Input, and why a request is peeked. A Unix stream socket charges a
 * request's bytes to its sender until the receiver reads them, and that
 * read wakes whoever sleeps on the sender's socket (unix_write_space):
 * here the client, blocked reading its reply. That wasted wake-up was
 * 12% of the main thread under perf with 16 clients. So a line that is
 * whole in the socket is only peeked (MSG_PEEK), and read for real in
 * ctl_finish() after its reply went out, when the reply's wake-up has
 * already taken the client off its socket's wait queue. buf then mirrors
 * the head of the socket's queue (peeked). Bytes that do not hold a whole
 * line in one peek (imports, slow writers) are read the usual way (buf
 * holds bytes taken from the socket) until buf is empty again.
 *
 * NB: the read event is edge-triggered, or a line left in the socket
 * would wake epoll again and again. Linux reports an edge per arrival of
 * data (epoll(7)), so bytes that come after a peek are never missed: the
 * edge sets `readable` and the next ctl_fill() reads. The peer's
 * shutdown may come in the same edge as its last line (EV_CLOSED, i.e.
 * EPOLLRDHUP, says so): from then on ctl_fill() reads whenever buf holds
 * no whole line, until it sees the end.
 */
struct ctl_conn {
	struct master		*m;
	int			 fd;
	struct event		*rev;		/* EV_READ | EV_CLOSED | EV_ET */
	struct event		*wev;		/* added while out holds bytes */
	struct evbuffer		*out;		/* what send() did not take */
	char			*buf;		/* input, see above */
	size_t			 len, cap;
	size_t			 cur;		/* the running line, with its LF */
	bool			 peeked;	/* buf[0, len) is still queued */
	bool			 readable;	/* an edge not read after yet */
	bool			 hup;		/* peer shut down its side */
	bool			 busy;		/* a command is running */
	bool			 in_dispatch;	/* inside master_cmd_run() */
	bool			 discarding;	/* skipping an oversized line */
	bool			 closed;	/* peer gone: free when idle */
};

#define CTL_BUF_MIN	4096
#define CTL_BUF_KEEP	65536		/* bigger buffers go once empty */

static struct evconnlistener *ctl_listener;
static unsigned ctl_nconns;		/* open control connections */

static void	ctl_process(struct ctl_conn *);

/* ---- binding (before the privilege drop) -------------------------------- */

static int
ctl_path_ok(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		log_warnx("%s: control_socket path too long: %s", __func__,
		    path);
		return -1;
	}
	strcpy(sun->sun_path, path);
	return 0;
}

/* A socket file left by a dead daemon is removed; a live one is an error. */
static int
ctl_stale(const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, rc;

	if (lstat(sun->sun_path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		log_warnx("%s: %s exists and is not a socket", __func__,
		    sun->sun_path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return -1;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (rc == 0) {
		log_warnx("%s: %s: another mantrid is listening there",
		    __func__, sun->sun_path);
		return -1;
	}
	return unlink(sun->sun_path);
}

/*
 * The socket, and a directory made for it, belong to the user and group
 * the daemon runs as after the drop (run_uid/run_gid: the configured
 * user and group, else the default user's), not to the root that made
 * them: the daemon's own user must get through the 0660 mode too. When
 * not started as root they are ours already.
 */
static void
ctl_mkdir_parent(const struct master *m, const char *path)
{
	char buf[CONFIG_PATH_MAX];
	char *dir;

	snprintf(buf, sizeof(buf), "%s", path);
	dir = dirname(buf);
	if (mkdir(dir, 0755) == 0 && geteuid() == 0 &&
	    chown(dir, m->run_uid, m->run_gid) == -1)
		log_warn("%s: chown %s", __func__, dir);
}

static int
ctl_own(const struct master *m, const char *path)
{
	if (chmod(path, 0660) == -1) {
		log_warn("%s: chmod %s", __func__, path);
		return -1;
	}
	if (geteuid() == 0 && chown(path, m->run_uid, m->run_gid) == -1) {
		log_warn("%s: chown %s", __func__, path);
		return -1;
	}
	return 0;
}

int
master_ctl_bind(struct master *m)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd;

	m->ctl_fd = -1;
	if (m->cfg.control_socket[0] == '\0')
		return 0;
	if (ctl_path_ok(m->cfg.control_socket, &sun) == -1)
		return -1;
	ctl_mkdir_parent(m, sun.sun_path);
	if (ctl_stale(&sun) == -1) {
		log_warn("%s: %s", __func__, sun.sun_path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("%s: socket", __func__);
		return -1;
	}
	/* NB: no window in which the socket exists with wider permissions. */
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		log_warn("%s: bind %s", __func__, sun.sun_path);
		close(fd);
		return -1;
	}
	umask(old);
	if (ctl_own(m, sun.sun_path) == -1 || listen(fd, 128) == -1) {
		log_warn("%s: %s", __func__, sun.sun_path);
		close(fd);
		unlink(sun.sun_path);
		return -1;
	}
	m->ctl_fd = fd;
	log_info("%s: control socket %s", __func__, sun.sun_path);
	return 0;
}

/* ---- connections -------------------------------------------------------- */

static void
ctl_free(struct ctl_conn *c)
{
	event_free(c->rev);
	event_free(c->wev);
	evbuffer_free(c->out);
	close(c->fd);
	free(c->buf);
	free(c);
	ctl_nconns--;
}

unsigned
master_ctl_clients(void)
{
	return ctl_nconns + master_rest_pending();
}

/* A failed send or read: the peer is gone; nothing more goes out. */
static void
ctl_gone(struct ctl_conn *c)
{
	c->closed = true;
	evbuffer_drain(c->out, evbuffer_get_length(c->out));
	event_del(c->wev);
}

/*
 * NB: a reply usually fits the socket buffer at once; sending it directly
 * saves the two epoll_ctl() calls a queued write costs. Whatever does not
 * fit is queued behind, in order.
 */
static void
ctl_write(struct ctl_conn *c, const char *p, size_t len)
{
	ssize_t n = 0;

	if (c->closed)
		return;
	if (evbuffer_get_length(c->out) == 0) {
		n = send(c->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == -1 && errno != EAGAIN && errno != EINTR) {
			ctl_gone(c);
			return;
		}
		if (n < 0)
			n = 0;
	}
	if ((size_t)n == len)
		return;
	if (evbuffer_add(c->out, p + n, len - (size_t)n) == -1) {
		/* NB: a reply cut short would garble the stream: hang up. */
		log_warnx("%s: out of memory", __func__);
		ctl_gone(c);
		return;
	}
	event_add(c->wev, NULL);
}

static void
ctl_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_conn *c = arg;

	/* NB: edge-triggered too (libevent cannot mix on one fd): write
	 * until the socket is full; its next edge comes when it drains. */
	while (evbuffer_get_length(c->out) > 0 &&
	    evbuffer_write(c->out, fd) > 0)
		;
	if (evbuffer_get_length(c->out) > 0 && errno != EAGAIN &&
	    errno != EINTR)
		ctl_gone(c);
	if (evbuffer_get_length(c->out) == 0)
		event_del(c->wev);
	if (c->closed && !c->busy)
		ctl_free(c);
}

static void
ctl_send(struct ctl_conn *c, struct json_object *reply)
{
	char *line;
	size_t len;

	if (!c->closed && (line = ctlproto_line(reply, &len)) != NULL) {
		ctl_write(c, line, len);
		free(line);
	}
	json_object_put(reply);
}

static void
ctl_error(struct ctl_conn *c, const char *err)
{
	ctl_send(c, ctlproto_reply(CMD_EINVAL, 0, NULL, err));
}

/* Drop n bytes from the front of buf. */
static void
ctl_drop(struct ctl_conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
	if (c->len == 0 && c->cap > CTL_BUF_KEEP) {
		free(c->buf);
		c->buf = NULL;
		c->cap = 0;
	}
}

/* The running line is answered: take it out of the socket (if peeked). */
static void
ctl_finish(struct ctl_conn *c)
{
	ssize_t n;

	if (c->peeked && !c->closed) {
		n = recv(c->fd, c->buf, c->cur, MSG_DONTWAIT);
		if (n != (ssize_t)c->cur) {
			log_warnx("%s: control socket lost queued bytes",
			    __func__);
			ctl_gone(c);
		}
	}
	ctl_drop(c, c->cur);
	c->cur = 0;
}

static int
ctl_grow(struct ctl_conn *c)
{
	size_t cap = c->cap ? c->cap * 2 : CTL_BUF_MIN;
	char *p;

	if (cap > CTL_LINE_MAX + 1)
		cap = CTL_LINE_MAX + 1;		/* a whole line or too large */
	if (cap <= c->cap || (p = realloc(c->buf, cap)) == NULL)
		return -1;
	c->buf = p;
	c->cap = cap;
	return 0;
}

/*
 * Read what came since the last edge. Returns 1 if buf changed, 0 if
 * nothing is there now, -1 if the peer is gone (c->closed set).
 */
static int
ctl_fill(struct ctl_conn *c)
{
	ssize_t n;

	if (!c->readable && !c->hup)
		return 0;
	if (c->len == c->cap && ctl_grow(c) == -1) {
		log_warnx("%s: out of memory", __func__);
		ctl_gone(c);
		return -1;
	}
	c->readable = false;
	if ((c->len == 0 || c->peeked) && !c->discarding) {
		n = recv(c->fd, c->buf, c->cap, MSG_PEEK | MSG_DONTWAIT);
		if (n > 0) {
			c->len = 0;
			c->peeked = memchr(c->buf, '\n', (size_t)n) != NULL;
		}
		/* NB: no whole line: take the bytes, read on as usual. */
		if (n > 0 && !c->peeked)
			n = recv(c->fd, c->buf, (size_t)n, MSG_DONTWAIT);
	} else
		n = recv(c->fd, c->buf + c->len, c->cap - c->len,
		    MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		ctl_gone(c);
		return -1;
	}
	c->len += (size_t)n;
	c->readable = c->len == c->cap;		/* maybe more queued */
	return 1;
}

static void
ctl_done(enum cmd_status st, struct json_object *result, uint64_t gen,
    const char *err, void *arg)
{
	struct ctl_conn *c = arg;
	char line[96];
	int n;

	/* NB: a mutation's reply, written as ctlproto_line(ctlproto_reply())
	 * would write it, without building and serializing a tree per set. */
	if (st == CMD_OK && result == NULL) {
		n = snprintf(line, sizeof(line),
		    "{\"ok\":true,\"generation\":%llu,\"result\":null}\n",
		    (unsigned long long)gen);
		ctl_write(c, line, (size_t)n);
	} else
		ctl_send(c, ctlproto_reply(st, gen, result, err));
	c->busy = false;
	if (c->in_dispatch)
		return;		/* ctl_process()'s loop goes on */
	ctl_finish(c);
	ctl_process(c);
}

static void
ctl_line(struct ctl_conn *c, const char *line, size_t len)
{
	const struct cmd_def *def;
	struct json_object *req;
	char err[512];

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return;
	if (ctlproto_parse_request(line, len, &req, &def, err, sizeof(err)) !=
	    CTLPROTO_OK) {
		ctl_error(c, err);
		return;
	}
	c->busy = c->in_dispatch = true;
	master_cmd_run(c->m, def, req, ctl_done, c);
	c->in_dispatch = false;
	json_object_put(req);
}

/*
 * Run the whole lines in buf, reading more while there is none, until a
 * command waits (busy) or the peer is gone. Frees c then if idle.
 */
static void
ctl_process(struct ctl_conn *c)
{
	const char *eol;

	while (!c->busy && !c->closed) {
		eol = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		if (c->discarding) {
			if (eol != NULL) {
				ctl_drop(c, (size_t)(eol - c->buf) + 1);
				c->discarding = false;
				continue;
			}
			c->len = 0;
		} else if (eol == NULL ? c->len > CTL_LINE_MAX :
		    (size_t)(eol - c->buf) > CTL_LINE_MAX) {
			/* NB: never peeked: a peek with a LF is whole. */
			assert(!c->peeked);
			ctl_error(c, "request_too_large");
			c->discarding = true;
			continue;
		} else if (eol != NULL) {
			c->cur = (size_t)(eol - c->buf) + 1;
			ctl_line(c, c->buf, c->cur - 1);
			if (!c->busy)
				ctl_finish(c);
			continue;
		}
		if (ctl_fill(c) <= 0)
			break;
	}
	if (c->closed && !c->busy)
		ctl_free(c);
}

static void
ctl_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_conn *c = arg;

	c->readable = true;
	if (what & EV_CLOSED)
		c->hup = true;
	ctl_process(c);
}

static bool
ctl_peer_allowed(const struct master *m, int fd, uid_t *uid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	size_t i;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1)
		return false;
	*uid = cr.uid;
	if (cr.uid == 0 || cr.uid == geteuid())
		return true;
	for (i = 0; i < m->cfg.ncontrol_allow; i++)
		if (m->cfg.control_allow[i] == cr.uid)
			return true;
	return false;
}

static struct ctl_conn *
ctl_conn_new(struct master *m, int fd)
{
	struct ctl_conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->m = m;
	c->fd = fd;
	c->out = evbuffer_new();
	c->rev = event_new(m->base, fd,
	    EV_READ | EV_CLOSED | EV_PERSIST | EV_ET, ctl_read_cb, c);
	c->wev = event_new(m->base, fd, EV_WRITE | EV_PERSIST | EV_ET,
	    ctl_write_cb, c);
	if (c->out != NULL && c->rev != NULL && c->wev != NULL &&
	    event_add(c->rev, NULL) == 0)
		return c;
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	if (c->out != NULL)
		evbuffer_free(c->out);
	free(c);
	return NULL;
}

static void
ctl_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	static const char denied[] =
	    "{\"ok\":false,\"status\":\"forbidden\",\"error\":\"permission_denied\"}\n";
	struct master *m = arg;
	struct ctl_conn *c;
	uid_t uid = (uid_t)-1;

	if (!ctl_peer_allowed(m, fd, &uid)) {
		log_warnx("%s: refused control connection from uid %ld",
		    __func__, (long)uid);
		(void)send(fd, denied, sizeof(denied) - 1, MSG_NOSIGNAL);
		close(fd);
		return;
	}
	if ((c = ctl_conn_new(m, fd)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		close(fd);
		return;
	}
	ctl_nconns++;
}

/* ---- the control plane as a whole --------------------------------------- */

int
master_ctl_start(struct master *m)
{
	if (master_state_start(m) == -1)
		return -1;
	if (m->ctl_fd != -1) {
		ctl_listener = evconnlistener_new(m->base, ctl_accept_cb, m,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0,
		    m->ctl_fd);
		if (ctl_listener == NULL) {
			log_warnx("%s: cannot listen on the control socket",
			    __func__);
			return -1;
		}
	}
	return master_rest_start(m);
}

void
master_ctl_stop(struct master *m)
{
	if (ctl_listener != NULL) {
		evconnlistener_free(ctl_listener);
		ctl_listener = NULL;
		m->ctl_fd = -1;
		/* NB: fails after chroot; the next start removes it. */
		(void)unlink(m->cfg.control_socket);
	}
	master_rest_stop(m);
}

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
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
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

struct ctl_conn {
	struct master		*m;
	struct bufferevent	*bev;
	bool			 busy;		/* a command is running */
	bool			 in_dispatch;	/* inside master_cmd_run() */
	bool			 discarding;	/* skipping an oversized line */
	bool			 closed;	/* peer gone: free when idle */
};

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
	bufferevent_free(c->bev);
	free(c);
	ctl_nconns--;
}

unsigned
master_ctl_clients(void)
{
	return ctl_nconns + master_rest_pending();
}

/*
 * NB: a reply usually fits the socket buffer at once; sending it directly
 * saves the two epoll_ctl() calls a bufferevent write costs, which is a
 * good part of a set's CPU. Whatever does not fit is queued as usual.
 */
static void
ctl_write(struct ctl_conn *c, const char *p, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	ssize_t n = 0;

	if (evbuffer_get_length(out) == 0) {
		n = send(bufferevent_getfd(c->bev), p, len,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0)
			n = 0;	/* EAGAIN or an error the bufferevent sees */
	}
	if ((size_t)n < len)
		bufferevent_write(c->bev, p + n, len - (size_t)n);
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
		if (!c->closed)
			ctl_write(c, line, (size_t)n);
	} else
		ctl_send(c, ctlproto_reply(st, gen, result, err));
	c->busy = false;
	if (c->in_dispatch)
		return;		/* ctl_process()'s loop goes on */
	if (c->closed)
		ctl_free(c);
	else
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

/* Skip an oversized line's bytes; true once its newline went by. */
static bool
ctl_discard(struct evbuffer *in)
{
	struct evbuffer_ptr eol;
	size_t eol_len;

	eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (eol.pos < 0) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return false;
	}
	evbuffer_drain(in, (size_t)eol.pos + eol_len);
	return true;
}

static void
ctl_process(struct ctl_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_ptr eol;
	size_t eol_len;

	while (!c->busy && !c->closed) {
		if (c->discarding) {
			if (!ctl_discard(in))
				break;
			c->discarding = false;
			continue;
		}
		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		if (eol.pos < 0 ? evbuffer_get_length(in) > CTL_LINE_MAX :
		    (size_t)eol.pos > CTL_LINE_MAX) {
			ctl_error(c, "request_too_large");
			c->discarding = true;
			continue;
		}
		if (eol.pos < 0)
			break;
		ctl_line(c, (const char *)evbuffer_pullup(in, eol.pos),
		    (size_t)eol.pos);
		evbuffer_drain(in, (size_t)eol.pos + eol_len);
	}
	if (c->closed && !c->busy)
		ctl_free(c);
}

static void
ctl_read_cb(struct bufferevent *bev, void *arg)
{
	ctl_process(arg);
}

static void
ctl_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_conn *c = arg;

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	c->closed = true;
	if (!c->busy)
		ctl_free(c);
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
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->bev = bufferevent_socket_new(m->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		free(c);
		close(fd);
		return;
	}
	c->m = m;
	ctl_nconns++;
	/* NB: bounds what a peer can make us buffer while a command runs. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, CTL_LINE_MAX + 65536);
	bufferevent_setcb(c->bev, ctl_read_cb, NULL, ctl_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
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

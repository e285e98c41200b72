/*
 * worker_sio.c: owns the data plane's socket I/O (worker_sio.h): one
 * recv per readiness into the input evbuffer, speculative writes of the
 * output at the end of the loop pass, EPOLLOUT only after EAGAIN,
 * non-blocking connect, inactivity timeouts on libevent common timeouts.
 *
 * Per request and direction this costs one recv and one send (sendmsg):
 * no FIONREAD, no epoll_ctl while the peer keeps up (bench/RESULTS.md
 * has the before and after).
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "worker_sio.h"

#define SIO_READ_MAX	16384	/* bytes per read, as a bufferevent */
#define SIO_NTIMEOUTS	16	/* distinct timeout values cached */
#define SIO_IOV_MAX	8	/* chains sent by one sendmsg */
#define SIO_COPY_MAX	2048	/* reads up to this are copied (heads) */

struct sio {
	struct event_base	*base;
	int			 fd;
	struct event		*rev;		/* EV_READ, persistent */
	struct event		*wev;		/* EV_WRITE: after EAGAIN */
	struct event		*fev;		/* deferred flush, no fd */
	struct evbuffer		*in, *out;
	struct evbuffer_cb_entry *incb, *outcb;
	sio_datacb		 readcb, writecb;
	sio_eventcb		 eventcb;
	void			*arg;
	size_t			 rhigh, wlow;
	unsigned		 rto, wto;	/* seconds, 0: none */
	short			 enabled;	/* EV_READ | EV_WRITE */
	bool			 rpending;	/* rev is added */
	bool			 wpending;	/* wev is added */
	bool			 suspended;	/* input at the high mark */
	bool			 connecting;
	bool			 bulk;		/* last read was large */
	int			 cerr;		/* connect failed at once */
};

static struct {
	struct event_base	*base;
	unsigned		 secs;
	const struct timeval	*tv;
}			 timeouts[SIO_NTIMEOUTS];
static struct timeval	 fallback_tv[SIO_NTIMEOUTS];

static void	sio_readable(evutil_socket_t, short, void *);
static void	sio_writable(evutil_socket_t, short, void *);
static void	sio_flush_cb(evutil_socket_t, short, void *);
static void	sio_inbuf_cb(struct evbuffer *,
		    const struct evbuffer_cb_info *, void *);

const struct timeval *
sio_timeout(struct event_base *base, unsigned secs)
{
	struct timeval	tv = { secs, 0 };
	unsigned	i;

	for (i = 0; i < SIO_NTIMEOUTS && timeouts[i].tv != NULL; i++)
		if (timeouts[i].base == base && timeouts[i].secs == secs)
			return timeouts[i].tv;
	if (i == SIO_NTIMEOUTS) {	/* NB: plain heap timeout, still right */
		fallback_tv[secs % SIO_NTIMEOUTS] = tv;
		return &fallback_tv[secs % SIO_NTIMEOUTS];
	}
	timeouts[i].base = base;
	timeouts[i].secs = secs;
	timeouts[i].tv = event_base_init_common_timeout(base, &tv);
	if (timeouts[i].tv == NULL) {
		fallback_tv[i] = tv;
		timeouts[i].tv = &fallback_tv[i];
	}
	return timeouts[i].tv;
}

static const struct timeval *
sio_tv(const struct sio *s, unsigned secs)
{
	return secs ? sio_timeout(s->base, secs) : NULL;
}

/* Bring the read event in line with enabled/suspended/connecting. */
static void
sio_sync_read(struct sio *s)
{
	bool want = (s->enabled & EV_READ) && !s->suspended &&
	    !s->connecting && s->fd != -1;

	if (want && !s->rpending)
		event_add(s->rev, sio_tv(s, s->rto));
	else if (!want && s->rpending)
		event_del(s->rev);
	s->rpending = want;
}

static void
sio_arm_write(struct sio *s)
{
	if (!s->wpending)
		event_add(s->wev, sio_tv(s, s->wto));
	s->wpending = true;
}

static void
sio_disarm_write(struct sio *s)
{
	if (s->wpending)
		event_del(s->wev);
	s->wpending = false;
}

static void
sio_suspend_check(struct sio *s)
{
	bool full = s->rhigh != 0 && evbuffer_get_length(s->in) >= s->rhigh;

	if (full == s->suspended)
		return;
	/*
	 * NB: the drain callback is registered only while it matters:
	 * libevent walks a buffer's callback list on every add and drain,
	 * and returns at once only when the list is empty (-2% user time).
	 * Without the callback nothing would resume the read: if it cannot
	 * be registered (ENOMEM), stay unsuspended and retry after the next
	 * read, which itself needs memory to grow the buffer.
	 */
	if (full && (s->incb = evbuffer_add_cb(s->in, sio_inbuf_cb,
	    s)) == NULL)
		return;
	if (!full) {
		evbuffer_remove_cb_entry(s->in, s->incb);
		s->incb = NULL;
	}
	s->suspended = full;
	sio_sync_read(s);
}

/* Output grew: write it at the end of this loop pass, unless EPOLLOUT is
 * already armed (the kernel buffer is full) or we are still connecting. */
static void
sio_outbuf_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct sio *s = arg;

	if (info->n_added == 0 || s->wpending || s->connecting ||
	    s->fd == -1 || !(s->enabled & EV_WRITE))
		return;
	event_active(s->fev, EV_WRITE, 1);
}

static void
sio_inbuf_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct sio *s = arg;

	if (info->n_deleted != 0 && s->suspended)
		sio_suspend_check(s);
}

static int
sio_setfd(struct sio *s, int fd)
{
	s->fd = fd;
	s->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, sio_readable, s);
	s->wev = event_new(s->base, fd, EV_WRITE | EV_PERSIST, sio_writable, s);
	return s->rev != NULL && s->wev != NULL ? 0 : -1;
}

struct sio *
sio_new(struct event_base *base, int fd)
{
	struct sio *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->base = base;
	s->fd = -1;
	s->in = evbuffer_new();
	s->out = evbuffer_new();
	s->fev = event_new(base, -1, 0, sio_flush_cb, s);
	if (s->in == NULL || s->out == NULL || s->fev == NULL ||
	    (fd != -1 && sio_setfd(s, fd) == -1)) {
		s->fd = -1;	/* NB: the caller still owns fd */
		sio_free(s);
		return NULL;
	}
	s->outcb = evbuffer_add_cb(s->out, sio_outbuf_cb, s);
	if (s->outcb == NULL) {
		s->fd = -1;
		sio_free(s);
		return NULL;
	}
	return s;
}

int
sio_connect(struct sio *s, const struct sockaddr *sa, socklen_t salen)
{
	int fd;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return -1;
	if (sio_setfd(s, fd) == -1)
		return -1;	/* sio_free closes fd */
	s->connecting = true;
	if (connect(fd, sa, salen) == 0 || errno == EINPROGRESS) {
		sio_arm_write(s);	/* wto times the connect */
		return 0;
	}
	if (errno != ECONNREFUSED)
		return -1;
	/* NB: loopback refuses at once; report it from the loop, as a
	 * connect failure always is. */
	s->cerr = errno;
	event_active(s->wev, EV_WRITE, 1);
	return 0;
}

void
sio_free(struct sio *s)
{
	if (s->incb != NULL)
		evbuffer_remove_cb_entry(s->in, s->incb);
	if (s->outcb != NULL)
		evbuffer_remove_cb_entry(s->out, s->outcb);
	if (s->rev != NULL)
		event_free(s->rev);
	if (s->wev != NULL)
		event_free(s->wev);
	if (s->fev != NULL)
		event_free(s->fev);
	if (s->in != NULL)
		evbuffer_free(s->in);
	if (s->out != NULL)
		evbuffer_free(s->out);
	if (s->fd != -1)
		close(s->fd);
	free(s);
}

void
sio_setcb(struct sio *s, sio_datacb readcb, sio_datacb writecb,
    sio_eventcb eventcb, void *arg)
{
	s->readcb = readcb;
	s->writecb = writecb;
	s->eventcb = eventcb;
	s->arg = arg;
}

void
sio_setwatermark(struct sio *s, short which, size_t low, size_t high)
{
	if (which & EV_WRITE)
		s->wlow = low;
	if (which & EV_READ) {
		s->rhigh = high;
		sio_suspend_check(s);
	}
}

/* Changing a timeout costs a timer operation; an unchanged one nothing. */
void
sio_set_timeouts(struct sio *s, unsigned rsecs, unsigned wsecs)
{
	if (rsecs != s->rto) {
		s->rto = rsecs;
		if (s->rpending && rsecs)
			event_add(s->rev, sio_tv(s, rsecs));
		else if (s->rpending)
			event_remove_timer(s->rev);
	}
	if (wsecs != s->wto) {
		s->wto = wsecs;
		if (s->wpending && wsecs)
			event_add(s->wev, sio_tv(s, wsecs));
		else if (s->wpending)
			event_remove_timer(s->wev);
	}
}

void
sio_enable(struct sio *s, short which)
{
	short was = s->enabled;

	s->enabled |= which;
	if (which & EV_READ)
		sio_sync_read(s);
	if ((which & EV_WRITE) && !(was & EV_WRITE) &&
	    evbuffer_get_length(s->out) > 0 && !s->connecting &&
	    s->fd != -1 && !s->wpending)
		event_active(s->fev, EV_WRITE, 1);
}

void
sio_disable(struct sio *s, short which)
{
	s->enabled &= ~which;
	if (which & EV_READ)
		sio_sync_read(s);
	if ((which & EV_WRITE) && !s->connecting)
		sio_disarm_write(s);
}

struct evbuffer *
sio_input(const struct sio *s)
{
	return s->in;
}

struct evbuffer *
sio_output(const struct sio *s)
{
	return s->out;
}

int
sio_fd(const struct sio *s)
{
	return s->fd;
}

/* Last act of a handler: the callback may free s. */
static void
sio_fail(struct sio *s, short what, int err)
{
	if (what & SIO_READING)
		sio_disable(s, EV_READ);
	if (what & SIO_WRITING)
		sio_disable(s, EV_WRITE);
	errno = err;
	if (s->eventcb != NULL)
		s->eventcb(s, what, s->arg);
}

/*
 * An empty input while the peer sends small messages (request and
 * response heads): recv into one worker-wide buffer and copy what came
 * into a right-sized chain. NB: reserving SIO_READ_MAX in the evbuffer
 * costs a 16-32 KiB malloc and free per read; copying a few hundred bytes
 * is cheaper. The worker is single-threaded: one buffer serves every sio.
 * Once a read was large (a body streams), read into the evbuffer itself.
 */
static ssize_t
sio_recv_copy(struct sio *s, size_t want)
{
	static char	buf[SIO_READ_MAX];
	ssize_t		r;

	if ((r = recv(s->fd, buf, want, 0)) <= 0)
		return r;
	if (evbuffer_add(s->in, buf, (size_t)r) == -1) {
		errno = ENOMEM;
		return -1;
	}
	s->bulk = r > SIO_COPY_MAX;
	return r;
}

/* One recv (readv) of at most SIO_READ_MAX (or up to the high mark). */
static ssize_t
sio_read_once(struct sio *s)
{
	struct evbuffer_iovec	 v[2];
	struct iovec		 iov[2];
	size_t			 want = SIO_READ_MAX, len, left;
	ssize_t			 r;
	int			 i, n;

	if (s->rhigh != 0) {
		len = evbuffer_get_length(s->in);
		want = s->rhigh > len ? s->rhigh - len : 0;
		if (want > SIO_READ_MAX)
			want = SIO_READ_MAX;
	}
	if (evbuffer_get_length(s->in) == 0 && !s->bulk)
		return sio_recv_copy(s, want);
	/* NB: a chain of SIO_READ_MAX with its header fits 16 KiB. */
	if (want > SIO_READ_MAX - 256)
		want = SIO_READ_MAX - 256;
	if ((n = evbuffer_reserve_space(s->in, want, v, 2)) < 1)
		return -1;
	if (n == 1 || v[0].iov_len >= want) {	/* NB: recv is cheaper */
		if (v[0].iov_len > want)
			v[0].iov_len = want;
		if ((r = recv(s->fd, v[0].iov_base, v[0].iov_len, 0)) <= 0)
			return r;
		s->bulk = r > SIO_COPY_MAX;
		v[0].iov_len = (size_t)r;
		evbuffer_commit_space(s->in, v, 1);
		return r;
	}
	for (i = 0, left = want; i < n; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len < left ? v[i].iov_len : left;
		left -= iov[i].iov_len;
	}
	if ((r = readv(s->fd, iov, n)) <= 0)
		return r;
	s->bulk = r > SIO_COPY_MAX;
	for (i = 0, left = (size_t)r; i < n; i++) {
		v[i].iov_len = iov[i].iov_len < left ? iov[i].iov_len : left;
		left -= v[i].iov_len;
	}
	evbuffer_commit_space(s->in, v, n);
	return r;
}

static void
sio_readable(evutil_socket_t fd, short ev, void *arg)
{
	struct sio	*s = arg;
	ssize_t		 r;

	if (ev == EV_TIMEOUT) {
		sio_fail(s, SIO_READING | SIO_TIMEOUT, ETIMEDOUT);
		return;
	}
	if (s->rhigh != 0 && evbuffer_get_length(s->in) >= s->rhigh) {
		sio_suspend_check(s);
		return;
	}
	r = sio_read_once(s);
	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		sio_fail(s, SIO_READING | (r == 0 ? SIO_EOF : SIO_ERROR),
		    r == 0 ? 0 : errno);
		return;
	}
	sio_suspend_check(s);
	if (s->readcb != NULL)
		s->readcb(s, s->arg);
}

static void
sio_connected(struct sio *s)
{
	int		err = s->cerr;
	socklen_t	len = sizeof(err);

	s->connecting = false;
	sio_disarm_write(s);
	if (err == 0 && getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err,
	    &len) == -1)
		err = errno;
	if (err != 0) {
		sio_fail(s, SIO_ERROR, err);
		return;
	}
	sio_sync_read(s);
	if (evbuffer_get_length(s->out) > 0 && (s->enabled & EV_WRITE))
		event_active(s->fev, EV_WRITE, 1);
	if (s->eventcb != NULL)
		s->eventcb(s, SIO_CONNECTED, s->arg);
}

/*
 * One send(2) or sendmsg(2) of the output's first SIO_IOV_MAX chains
 * (evbuffer_write's writev beyond). NB: send/sendmsg skip the VFS layers
 * (fdget_pos, rw_verify_area) that write(v) crosses on a socket.
 */
static int
sio_send(struct sio *s)
{
	struct evbuffer_iovec	v[SIO_IOV_MAX];
	struct iovec		iov[SIO_IOV_MAX];
	struct msghdr		msg;
	ssize_t			r;
	int			i, n;

	n = evbuffer_peek(s->out, -1, NULL, v, SIO_IOV_MAX);
	if (n > SIO_IOV_MAX)
		return evbuffer_write(s->out, s->fd);
	if (n == 1)
		r = send(s->fd, v[0].iov_base, v[0].iov_len, 0);
	else {
		for (i = 0; i < n; i++) {
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = v[i].iov_len;
		}
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = (size_t)n;
		r = sendmsg(s->fd, &msg, 0);
	}
	if (r > 0)
		evbuffer_drain(s->out, (size_t)r);
	return (int)r;
}

/* Write what the output holds; EPOLLOUT stays armed only while it must. */
static void
sio_write(struct sio *s)
{
	int r;

	if (s->fd == -1 || !(s->enabled & EV_WRITE))
		return;
	if (evbuffer_get_length(s->out) == 0) {
		sio_disarm_write(s);
		return;
	}
	r = sio_send(s);
	if (r == -1 && (errno == EAGAIN || errno == EINTR)) {
		sio_arm_write(s);
		return;
	}
	if (r <= 0) {
		sio_fail(s, SIO_WRITING | SIO_ERROR, r == 0 ? EPIPE : errno);
		return;
	}
	if (evbuffer_get_length(s->out) > 0)
		sio_arm_write(s);
	else
		sio_disarm_write(s);
	if (evbuffer_get_length(s->out) <= s->wlow && s->writecb != NULL)
		s->writecb(s, s->arg);
}

static void
sio_writable(evutil_socket_t fd, short ev, void *arg)
{
	struct sio *s = arg;

	if (s->connecting && ev != EV_TIMEOUT) {
		sio_connected(s);
		return;
	}
	if (ev == EV_TIMEOUT) {
		if (s->connecting) {
			s->connecting = false;
			sio_disarm_write(s);
			sio_fail(s, SIO_WRITING | SIO_TIMEOUT, ETIMEDOUT);
			return;
		}
		sio_fail(s, SIO_WRITING | SIO_TIMEOUT, ETIMEDOUT);
		return;
	}
	sio_write(s);
}

static void
sio_flush_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct sio *s = arg;

	if (!s->wpending && !s->connecting)
		sio_write(s);
}

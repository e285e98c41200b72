/*
 * worker_sio.h: a socket with an input and an output evbuffer, the data
 * plane's replacement for libevent's bufferevent (same callback model:
 * read, write low-water and event callbacks, read high-water mark, read
 * and write inactivity timeouts, non-blocking connect).
 *
 * Why not a bufferevent: per request it cost an ioctl(FIONREAD) before
 * every read and an epoll_ctl pair around every write (EPOLLOUT armed to
 * write on the next loop pass, then disarmed). An sio reads with one
 * readv into the input buffer, writes its output with one writev at the
 * end of the current loop pass (speculative write), and arms EPOLLOUT
 * only when the kernel said EAGAIN. Timeouts use libevent's common
 * timeouts (O(1) re-arm instead of a heap operation).
 *
 * NB: a callback may sio_free() its own sio; the sio never touches itself
 * after calling back.
 */
#ifndef MANTRID_WORKER_SIO_H
#define MANTRID_WORKER_SIO_H

#include <sys/socket.h>

#include <stddef.h>

struct event_base;
struct evbuffer;
struct sio;

/* eventcb flags (the same meaning as BEV_EVENT_*) */
#define SIO_READING	0x01
#define SIO_WRITING	0x02
#define SIO_EOF		0x10
#define SIO_ERROR	0x20
#define SIO_TIMEOUT	0x40
#define SIO_CONNECTED	0x80

typedef void	(*sio_datacb)(struct sio *, void *);
typedef void	(*sio_eventcb)(struct sio *, short what, void *);

struct sio	*sio_new(struct event_base *, int fd);
int		 sio_connect(struct sio *, const struct sockaddr *, socklen_t);
void		 sio_free(struct sio *);
void		 sio_setcb(struct sio *, sio_datacb readcb, sio_datacb writecb,
		    sio_eventcb eventcb, void *arg);
void		 sio_setwatermark(struct sio *, short which, size_t low,
		    size_t high);
void		 sio_set_timeouts(struct sio *, unsigned rsecs, unsigned wsecs);
void		 sio_enable(struct sio *, short which);
void		 sio_disable(struct sio *, short which);
struct evbuffer	*sio_input(const struct sio *);
struct evbuffer	*sio_output(const struct sio *);
int		 sio_fd(const struct sio *);

/* A shared (common) timeout of secs seconds for event_add on this base. */
const struct timeval *sio_timeout(struct event_base *, unsigned secs);

#endif

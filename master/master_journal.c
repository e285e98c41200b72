/*
 * master_journal.c: the journal of rule mutations and its group commit.
 *
 * Protocol (two threads in the master, nothing shared with workers):
 *   - The main thread appends records with write() under jr.mu and counts
 *     them in jr.written; it never syncs (except at rotation, see below).
 *   - The sync thread waits for jr.written > jr.synced, takes
 *     target = jr.written and the fds under jr.mu, fdatasync()s them
 *     WITHOUT the lock (appends go on meanwhile), then sets
 *     jr.synced = target and pokes the main thread through a pipe.
 *   - The main thread releases, in order, every waiter whose target is
 *     <= jr.synced. Everything appended while one fdatasync() ran shares
 *     the next one: that is the group commit.
 *   - A sync failure is sticky (jr.error): after an fdatasync() error the
 *     kernel may have dropped the dirty pages, so no later record can be
 *     called durable either ("fsyncgate"); mutations then answer an error.
 * Rotation hands the old fd to the sync thread (jr.old_fd), which syncs
 * it before it counts the records in it as synced.
 */
#include "config.h"

#include <sys/queue.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "../common/config-t.h"
#include "../common/log.h"
#include "master_journal.h"

#define COMMIT_DELAY_NS	200000L		/* 0.2 ms at most */

struct waiter {
	uint64_t		 target;
	state_done_cb		 cb;
	void			*arg;
	STAILQ_ENTRY(waiter)	 entry;
};

static struct {
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	pthread_t		 thread;
	bool			 running;
	bool			 stop;
	int			 fd;		/* current journal, -1 none */
	int			 old_fd;	/* rotated, to sync and close */
	unsigned		 number;
	size_t			 bytes;
	uint64_t		 written;	/* records appended */
	uint64_t		 synced;	/* records on disk */
	uint64_t		 want;		/* gather() waits for as many */
	uint64_t		 last_batch;	/* records the last sync covered */
	uint64_t		 nsyncs;	/* by the thread, for the log */
	uint64_t		 ninline;	/* by the main thread */
	bool			 idle;		/* sync thread waits for work */
	int			 error;		/* sticky errno of a sync */
	int			 pipe[2];	/* sync thread -> main */
	struct event		*ev;
	STAILQ_HEAD(, waiter)	 waiters;	/* main thread only */
} jr = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
	.fd = -1,
	.old_fd = -1,
	.pipe = { -1, -1 },
	.waiters = STAILQ_HEAD_INITIALIZER(jr.waiters),
};

static int
open_numbered(int dirfd, const char *base, unsigned n)
{
	char name[CONFIG_PATH_MAX + 32];
	int fd;

	snprintf(name, sizeof(name), "%s%s%u", base, JOURNAL_SUFFIX, n);
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600);
	if (fd == -1)
		log_warn("%s: %s", __func__, name);
	/* NB: fdatasync() of the file does not make its name durable. */
	else if (fsync(dirfd) == -1)
		log_warn("%s: fsync of the state directory", __func__);
	return fd;
}

int
journal_open(int dirfd, const char *base, unsigned n)
{
	int fd;

	if ((fd = open_numbered(dirfd, base, n)) == -1)
		return -1;
	pthread_mutex_lock(&jr.mu);
	if (jr.fd != -1)
		close(jr.fd);
	jr.fd = fd;
	jr.number = n;
	jr.bytes = 0;
	pthread_mutex_unlock(&jr.mu);
	return 0;
}

long
journal_rotate(int dirfd, const char *base)
{
	unsigned old;
	int fd;

	if ((fd = open_numbered(dirfd, base, jr.number + 1)) == -1)
		return -1;
	pthread_mutex_lock(&jr.mu);
	/*
	 * Rare: the last rotation's fd was not taken yet. Sync the current
	 * one here, under the lock, so no sync can count its records first.
	 */
	if (jr.old_fd != -1) {
		if (fdatasync(jr.fd) == -1 && jr.error == 0)
			jr.error = errno;
		close(jr.fd);
	} else
		jr.old_fd = jr.fd;
	jr.fd = fd;
	old = jr.number++;
	jr.bytes = 0;
	pthread_cond_signal(&jr.cv);
	pthread_mutex_unlock(&jr.mu);
	return (long)old;
}

unsigned
journal_number(void)
{
	return jr.number;
}

size_t
journal_bytes(void)
{
	return jr.bytes;
}

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
journal_append(const char *line, size_t len)
{
	int rc = 0;

	pthread_mutex_lock(&jr.mu);
	if (jr.fd == -1)
		goto out;
	if (jr.error != 0 || write_all(jr.fd, line, len) == -1) {
		if (jr.error == 0)
			log_warn("%s: journal write", __func__);
		rc = -1;
		goto out;
	}
	jr.bytes += len;
	jr.written++;
	/* NB: a wake-up is a context switch: only for a gathering thread
	 * that now has its batch; an idle one is woken by the barrier. */
	if (jr.running && jr.want != 0 && jr.written - jr.synced >= jr.want)
		pthread_cond_signal(&jr.cv);
out:
	pthread_mutex_unlock(&jr.mu);
	return rc;
}

/* ---- the sync thread ---------------------------------------------------- */

static int
sync_fds(int fd, int old_fd)
{
	int err = 0;

	if (old_fd != -1) {
		if (fdatasync(old_fd) == -1)
			err = errno;
		close(old_fd);
	}
	if (fd != -1 && fdatasync(fd) == -1)
		err = errno;
	return err;
}

/*
 * Commit delay (PostgreSQL's commit_delay, adaptive): when the last sync
 * covered several records, others are likely on their way, so wait a
 * little for as many before syncing. One sync costs ~0.2 ms of device
 * flush; sharing it is what makes concurrent sets cheap. A lone client
 * (last batch of one) never waits. Called and returns with jr.mu held.
 */
static void
gather(uint64_t last_batch)
{
	struct timespec until;

	if (last_batch <= 1 || jr.stop)
		return;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += COMMIT_DELAY_NS;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	jr.want = last_batch;
	while (jr.written - jr.synced < last_batch && !jr.stop &&
	    pthread_cond_timedwait(&jr.cv, &jr.mu, &until) == 0)
		;
	jr.want = 0;
}

static void *
sync_main(void *arg)
{
	uint64_t target;
	int fd, old_fd, err;

	pthread_mutex_lock(&jr.mu);
	for (;;) {
		while (!jr.stop && jr.written == jr.synced && jr.old_fd == -1) {
			jr.idle = true;
			pthread_cond_wait(&jr.cv, &jr.mu);
			jr.idle = false;
		}
		if (jr.stop && jr.written == jr.synced && jr.old_fd == -1)
			break;
		gather(jr.last_batch);
		target = jr.written;
		jr.last_batch = target - jr.synced;
		/* NB: fd stays open while unlocked: only journal_stop()
		 * closes it, after joining us. */
		fd = jr.fd;
		old_fd = jr.old_fd;
		jr.old_fd = -1;
		pthread_mutex_unlock(&jr.mu);
		err = sync_fds(fd, old_fd);
		pthread_mutex_lock(&jr.mu);
		if (err != 0 && jr.error == 0)
			jr.error = err;
		jr.synced = target;
		jr.nsyncs++;
		(void)write(jr.pipe[1], "s", 1);
	}
	pthread_mutex_unlock(&jr.mu);
	return NULL;
}

/* main thread: release the waiters the last sync covered */
static void
release(void)
{
	struct waiter *w;
	uint64_t synced;
	int error;

	pthread_mutex_lock(&jr.mu);
	synced = jr.synced;
	error = jr.error;
	pthread_mutex_unlock(&jr.mu);
	while ((w = STAILQ_FIRST(&jr.waiters)) != NULL &&
	    w->target <= synced) {
		STAILQ_REMOVE_HEAD(&jr.waiters, entry);
		w->cb(error != 0, w->arg);
		free(w);
	}
}

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	char buf[256];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	release();
}

int
journal_start(struct event_base *base)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&jr.cv);
	pthread_cond_init(&jr.cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pipe2(jr.pipe, O_NONBLOCK | O_CLOEXEC) == -1) {
		log_warn("%s: pipe", __func__);
		return -1;
	}
	jr.ev = event_new(base, jr.pipe[0], EV_READ | EV_PERSIST, wake_cb,
	    NULL);
	if (jr.ev == NULL || event_add(jr.ev, NULL) == -1) {
		log_warnx("%s: event_new failed", __func__);
		return -1;
	}
	if ((errno = pthread_create(&jr.thread, NULL, sync_main, NULL))) {
		log_warn("%s: pthread_create", __func__);
		return -1;
	}
	jr.running = true;
	return 0;
}

/*
 * A lone client (the caller says only one client is connected, and the
 * sync thread is idle with nothing else pending) is synced right here:
 * two thread wake-ups cost about as much as the device flush itself.
 * With several clients the thread batches them. Called and returns with
 * jr.mu held.
 */
static void
sync_inline_locked(void)
{
	uint64_t target = jr.written;
	int err = 0;

	pthread_mutex_unlock(&jr.mu);
	if (fdatasync(jr.fd) == -1)
		err = errno;
	pthread_mutex_lock(&jr.mu);
	if (err != 0 && jr.error == 0)
		jr.error = err;
	if (target > jr.synced)
		jr.synced = target;
	jr.ninline++;
}

void
journal_barrier(state_done_cb cb, void *arg, bool lone)
{
	struct waiter *w;
	uint64_t target;
	bool done;
	int error;

	pthread_mutex_lock(&jr.mu);
	target = jr.written;
	done = !jr.running || jr.fd == -1 || target <= jr.synced;
	if (!done && lone && jr.idle && jr.old_fd == -1 &&
	    target == jr.synced + 1 && STAILQ_EMPTY(&jr.waiters)) {
		sync_inline_locked();
		done = true;
	} else if (!done && jr.idle)
		pthread_cond_signal(&jr.cv);
	error = jr.error;
	pthread_mutex_unlock(&jr.mu);
	if (!done) {
		if ((w = malloc(sizeof(*w))) != NULL) {
			w->target = target;
			w->cb = cb;
			w->arg = arg;
			STAILQ_INSERT_TAIL(&jr.waiters, w, entry);
			return;
		}
		error = ENOMEM;
	} else if (!jr.running && jr.fd != -1 && fdatasync(jr.fd) == -1)
		error = errno;	/* no thread yet (start-up): sync inline */
	cb(error != 0, arg);
}

void
journal_stop(void)
{
	if (jr.running) {
		pthread_mutex_lock(&jr.mu);
		jr.stop = true;
		pthread_cond_signal(&jr.cv);
		pthread_mutex_unlock(&jr.mu);
		pthread_join(jr.thread, NULL);
		jr.running = false;
		release();
		log_info("%s: %llu records, %llu group syncs, %llu inline",
		    __func__, (unsigned long long)jr.written,
		    (unsigned long long)jr.nsyncs,
		    (unsigned long long)jr.ninline);
	}
	if (jr.ev != NULL)
		event_free(jr.ev);
	jr.ev = NULL;
	if (jr.fd != -1) {
		if (fdatasync(jr.fd) == -1)
			log_warn("%s: fdatasync", __func__);
		close(jr.fd);
	}
	jr.fd = -1;
}

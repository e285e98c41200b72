/*
 * bench_control.c: durable single-host sets per second over the control
 * socket. Each client is a thread with its own connection doing one set
 * at a time (send, wait for the reply, which the daemon sends only once
 * the journal is synced), so C clients measure sequential latency and,
 * together, group commit.
 *
 *	bench_control -s SOCKET [-n SETS] [-c CLIENTS] [-H HOSTS]
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct client {
	pthread_t	 t;
	const char	*path;
	unsigned	 id, n, hosts;
	double		*lat;		/* seconds, one per set */
	unsigned	 errors;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
dial(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		perror(path);
		exit(1);
	}
	return fd;
}

/* Read one reply line; 1 if it says ok. */
static int
read_reply(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len - 1) {
		if ((n = read(fd, buf + got, len - 1 - got)) <= 0)
			return -1;
		got += (size_t)n;
		if (buf[got - 1] == '\n')
			break;
	}
	buf[got] = '\0';
	return strncmp(buf, "{\"ok\":true", 10) == 0;
}

static void *
client_main(void *arg)
{
	struct client *c = arg;
	unsigned i, seed = c->id * 7919u + 1;
	char req[512], rep[4096];
	double t0;
	int fd = dial(c->path), len;

	for (i = 0; i < c->n; i++) {
		len = snprintf(req, sizeof(req), "{\"cmd\":\"set\",\"host\":"
		    "\"h%u.bench.test\",\"rule\":[\"proxy\",{\"backends\":"
		    "[\"127.0.0.1:%u\"]},false]}\n", rand_r(&seed) % c->hosts,
		    8000 + i % 100);
		t0 = now();
		if (write(fd, req, (size_t)len) != len) {
			perror("write");
			exit(1);
		}
		if (read_reply(fd, rep, sizeof(rep)) != 1)
			c->errors++;
		c->lat[i] = now() - t0;
	}
	close(fd);
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char *argv[])
{
	const char *path = NULL;
	unsigned n = 5000, conc = 1, hosts = 100000, i, errors = 0;
	struct client *cs;
	double t0, el, *all;
	size_t total = 0, k = 0;
	int ch;

	while ((ch = getopt(argc, argv, "s:n:c:H:")) != -1) {
		switch (ch) {
		case 's': path = optarg; break;
		case 'n': n = (unsigned)atoi(optarg); break;
		case 'c': conc = (unsigned)atoi(optarg); break;
		case 'H': hosts = (unsigned)atoi(optarg); break;
		default: path = NULL; optind = argc; break;
		}
	}
	if (path == NULL || conc == 0 || n < conc || hosts == 0) {
		fprintf(stderr, "usage: bench_control -s SOCKET [-n SETS] "
		    "[-c CLIENTS] [-H HOSTS]\n");
		return 2;
	}
	cs = calloc(conc, sizeof(*cs));
	for (i = 0; i < conc; i++) {
		cs[i].path = path;
		cs[i].id = i;
		cs[i].n = n / conc;
		cs[i].hosts = hosts;
		cs[i].lat = calloc(cs[i].n, sizeof(double));
		total += cs[i].n;
	}
	t0 = now();
	for (i = 0; i < conc; i++)
		pthread_create(&cs[i].t, NULL, client_main, &cs[i]);
	for (i = 0; i < conc; i++)
		pthread_join(cs[i].t, NULL);
	el = now() - t0;
	all = calloc(total, sizeof(double));
	for (i = 0; i < conc; i++) {
		memcpy(all + k, cs[i].lat, cs[i].n * sizeof(double));
		k += cs[i].n;
		errors += cs[i].errors;
	}
	qsort(all, total, sizeof(double), cmp_double);
	printf("clients=%u sets=%zu errors=%u seconds=%.3f sets_per_s=%.0f "
	    "p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", conc, total, errors, el,
	    total / el, all[total / 2] * 1e3, all[total * 99 / 100] * 1e3,
	    all[total - 1] * 1e3);
	return errors ? 1 : 0;
}

/*
 * channel.c: send and receive fixed-size master <-> worker messages over
 * a SOCK_SEQPACKET socketpair (one datagram per message, never split).
 */
#include "config.h"

#include <errno.h>
#include <sys/socket.h>

#include "channel.h"

int
channel_send(int fd, const struct channel_msg *msg)
{
	ssize_t n;

	do
		n = send(fd, msg, sizeof(*msg), MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	return 0;
}

int
channel_recv(int fd, struct channel_msg *msg)
{
	ssize_t n;

	do
		n = recv(fd, msg, sizeof(*msg), MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if (n == 0)
		return 0;
	if ((size_t)n != sizeof(*msg)) {
		errno = EPROTO;
		return -1;
	}
	msg->key[sizeof(msg->key) - 1] = '\0';
	return 1;
}

/*
 * addr.h: listening address parsing ("*:80", "0.0.0.0:80", "[::1]:8042",
 * "*", "8080") and printing.
 */
#ifndef MANTRID_ADDR_H
#define MANTRID_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

enum addr_err { ADDR_OK = 0, ADDR_EINVAL };

/*
 * Parse a bind address. "*" (or "*:port", or a bare port) means every
 * IPv4 and IPv6 address and yields two entries; anything else yields one.
 * A missing port takes default_port. Fills out[0..*n), at most 2.
 */
enum addr_err	addr_parse_bind(const char *s, int default_port,
		    struct sockaddr_storage out[2], socklen_t outlen[2],
		    size_t *n, char *err, size_t errlen);
/* "1.2.3.4:80" or "[::1]:80" */
void		addr_format(const struct sockaddr *, char *buf, size_t len);
int		addr_is_loopback(const struct sockaddr *);

#endif

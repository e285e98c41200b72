#!/bin/sh
#
# adduser.sh: create the `mantrid` system group and user, idempotently.
# Run once as root after `make install` (a package runs it from postinst):
#
#	sh /usr/share/mantrid/adduser.sh
#
# The user has no login shell and no home of its own; its home is the
# state directory.  Without this user, mantrid runs as Mantrid's uid/gid
# 4321.  MANTRID_UID and MANTRID_GID ask for fixed ids (say 4321, to keep
# the ownership of files written by an older install).
set -eu
PATH=/sbin:/usr/sbin:/bin:/usr/bin

NAME=mantrid
HOME_DIR=${MANTRID_HOME:-/var/lib/mantrid}
GECOS="mantrid load balancer"
NOLOGIN=/usr/sbin/nologin
[ -x "$NOLOGIN" ] || NOLOGIN=/sbin/nologin
[ -x "$NOLOGIN" ] || NOLOGIN=/bin/false

if [ "$(id -u)" -ne 0 ]; then
	echo "adduser.sh: must be run as root" >&2
	exit 1
fi

if ! getent group "$NAME" >/dev/null; then
	if command -v groupadd >/dev/null; then
		groupadd --system ${MANTRID_GID:+--gid "$MANTRID_GID"} "$NAME"
	else
		addgroup -S ${MANTRID_GID:+-g "$MANTRID_GID"} "$NAME"
	fi
fi

if ! getent passwd "$NAME" >/dev/null; then
	if command -v useradd >/dev/null; then
		useradd --system --gid "$NAME" --home-dir "$HOME_DIR" \
		    --no-create-home --shell "$NOLOGIN" --comment "$GECOS" \
		    ${MANTRID_UID:+--uid "$MANTRID_UID"} "$NAME"
	else
		adduser -S -D -H -G "$NAME" -h "$HOME_DIR" -s "$NOLOGIN" \
		    -g "$GECOS" ${MANTRID_UID:+-u "$MANTRID_UID"} "$NAME"
	fi
fi

echo "adduser.sh: $(id "$NAME")"

/*
 * master_journal.h: the append-only journal of rule mutations beside the
 * state file, with group commit (master_journal.c). Used only by
 * master_state.c. Master only; every function runs in the master's main
 * thread except where noted.
 */
#ifndef MANTRID_MASTER_JOURNAL_H
#define MANTRID_MASTER_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master_state.h"

struct event_base;

#define JOURNAL_SUFFIX	".journal."	/* state.json.journal.<n> */

/* Create journal number n in dirfd (and make its name durable). */
int	journal_open(int dirfd, const char *base, unsigned n);
/* The sync thread and its wake-up event; after the privilege drop. */
int	journal_start(struct event_base *);
/* Append one record (a '\n'-terminated line). Not durable yet. */
int	journal_append(const char *line, size_t len);
/* done(error, arg) once everything appended so far is on disk. The sync
 * starts at the end of this event-loop pass; lone: the caller knows of
 * no other client (then it may run inline, no thread hop). */
void	journal_barrier(state_done_cb, void *arg, bool lone);
/* Switch to journal n+1; the old one is still synced for its waiters.
 * Returns the old number, or -1 (nothing changed). */
long	journal_rotate(int dirfd, const char *base);
unsigned journal_number(void);
size_t	journal_bytes(void);		/* in the current file */
/* Sync what is pending, stop the thread, close. */
void	journal_stop(void);
/* Around fork(): no journal thread may hold a lock the child inherits. */
void	journal_fork_prepare(void);
void	journal_fork_done(void);

#endif

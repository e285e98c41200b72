/*
 * master_state.h: durable state (master only). master_state.c owns the
 * state file (Mantrid's {"hosts": ..., "stats": ...}) and the journal
 * beside it: every mutation is appended to the journal, and a reply is
 * sent only once an fdatasync() covering it returned (group commit: one
 * sync thread, many waiting mutations). The journal is folded into the
 * state file now and then by an atomic rewrite.
 */
#ifndef MANTRID_MASTER_STATE_H
#define MANTRID_MASTER_STATE_H

#include <stddef.h>

struct master;
struct json_object;

/* After the privilege drop: sync thread, fold timer. */
int	master_state_start(struct master *);

/* Append one mutation to the journal (not yet durable). 0 or -1. */
int	master_state_log_set(struct master *, const char *key,
	    struct json_object *triple);
int	master_state_log_delete(struct master *, const char *key);
int	master_state_log_set_all(struct master *, struct json_object *hosts);
int	master_state_log_backends(struct master *);

/* Call done(error, arg) once everything appended so far is on disk; the
 * sync starts at the end of this event-loop pass, shared by every
 * mutation the pass ran (master_journal.c). */
typedef void (*state_done_cb)(int error, void *arg);
void	master_state_barrier(struct master *, state_done_cb, void *arg);

/* Fold the journal into the state file now; 0 or -1. */
int	master_state_save(struct master *);

/* Around fork(): the master's other threads hold no lock the child
 * would inherit (spawn, master_child.c). */
void	master_state_fork_prepare(void);
void	master_state_fork_done(void);

/*
 * master_state_load.c, for master_state_load(): the state file base in
 * dirfd and the journals after it into m's rules, counters and backend
 * settings. *oldest: the first journal present (0: none), *next: the
 * number the next journal takes; *nrec counts replayed records. 0, or -1
 * if the rules do not fit the segment.
 */
int	master_state_read(struct master *, int dirfd, const char *base,
	    unsigned *oldest, unsigned *next, size_t *nrec);

#endif

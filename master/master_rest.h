/*
 * master_rest.h: the REST API on bind_management (master_rest.c).
 * Master only. master_rest_check_config() is in master.h for the
 * start-up code.
 */
#ifndef MANTRID_MASTER_REST_H
#define MANTRID_MASTER_REST_H

struct master;

int	master_rest_start(struct master *);	/* from master_ctl_start */
void	master_rest_stop(struct master *);
/* REST calls in progress (for the journal's lone-client guess). */
unsigned master_rest_pending(void);

#endif

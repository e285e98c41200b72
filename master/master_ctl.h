/*
 * master_ctl.h: what master_ctl.c tells the rest of the control plane
 * (entry points are in master.h). Master only.
 */
#ifndef MANTRID_MASTER_CTL_H
#define MANTRID_MASTER_CTL_H

/* Clients now: open control connections plus REST calls in progress. */
unsigned	master_ctl_clients(void);

#endif

/*
 * ruledb-t.h: the shared-memory rule database's public types: the
 * immutable rule record workers read, the per-host counters and the
 * per-backend state they update with atomics.
 *
 * The full lock-free protocol is described in common/ruledb_int.h at struct
 * ruledb_hdr. In short: the master is the only writer of records and
 * tables; a record, once published by a release store of its offset, is
 * never modified; workers read with acquire loads and never lock.
 */
#ifndef MANTRID_RULEDB_T_H
#define MANTRID_RULEDB_T_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "rule-t.h"

/* One backend reference inside a record. */
struct rule_rec_backend {
	uint32_t	backend;	/* index into the backend table */
	uint32_t	weight;
	uint32_t	enabled;	/* 0/1 */
	uint32_t	url_off;	/* redirect target url: offset in record, 0 = none */
	uint32_t	url_len;
};

/*
 * An immutable rule record in shared memory. Every *_off is an offset
 * from the start of the record itself (so a record is position-independent);
 * strings are NUL-terminated and *_len excludes the NUL.
 *
 * Records start 32 bytes before a cache line boundary (the allocator's
 * blocks do, see ruledb_int.h), so the record is two parts: a 32-byte
 * head that a lookup never reads (the master's and the control plane's
 * fields, and the round-robin generation), then the hot line: the
 * fields every request reads and the key's first 32 bytes. A hit reads
 * exactly one line of its record for a key up to 32 bytes.
 */
struct rule_rec {
	/* head: 32 bytes */
	uint32_t	size;		/* bytes, header + data */
	uint32_t	checksum;	/* over the record with this field 0 */
	uint64_t	generation;	/* generation that published it */
	uint32_t	kwargs_off;	/* canonical kwargs JSON */
	uint32_t	kwargs_len;
	uint16_t	str_off;	/* static type / redirect_to; 0 = none */
	uint16_t	str_len;
	uint32_t	pad;
	/* hot line: 32 bytes of fields, then the key */
	uint16_t	key_len;
	uint16_t	key_off;	/* lookup key: "host" or "https://host" */
	uint8_t		action;		/* enum rule_action */
	uint8_t		subdomains;
	uint8_t		algorithm;	/* enum rule_algo */
	uint8_t		hold_when_down;
	uint32_t	counters;	/* host counter slot (kept across replace) */
	uint16_t	code;
	uint16_t	nbackends;
	uint32_t	attempts;
	uint32_t	delay_ms;
	uint32_t	timeout_s;
	uint32_t	backends_off;	/* struct rule_rec_backend[nbackends] */
};

#define REC_STR(rec, off)	((const char *)(rec) + (off))
#define REC_BACKENDS(rec) \
	((const struct rule_rec_backend *)((const char *)(rec) + (rec)->backends_off))

enum status_class { SC_1XX, SC_2XX, SC_3XX, SC_4XX, SC_5XX, SC_COUNT };

/* Per-host counters, one cache line each so unrelated hosts never share one. */
struct host_counters {
	_Atomic uint64_t	open;
	_Atomic uint64_t	completed;
	_Atomic uint64_t	bytes_in;
	_Atomic uint64_t	bytes_out;
	_Atomic uint64_t	status[SC_COUNT];
} __attribute__((aligned(64)));

enum backend_health {
	BH_UP = 0,
	BH_DOWN,
	BH_DRAINING,
	BH_DISABLED
};

/* Per-backend state, one entry per distinct address, shared by all rules. */
struct backend_state {
	char			 addr[RULE_ADDR_MAX];	/* written once by master */
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	_Atomic uint32_t	 health;		/* enum backend_health */
	_Atomic uint32_t	 consecutive_fails;
	_Atomic uint32_t	 weight_override;	/* 0 = use rule's */
	_Atomic uint64_t	 active;
	_Atomic uint64_t	 requests;
	_Atomic uint64_t	 failures;
	_Atomic uint64_t	 rt_avg_us;
	_Atomic uint64_t	 last_change;		/* unix seconds */
	/*
	 * Incarnation: bumped by the master each time the entry is (re)used
	 * for an address, before any record naming it is published; what a
	 * process caches per index (pooled connections, hashes, the
	 * master's operator settings) is stale when it differs.
	 */
	_Atomic uint32_t	 gen;
} __attribute__((aligned(64)));

enum resolve_kind {
	RESOLVE_MATCH = 0,
	RESOLVE_UNKNOWN,	/* rules exist, none matched */
	RESOLVE_NO_HOSTS	/* no rules at all */
};

#endif

/*
 * rule_int.h: what common/rule.c and common/rule_backend.c share (not for
 * other files: use rule.h).
 */
#ifndef MANTRID_RULE_INT_H
#define MANTRID_RULE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "rule.h"

struct json_object;

#define RULE_WEIGHT_MAX	1000000u

/* Format the error into err and return e. */
enum rule_perr	rule_fail(char *err, size_t errlen, enum rule_perr e,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A non-negative integer <= max from a JSON int or a decimal string. */
int		rule_json_uint(struct json_object *, unsigned long long max,
		    unsigned long long *);
/* A bool, or "true"/"false" (mantrid-client's strings). */
int		rule_json_boolish(struct json_object *, bool *);
/* Non-empty, at most max bytes, no control characters. */
int		rule_safe_text(const char *, size_t max);

/* kwargs "backends" (targets false) or "targets" (true) into r. */
enum rule_perr	rule_backends_parse(struct rule *, struct json_object *,
		    bool targets, int flags, char *err, size_t errlen);

#endif

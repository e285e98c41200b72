/*
 * conf.h: parse the start-up configuration file. (Not config.h: that name
 * is autoconf's, included first by every .c file.)
 */
#ifndef MANTRID_CONFIG_H
#define MANTRID_CONFIG_H

#include <stdio.h>

#include "config-t.h"

enum config_err {
	CONFIG_OK = 0,
	CONFIG_ENOENT,		/* the file does not exist */
	CONFIG_EINVAL		/* err holds "file:line: option: problem" */
};

void		 config_defaults(struct config *);
/* Parse text as if read from file `name`; cfg must hold defaults. */
enum config_err	 config_parse_text(struct config *, const char *name,
		    const char *text, char *err, size_t errlen);
/* Read and parse `path`. */
enum config_err	 config_load(struct config *, const char *path,
		    char *err, size_t errlen);
/* Fill in what the file left out (default binds). */
void		 config_finish(struct config *);
/* Print every option, name = value, as the daemon will use it. */
void		 config_dump(const struct config *, FILE *);

#endif

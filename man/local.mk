# man/local.mk: the manual pages.
dist_man_MANS += man/mantrid.8 man/mantrid.conf.5

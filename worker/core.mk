# worker/core.mk: the worker process lifecycle (lead). worker/local.mk holds HTTP.
worker_libworker_a_SOURCES += worker/worker.h worker/worker.c

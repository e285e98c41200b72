# bench/local.mk: the benchmarks (never run by make check). Each tool's
# own fragment builds it; the results of every benchmark, with the exact
# command that produced them, are in bench/RESULTS.md.
EXTRA_DIST += bench/RESULTS.md

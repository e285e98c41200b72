# bench/local.mk: the benchmarks (never run by make check). Each tool's
# own fragment builds it; the results of every benchmark, with the exact
# command that produced them, are in bench/RESULTS.md.
EXTRA_DIST += bench/RESULTS.md
# The rule lookup's cost per request inside a running worker (issue 3).
EXTRA_DIST += bench/lookup_insitu.sh bench/bench_lib.sh

.PHONY: run test bench

# Set up everything and run Equestria on http://127.0.0.1:8000 until Ctrl-C.
run:
	bin/run

# Set up everything and run the whole test suite.
test:
	bin/test

# Benchmarks (not part of the tests): runs the fourteen benchmarks (about an hour on 2 cores) and rewrites docs/performance.md.
bench:
	bin/ensure-system-packages
	bin/setup
	.venv/bin/python -m tests.benchmarks

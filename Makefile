.PHONY: run test bench

# Set up everything and run Equestria on http://127.0.0.1:8000 until Ctrl-C.
run:
	bin/run

# Set up everything and run the whole test suite.
test:
	bin/test

# Benchmarks (not part of the tests): prints figures and updates docs/performance.md.
bench:
	bin/setup
	.venv/bin/python -m tests.benchmarks.aligner_speed
	.venv/bin/python -m tests.benchmarks.upload_memory
	.venv/bin/python -m tests.benchmarks.web_load
	.venv/bin/python -m tests.benchmarks.pipeline_overhead

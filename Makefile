.PHONY: run test

# Set up everything and run Equestria on http://127.0.0.1:8000 until Ctrl-C.
run:
	bin/run

# Set up everything and run the whole test suite.
test:
	bin/test

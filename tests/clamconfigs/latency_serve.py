"""Serve a test CLAM config whose every answer is delayed: a service across a network, on loopback.

    python -m tests.clamconfigs.latency_serve --settings tests.clamconfigs.fast_fa --port N --latency 0.03

The delay is a sleep before the request is handled, so it costs no CPU:
what a client sees from a CLAM server on another machine (network round
trips and a busy remote host), which the throughput benchmark needs to show
how workers scale when the CPU of this machine is not what limits them.
"""

import argparse
import time

from clamservices.serve import HOST, make_app, serve


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.03, help="seconds added to every answer")
    args = parser.parse_args(argv)
    app = make_app(settings_module=args.settings)

    def delayed(environ, start_response):
        time.sleep(args.latency)
        return app(environ, start_response)

    print(f"[latency_serve] {args.settings} on http://{HOST}:{args.port}/ (+{args.latency * 1000:.0f} ms)", flush=True)
    serve(delayed, args.port, threads=32)


if __name__ == "__main__":
    main()

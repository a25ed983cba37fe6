"""Serve one of CLAM's own demo services (the `clam` package's config/ folder) on 127.0.0.1.

    python -m tests.clamconfigs.demo_serve textstats --port N --root DIR

A foreign service as an administrator would meet it: the demo's settings module as CLAM ships it,
served by CLAM's own WSGI app, without the fixes Equestria applies to its bundled services
(clamservices.clampatch). Only where it keeps its projects changes (the demos all write to fixed
folders under /tmp, shared by every test run on the machine), and it binds 127.0.0.1 where CLAM's
development server would bind every interface.
"""

import argparse
import importlib
import os
import sys

from clamservices.serve import HOST, serve

DEMOS = ["textstats", "test", "test2", "constrainttest", "actiontest", "multiplier"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo", choices=DEMOS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", required=True, help="folder for the service's projects")
    args = parser.parse_args(argv)
    # CLAM's dispatcher (a child process) runs jobs in this virtual environment.
    if sys.prefix != sys.base_prefix:
        os.environ["VIRTUAL_ENV"] = sys.prefix
    import clam
    import clam.clamservice

    clam_dir = clam.__path__[0]
    # Some demos require an external configuration file (constrainttest); CLAM's own test one will do.
    os.environ.setdefault("CONFIGFILE", os.path.join(clam_dir, "tests", "config.yml"))
    # test2 finds its wrapper script next to the program that started it (sys.path[0]): CLAM's folder.
    sys.path.insert(0, clam_dir)
    try:
        settings = importlib.import_module(f"clam.config.{args.demo}")
    finally:
        sys.path.remove(clam_dir)
    settings.ROOT = os.path.join(args.root, "")
    app = clam.clamservice.run_wsgi(settings)
    print(f"[demo_serve] {args.demo} on http://{HOST}:{args.port}/", flush=True)
    serve(app, args.port, threads=4)


if __name__ == "__main__":
    main()

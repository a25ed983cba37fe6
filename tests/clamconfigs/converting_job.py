"""Job of tests/clamconfigs/converting.py: copies each input to the outputs and lists the names it received."""

import os
import shutil
import sys

import clam.common.status


def main(statusfile, inputdir, outputdir):
    names = sorted(n for n in os.listdir(inputdir) if not n.startswith("."))
    for name in names:
        shutil.copyfile(os.path.join(inputdir, name), os.path.join(outputdir, name))
    with open(os.path.join(outputdir, "received.list"), "w", encoding="utf-8") as out:
        out.write("".join(f"{name}\n" for name in names))
    clam.common.status.write(statusfile, "done", 100)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[2:5]))

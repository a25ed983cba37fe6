"""Job of tests/clamconfigs/slow.py."""

import os
import sys
import time

import clam.common.data
import clam.common.status


def main(datafile, statusfile, outputdir):
    data = clam.common.data.getclamdata(datafile)
    seconds = float(data.get("seconds", 2.0) or 0)
    steps = 10
    for step in range(steps):
        clam.common.status.write(statusfile, f"working {step + 1}/{steps}", int(100 * step / steps))
        time.sleep(seconds / steps)
    if data.get("fail"):
        print("the test job was told to fail", file=sys.stderr)
        return 3
    texts = [open(str(f), encoding="utf-8").read() for f in data.inputfiles("text")]
    with open(f"{outputdir}/result.txt", "w", encoding="utf-8") as out:
        out.write("".join(texts).upper())
    for number in range(int(data.get("outputs", 0) or 0)):
        with open(f"{outputdir}/extra{number}.txt", "w") as out:
            out.write("x" * 100_000)
    if data.get("nested"):
        os.makedirs(f"{outputdir}/sub", exist_ok=True)
        with open(f"{outputdir}/sub/nested.txt", "w", encoding="utf-8") as out:
            out.write("in a subfolder\n")
    clam.common.status.write(statusfile, "done", 100)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))

"""Job of tests/clamconfigs/fast_fa.py: wait, then one trivial TextGrid per recording (stdlib only)."""

import fcntl
import os
import sys
import time

TEXTGRID = """File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 1
tiers? <exists>
size = 1
item []:
    item [1]:
        class = "IntervalTier"
        name = "words"
        xmin = 0
        xmax = 1
        intervals: size = 1
        intervals [1]:
            xmin = 0
            xmax = 1
            text = "{stem}"
"""


def main(inputdir, statusfile, outputdir):
    serial = os.environ.get("FAST_FA_SERIAL")
    if serial:
        # One job at a time, like a service with one CPU's worth of aligner: the others queue here.
        lock = open(serial, "a")
        fcntl.flock(lock, fcntl.LOCK_EX)
    started = time.time()
    time.sleep(float(os.environ.get("FAST_FA_SECONDS", "0.5")))
    if os.environ.get("FAST_FA_EXIT"):  # a job that fails without a word and without outputs
        return int(os.environ["FAST_FA_EXIT"])
    for name in sorted(os.listdir(inputdir)):
        if name.endswith(".wav"):
            stem = name[: -len(".wav")]
            with open(os.path.join(outputdir, stem + ".TextGrid"), "w", encoding="utf-8") as out:
                out.write(TEXTGRID.format(stem=stem))
    open(os.path.join(outputdir, "oov.txt"), "w").close()
    with open(statusfile, "a", encoding="utf-8") as status:  # CLAM's status line format
        status.write(f"100%\t{int(time.time())}\tdone\n")
    log = os.environ.get("FAST_FA_LOG")
    if log:
        with open(log, "a") as out:
            out.write(f"{started} {time.time()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))

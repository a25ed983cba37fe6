"""All fourteen benchmarks (five of issue 8, the messy corpus of issue 12, worker recovery of issue 14, long recordings
and alignment accuracy of issue 16, confidence of issue 17, languages by phone mapping of issue 18, the API and its client
of issue 20, opening an hour-long result in the editor of issue 21, the
streamed results zip), one after another (`make bench`);
not part of the test suite.

    .venv/bin/python -m tests.benchmarks

Each prints its table and rewrites its own section of docs/performance.md;
this then stamps the machine they ran on at the top of that file and prints
the whole report. About an hour on 2 cores (the streamed zip's alone builds 50 hour-long results twice).
"""

import os
import platform
import re
import subprocess
import sys
import time

from tests.benchmarks.aligner_speed import REPORT, ROOT

BENCHMARKS = ["aligner_speed", "upload_memory", "web_load", "pipeline_overhead", "throughput", "messy_corpus",
              "worker_recovery", "long_recordings", "alignment_accuracy", "confidence", "languages", "api_client", "editor_open",
              "results_zip"]


def machine():
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (f"{platform.machine()}, {os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} "
            f"{platform.release()}, {platform.python_implementation()} {platform.python_version()}")


def main():
    failed = []
    for name in BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        if subprocess.run([sys.executable, "-m", f"tests.benchmarks.{name}"], cwd=ROOT).returncode:
            failed.append(name)
    stamp = f"Last full run: {time.strftime('%Y-%m-%d %H:%M')} (`make bench`) on {machine()}."
    text = REPORT.read_text()
    if re.search(r"^Last full run: .*$", text, flags=re.M):
        text = re.sub(r"^Last full run: .*$", stamp, text, count=1, flags=re.M)
    else:
        text = text.replace("\n\n", f"\n\n{stamp}\n\n", 1)
    REPORT.write_text(text)
    print("\n" + text)
    if failed:
        print("benchmarks that reported errors:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""A throw-away PostgreSQL cluster for the test run, on 127.0.0.1 only.

    python -m tests.pgcluster -- <command ...>

initdb's a cluster in a temporary folder, starts it on a free loopback port,
runs the command with DATABASE_URL pointing at it, then stops the cluster
and removes the folder. PostgreSQL refuses to run as root, so as root the
server runs as the `postgres` user that Debian's package creates.
"""

import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile

from tests.helpers import free_port


def _bin_dir():
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        sys.exit("PostgreSQL server binaries not found; bin/ensure-system-packages installs them (Debian: postgresql)")
    return os.path.dirname(candidates[-1])


def _as_server_user(argv):
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def main(argv):
    command = argv[argv.index("--") + 1 :] if "--" in argv else argv
    bindir = _bin_dir()
    base = tempfile.mkdtemp(prefix="equestria-pg-")
    data, sockets = os.path.join(base, "data"), os.path.join(base, "sockets")
    os.makedirs(sockets)
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (base, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
    port = free_port()
    log = os.path.join(base, "server.log")
    try:
        subprocess.run(
            _as_server_user([f"{bindir}/initdb", "-D", data, "-U", "equestria", "--auth=trust", "-E", "UTF8",
                             "--no-sync", "--locale=C"]),
            check=True, stdout=subprocess.DEVNULL,
        )
        options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        subprocess.run(_as_server_user([f"{bindir}/pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "start"]),
                       check=True, stdout=subprocess.DEVNULL)
        # The database the URL names, for commands that use it directly (benchmarks); pytest makes its own.
        subprocess.run([f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "equestria", "equestria"],
                       check=True)
        env = {**os.environ, "DATABASE_URL": f"postgres://equestria@127.0.0.1:{port}/equestria"}
        print(f"[pgcluster] PostgreSQL on 127.0.0.1:{port}", flush=True)
        return subprocess.run(command, env=env).returncode
    finally:
        subprocess.run(_as_server_user([f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A stand-in for torchrun, enough for the launcher tests: starts --nproc-per-node copies of
a script with this interpreter, each with the rank variables torchrun gives its workers
(RANK, LOCAL_RANK, WORLD_SIZE, TORCHELASTIC_RUN_ID, ...), waits for all, and exits with the
first non-zero status of a rank (0 when all succeeded).

    fake_torchrun.py --nproc-per-node N script.py [args...]"""
import os
import subprocess
import sys


def main(argv):
    if len(argv) < 3 or argv[0] != "--nproc-per-node":
        sys.stderr.write("usage: fake_torchrun.py --nproc-per-node N script.py [args...]\n")
        return 2
    n, command = int(argv[1]), argv[2:]
    procs = []
    for rank in range(n):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(n),
                   LOCAL_WORLD_SIZE=str(n), GROUP_RANK="0", MASTER_ADDR="127.0.0.1",
                   MASTER_PORT="29500", TORCHELASTIC_RUN_ID="fake-elastic-id")
        # a rank's status comes from RANK_STATUS_<rank> when set
        args = command + [env.get("RANK_STATUS_%d" % rank, "0")]
        procs.append(subprocess.Popen([sys.executable] + args, env=env))
    statuses = [p.wait() for p in procs]
    return next((s for s in statuses if s != 0), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

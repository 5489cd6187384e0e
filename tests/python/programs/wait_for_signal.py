"""Waits for a signal. With "handle", SIGTERM, SIGINT and SIGUSR1 are caught: the program
exits with 40 + the signal's number. Without it they keep their default action. Writes
"ready" to the file named by its last argument once the handlers are in place."""
import signal
import sys
import time

handle = "handle" in sys.argv[1:-1]
if handle:
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        signal.signal(s, lambda num, frame: sys.exit(40 + num))
with open(sys.argv[-1], "w") as f:
    f.write("ready")
deadline = time.time() + 60
while time.time() < deadline:
    time.sleep(0.05)
sys.exit(99)  # no signal came

#!/usr/bin/python3
"""The lab's stand-in for a systemd .socket unit.

Why this exists: in production systemd owns /run/corenas/helper.sock and starts corenas-helper
when a client connects; the helper exits when idle and systemd starts it again on the next
connection. The lab has no systemd as PID 1, and `systemd-socket-activate` execs its program
once and stops listening after it exits, so the idle-exit/restart cycle could not be exercised.
This script keeps the listening socket, and whenever a connection is pending and no helper runs,
starts the helper with the socket as fd 3 and the usual LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES.
See docs/decisions/0004-socket-activation-in-the-lab.md.

Usage: activate.py --socket PATH [--mode 660] [--owner UID:GID] [--pidfile F] -- PROGRAM ARGS...
Single-threaded, stdlib only. Logs to stderr.
"""

import argparse
import os
import select
import signal
import socket
import stat
import sys
import time

START_LIMIT = (5, 10.0)  # at most 5 starts in 10 s, like systemd's default StartLimitBurst
KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL on shutdown


def log(msg):
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)) + ".%03d" % (now % 1 * 1000)
    print(f"{stamp} activate[{os.getpid()}]: {msg}", file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--socket", required=True, help="unix socket path to create and listen on")
    p.add_argument("--mode", default="660", help="socket file mode, octal (default 660)")
    p.add_argument("--owner", help="UID:GID to chown the socket file to")
    p.add_argument("--pidfile", help="write this process's pid here")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- PROGRAM ARGS...")
    a = p.parse_args()
    if a.command[:1] == ["--"]:
        a.command = a.command[1:]
    if not a.command or not os.path.isabs(a.command[0]):
        p.error("give the program to start after '--', as an absolute path")
    return a


def make_listener(path, mode, owner):
    # Remove a stale socket from an earlier run, but never some other kind of file.
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            sys.exit(f"activate: {path} exists and is not a socket; refusing to remove it")
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # nobody can connect before mode and owner are set
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    if owner:
        uid, gid = (int(x) for x in owner.split(":"))
        os.chown(path, uid, gid)
    os.chmod(path, int(mode, 8))
    sock.listen(128)
    return sock


def spawn(listener, wake_fds, argv):
    pid = os.fork()
    if pid:
        return pid
    try:  # child: become the activated service
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(s, signal.SIG_DFL)  # Python ignores SIGPIPE/SIGXFSZ; exec keeps "ignored"
        signal.set_wakeup_fd(-1)
        for fd in wake_fds:
            os.close(fd)
        if listener.fileno() != 3:
            os.dup2(listener.fileno(), 3)
        os.set_inheritable(3, True)  # no CLOEXEC on fd 3, even if it already was fd 3
        os.environ["LISTEN_FDS"] = "1"
        os.environ["LISTEN_PID"] = str(os.getpid())
        os.environ["LISTEN_FDNAMES"] = "helper"
        os.execv(argv[0], argv)
    except BaseException as e:  # never return into the parent's loop from the child
        print(f"activate: cannot exec {argv[0]}: {e}", file=sys.stderr, flush=True)
    os._exit(127)


def describe(status):
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


def main():
    a = parse_args()
    stop = []

    def on_stop(signum, _frame):
        stop.append(signum)

    # Signals only set a flag; the wakeup pipe makes select() return so the loop sees it.
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so SIGCHLD writes to the pipe

    listener = make_listener(a.socket, a.mode, a.owner)
    if a.pidfile:
        with open(a.pidfile + ".tmp", "w") as f:
            f.write(f"{os.getpid()}\n")
        os.rename(a.pidfile + ".tmp", a.pidfile)
    log(f"listening on {a.socket} (mode {a.mode}, owner {a.owner or 'unchanged'}) for {a.command[0]}")

    child, starts, hold_until = None, [], 0.0
    while not stop:
        if child is not None:
            pid, status = os.waitpid(child, os.WNOHANG)
            if pid:
                log(f"{a.command[0]} pid {child} {describe(status)}")
                child = None
        # While a child runs it owns accept(); we watch only signals (also while held back).
        held = hold_until - time.monotonic()
        watch = [wake_r] if child is not None or held > 0 else [wake_r, listener]
        try:
            ready, _, _ = select.select(watch, [], [], held if held > 0 else None)
        except InterruptedError:
            continue
        if wake_r in ready:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
        if listener in ready and child is None and not stop:
            now = time.monotonic()
            starts = [t for t in starts if now - t < START_LIMIT[1]]
            if len(starts) >= START_LIMIT[0]:
                # A program that exits without accepting leaves the listener readable forever;
                # do not spin. systemd would put the socket in a failed state instead.
                log(f"start limit hit ({START_LIMIT[0]} starts in {START_LIMIT[1]:.0f} s); holding back")
                hold_until = starts[0] + START_LIMIT[1]
                continue
            starts.append(now)
            child = spawn(listener, (wake_r, wake_w), a.command)
            log(f"connection pending: started {a.command[0]} pid {child}")

    log(f"signal {stop[0]}: shutting down")
    if child is not None:
        os.kill(child, signal.SIGTERM)
        deadline = time.monotonic() + KILL_GRACE
        while True:
            pid, status = os.waitpid(child, os.WNOHANG)
            if pid:
                log(f"{a.command[0]} pid {child} {describe(status)}")
                break
            if time.monotonic() > deadline:
                log(f"{a.command[0]} pid {child} ignored SIGTERM for {KILL_GRACE:.0f} s: SIGKILL")
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
                break
            time.sleep(0.1)
    listener.close()
    for path in (a.socket, a.pidfile):
        if path:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

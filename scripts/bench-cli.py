#!/usr/bin/env python3
"""Measures `arbor run` beside two real peer supervisors, supervisord and s6, from outside.

Usage:
  scripts/bench-cli.py run SUPERVISOR     # SUPERVISOR: arbor, supervisord, s6 or s6-ready
  scripts/bench-cli.py table FILE...      # a markdown table from the `run` outputs in FILE...
  (scripts/bench-cli.sh installs the peers, builds arbor and does both for all four.)

Knobs (environment): N=200 programs, REPS=100 restarts, IDLE_S=60 idle seconds, BUDGET_S=180
seconds for the restart phase (fewer reps and a note past it), ARBOR_BIN (default
target/release/arbor beside this script, or $CARGO_TARGET_DIR/release/arbor), ALARM_S (the
whole run's bound; computed from the others by default), FLOOR_REPS=20.

`run` prints `RESULT name value unit` lines on stdout (after a `# supervisor NAME` line, and
`# note: ...` lines for anything odd) and its diagnostics on stderr. It exits 1 when a phase
failed; what it measured before that is printed all the same.

The program. Every supervisor runs the same tiny shell script (dash), exec'd directly with the
program's id as its one argument; it writes "$$ <CLOCK_REALTIME ns>" (from `date +%s%N`) to
stamps/<id>, then `exec sleep 100000`, so the supervised pid is the stamp's pid. In the s6-ready
variant it also writes a newline to fd 3 after its stamp (s6's readiness notification). Times
are taken from the stamps (the driver's time.time_ns() is the same clock), so the driver's 1 ms
polling does not round them.

The fair configuration of each supervisor:
- supervisord (Debian's `supervisor`): `supervisord -n -c FILE` with `[supervisord]`
  nodaemon=true, its logfile and pidfile in the temp dir, minfds=max(1024, 8N+64),
  minprocs=max(200, 2N+64), no RPC socket; one `[program:p]` with numprocs=N,
  process_name=p%(process_num)d, command=/abs/prog.sh p%(process_num)d, autostart=true,
  autorestart=true, startsecs=0, startretries=1000000, stopsignal=TERM, stopwaitsecs=10,
  stdout_logfile=NONE, stderr_logfile=NONE. Stopped with SIGTERM to supervisord. With 0
  programs: the `[supervisord]` section alone.
- s6 (Debian's `s6`): `s6-svscan SCANDIR` (`-c` raised only past 900 services), one service
  directory per program holding only an executable `run` whose whole text is
  `#!/abs/prog.sh pN`: the kernel execs the script with the id, no shell in between (S6_RUN=sh
  makes it `#!/bin/sh` + `exec /abs/prog.sh pN` instead). Stopped with `s6-svscanctl -t
  SCANDIR`. s6-ready: the same plus a `notification-fd` file holding 3 in each service
  directory (s6-supervise respawns at once only a service that was ready for more than 1 s;
  without readiness it waits for 1 s after the previous spawn). With 0 programs: an empty
  SCANDIR. Supervisor processes: s6-svscan and the N s6-supervise.
- arbor: `arbor run --plain arbor.toml`, the file holding N tables
  `[program.pK]` / `command = ["/abs/prog.sh", "pK"]` and nothing else (all defaults), its
  stdout and stderr to a file in the temp dir. Stopped with SIGTERM to arbor. With 0 programs:
  a file holding `# empty`. ARBOR_PROGRAM_TOML adds lines to every program table (default
  none), ARBOR_TOP_TOML lines at the top of the file.
Each supervisor is started in its own session, its stdout and stderr to a file in the temp dir.

The measures (all supervisors alike):
- start_wall_ms: from just before the supervisor is spawned to the latest stamp of the N first
  instances. start_floor_ms: the driver spawning the script itself and waiting for its stamp,
  median of FLOOR_REPS: the program's own share of any start or restart.
- rss_kb, pss_kb, supervisor_procs: 2 s after all started, VmRSS (/proc/PID/status) and Pss
  (/proc/PID/smaps_rollup) summed over the supervisor's own processes: its root and all the
  root's descendants less the N programs and anything below them. rss_n0_kb, pss_n0_kb,
  supervisor_procs_n0: the same with 0 programs, 2 s after the spawn.
- idle_cpu_ms: utime+stime (/proc/PID/stat, clock ticks) of those processes over IDLE_S s with
  nothing happening; idle_sched_ms: the sum of the first field of /proc/PID/task/*/schedstat
  (ns of CPU), finer.
- restart_p50_ms, restart_p99_ms, restart_max_ms over REPS: a random program whose current
  instance has been up for at least 2 s is SIGKILLed (pidfd_send_signal), from just before the
  kill to its new instance's stamp (a new pid). Nearest rank: sorted[floor(p*(n-1))]. A restart
  not seen within 10 s counts in restart_timeouts and the program is left out afterwards.
- stop_wall_ms: from just before the stop request to the exit of the last program (a pidfd per
  program, polled); stop_exit_ms: to the exit of the supervisor's root process.

Robustness: the driver is a child subreaper (so orphans come back to it and are reaped), every
wait is bounded, the whole run is bounded by SIGALRM, and at the end everything still below the
driver is SIGKILLed by pid and the temp dir removed.
"""

import ctypes
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SUPERVISORS = ("arbor", "supervisord", "s6", "s6-ready")
COLUMN_TITLES = {
    "arbor": "arbor",
    "supervisord": "supervisord",
    "s6": "s6",
    "s6-ready": "s6 + readiness",
}
# The table's rows, in order: (metric, unit).
METRICS = (
    ("programs", ""),
    ("start_wall_ms", "ms"),
    ("start_floor_ms", "ms"),
    ("restart_p50_ms", "ms"),
    ("restart_p99_ms", "ms"),
    ("restart_max_ms", "ms"),
    ("restart_reps", ""),
    ("restart_timeouts", ""),
    ("rss_kb", "kB"),
    ("pss_kb", "kB"),
    ("supervisor_procs", ""),
    ("rss_n0_kb", "kB"),
    ("pss_n0_kb", "kB"),
    ("supervisor_procs_n0", ""),
    ("idle_cpu_ms", "ms"),
    ("idle_sched_ms", "ms"),
    ("stop_wall_ms", "ms"),
    ("stop_exit_ms", "ms"),
)

PR_SET_CHILD_SUBREAPER = 36
UPTIME_BEFORE_KILL_NS = 2_000_000_000
RESTART_TIMEOUT_S = 10.0
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
POLL_S = 0.001
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Alarm(Exception):
    """The whole run's time bound passed."""


class Failed(Exception):
    """A phase could not be measured; the message says why."""


def log(*parts):
    print("bench-cli:", *parts, file=sys.stderr, flush=True)


def env_int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def ms(ns):
    return ns / 1e6


def percentile(sorted_values, p):
    return sorted_values[int(p * (len(sorted_values) - 1))]


# ---- /proc ------------------------------------------------------------------------------------


def proc_table():
    """pid -> (ppid, comm) for every process."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                text = f.read()
        except OSError:
            continue
        close = text.rfind(")")
        comm = text[text.find("(") + 1 : close]
        fields = text[close + 2 :].split()
        table[int(name)] = (int(fields[1]), comm)
    return table


def descendants(root, table):
    """root and everything below it, breadth first."""
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, queue = [], [root]
    while queue:
        pid = queue.pop(0)
        if pid in table or pid == root:
            out.append(pid)
        queue.extend(children.get(pid, ()))
    return out


def is_below(pid, root):
    """Whether pid is a descendant of root (walking up the parents)."""
    for _ in range(64):
        try:
            with open(f"/proc/{pid}/stat") as f:
                text = f.read()
        except OSError:
            return False
        pid = int(text[text.rfind(")") + 2 :].split()[1])
        if pid == root:
            return True
        if pid <= 1:
            return False
    return False


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def pss_kb(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    fields = text[text.rfind(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def sched_ns(pid):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


# ---- the run ----------------------------------------------------------------------------------


class Run:
    def __init__(self, kind, n, reps, idle_s, budget_s, arbor_bin):
        self.kind = kind
        self.n = n
        self.reps = reps
        self.idle_s = idle_s
        self.budget_s = budget_s
        self.arbor_bin = arbor_bin
        self.tmp = tempfile.mkdtemp(prefix=f"arbor-bench-cli-{kind}-")
        self.stamps = os.path.join(self.tmp, "stamps")
        os.mkdir(self.stamps)
        self.prog = os.path.join(self.tmp, "prog.sh")
        ready = "echo >&3\n" if kind == "s6-ready" else ""
        with open(self.prog, "w") as f:
            f.write(
                "#!/bin/sh\n"
                f"printf '%s %s\\n' \"$$\" \"$(date +%s%N)\" > {self.stamps}/\"$1\"\n"
                f"{ready}"
                "exec sleep 100000\n"
            )
        os.chmod(self.prog, 0o755)
        self.sup = None  # the supervisor's Popen
        self.helpers = []  # other Popens (s6-svscanctl)
        self.failed = False

    # ---- output

    def result(self, name, value, unit):
        if isinstance(value, float):
            value = f"{value:.3f}"
        print(f"RESULT {name} {value} {unit or 'count'}", flush=True)

    def note(self, text):
        log("note:", text)
        print(f"# note: {text}", flush=True)

    # ---- stamps

    def read_stamp(self, ident):
        """(pid, ns) of the program's current stamp, or None if absent or half written."""
        try:
            with open(os.path.join(self.stamps, ident), "rb") as f:
                data = f.read(64)
        except FileNotFoundError:
            return None
        if not data.endswith(b"\n"):
            return None
        parts = data.split()
        if len(parts) != 2:
            return None
        return int(parts[0]), int(parts[1])

    # ---- configurations

    def configure(self, n, where):
        """Writes the supervisor's configuration for n programs under `where`; returns the
        argv to spawn and the function that requests the stop."""
        os.makedirs(where, exist_ok=True)
        ids = [f"p{k}" for k in range(n)]
        if self.kind == "supervisord":
            conf = os.path.join(where, "supervisord.conf")
            lines = [
                "[supervisord]",
                "nodaemon=true",
                f"logfile={where}/supervisord.log",
                f"pidfile={where}/supervisord.pid",
                f"childlogdir={where}",
                f"minfds={max(1024, 8 * n + 64)}",
                f"minprocs={max(200, 2 * n + 64)}",
                "",
            ]
            if n:
                lines += [
                    "[program:p]",
                    f"command={self.prog} p%(process_num)d",
                    "process_name=p%(process_num)d",
                    f"numprocs={n}",
                    "numprocs_start=0",
                    "autostart=true",
                    "autorestart=true",
                    "startsecs=0",
                    "startretries=1000000",
                    "stopsignal=TERM",
                    "stopwaitsecs=10",
                    "stdout_logfile=NONE",
                    "stderr_logfile=NONE",
                    "",
                ]
            with open(conf, "w") as f:
                f.write("\n".join(lines))
            return ["supervisord", "-n", "-c", conf], self.signal_stop
        if self.kind in ("s6", "s6-ready"):
            scan = os.path.join(where, "scan")
            os.mkdir(scan)
            shell_run = os.environ.get("S6_RUN", "") == "sh"
            for ident in ids:
                service = os.path.join(scan, ident)
                os.mkdir(service)
                run = os.path.join(service, "run")
                with open(run, "w") as f:
                    if shell_run:
                        f.write(f"#!/bin/sh\nexec {self.prog} {ident}\n")
                    else:
                        f.write(f"#!{self.prog} {ident}\n")
                os.chmod(run, 0o755)
                if self.kind == "s6-ready":
                    with open(os.path.join(service, "notification-fd"), "w") as f:
                        f.write("3\n")
            argv = ["s6-svscan"]
            if n > 900:
                argv += ["-c", str(n + 100)]

            def stop():
                self.helpers.append(
                    subprocess.Popen(
                        ["s6-svscanctl", "-t", scan],
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )

            return argv + [scan], stop
        if self.kind == "arbor":
            path = os.path.join(where, "arbor.toml")
            top = os.environ.get("ARBOR_TOP_TOML", "")
            extra = os.environ.get("ARBOR_PROGRAM_TOML", "")
            with open(path, "w") as f:
                f.write(top + "\n" if top else "")
                if not n:
                    f.write("# empty\n")
                for ident in ids:
                    f.write(f'[program.{ident}]\ncommand = ["{self.prog}", "{ident}"]\n')
                    f.write(extra + "\n" if extra else "")
                    f.write("\n")
            return [self.arbor_bin, "run", "--plain", path], self.signal_stop
        raise ValueError(self.kind)

    def signal_stop(self):
        self.sup.send_signal(signal.SIGTERM)

    def spawn(self, argv, where):
        out = open(os.path.join(where, "supervisor.out"), "wb")
        try:
            return subprocess.Popen(
                argv,
                cwd=where,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            out.close()

    def supervisor_output(self, where, lines=8):
        try:
            with open(os.path.join(where, "supervisor.out"), errors="replace") as f:
                tail = f.read().splitlines()[-lines:]
        except OSError:
            return "(no output)"
        return " | ".join(tail) if tail else "(no output)"

    def own_processes(self, program_pids):
        """The supervisor's own processes: its root and its descendants, less the programs and
        anything below them. Returns (pids, {comm: count})."""
        table = proc_table()
        below_programs = set()
        for pid in program_pids:
            if pid in table:
                below_programs.update(descendants(pid, table))
        pids = [p for p in descendants(self.sup.pid, table) if p not in below_programs]
        comms = {}
        for pid in pids:
            comm = table.get(pid, (0, "?"))[1]
            comms[comm] = comms.get(comm, 0) + 1
        return pids, comms

    def memory(self, pids):
        rss = pss = 0
        for pid in pids:
            try:
                rss += status_kb(pid, "VmRSS")
                pss += pss_kb(pid)
            except OSError:
                pass
        return rss, pss

    def wait_exit(self, popen, timeout):
        try:
            popen.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    # ---- phases

    def floor(self, reps):
        samples = []
        for k in range(reps):
            ident = f"floor{k}"
            t0 = time.time_ns()
            child = subprocess.Popen(
                [self.prog, ident],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + RESTART_TIMEOUT_S
            stamp = None
            while stamp is None and time.monotonic() < deadline:
                stamp = self.read_stamp(ident)
                if stamp is None:
                    time.sleep(POLL_S)
            child.kill()
            child.wait()
            if stamp is None:
                raise Failed("the program wrote no stamp when the driver ran it")
            os.unlink(os.path.join(self.stamps, ident))
            samples.append(stamp[1] - t0)
        samples.sort()
        return ms(samples[len(samples) // 2])

    def empty(self):
        """The supervisor with 0 programs: its memory 2 s after the spawn."""
        where = os.path.join(self.tmp, "n0")
        argv, stop = self.configure(0, where)
        log("n0:", " ".join(argv))
        self.sup = self.spawn(argv, where)
        time.sleep(2.0)
        try:
            if self.sup.poll() is not None:
                self.note(
                    f"with 0 programs {self.kind} exited at once (code {self.sup.returncode}):"
                    f" {self.supervisor_output(where)}"
                )
                return
            pids, comms = self.own_processes(())
            rss, pss = self.memory(pids)
            log("n0 processes:", comms)
            self.result("rss_n0_kb", rss, "kB")
            self.result("pss_n0_kb", pss, "kB")
            self.result("supervisor_procs_n0", len(pids), "")
        finally:
            if self.sup.poll() is None:
                stop()
                if not self.wait_exit(self.sup, STOP_TIMEOUT_S):
                    self.note("with 0 programs the supervisor did not stop within 30 s")
            kill_below_me()
            self.sup = None

    def main(self):
        where = os.path.join(self.tmp, "main")
        argv, stop = self.configure(self.n, where)
        ids = [f"p{k}" for k in range(self.n)]
        log(f"start: {self.n} programs:", " ".join(argv))

        # 1. Start.
        current = {}
        t0 = time.time_ns()
        self.sup = self.spawn(argv, where)
        deadline = time.monotonic() + START_TIMEOUT_S
        missing = set(ids)
        while missing:
            if time.monotonic() > deadline:
                raise Failed(
                    f"{len(missing)} of {self.n} programs not started within"
                    f" {START_TIMEOUT_S:.0f} s; supervisor says: {self.supervisor_output(where)}"
                )
            if self.sup.poll() is not None:
                raise Failed(
                    f"the supervisor exited during the start (code {self.sup.returncode}):"
                    f" {self.supervisor_output(where)}"
                )
            present = set(os.listdir(self.stamps))
            for ident in list(missing & present):
                stamp = self.read_stamp(ident)
                if stamp:
                    current[ident] = stamp
                    missing.discard(ident)
            if missing:
                time.sleep(POLL_S)
        seen = time.time_ns()
        last = max(ns for _, ns in current.values())
        self.result("programs", self.n, "")
        self.result("start_wall_ms", ms(last - t0), "ms")
        log(f"start: all seen {ms(seen - t0):.1f} ms after the spawn")

        # Every program must be the supervisor's, and a single instance of it so far.
        strays = [i for i, (pid, _) in current.items() if not is_below(pid, self.sup.pid)]
        if strays:
            raise Failed(f"programs not below the supervisor: {strays[:5]}")
        early = {i: s for i, s in ((i, self.read_stamp(i)) for i in ids) if s != current[i]}
        if early:
            example = next(iter(early))
            self.note(f"{len(early)} programs restarted during the start (e.g. {example})")
            current.update({i: s for i, s in early.items() if s})

        # 2. Memory, 2 s after all started.
        time.sleep(2.0)
        program_pids = [pid for pid, _ in current.values()]
        pids, comms = self.own_processes(program_pids)
        rss, pss = self.memory(pids)
        log("supervisor processes:", comms)
        self.result("rss_kb", rss, "kB")
        self.result("pss_kb", pss, "kB")
        self.result("supervisor_procs", len(pids), "")

        # 3. Idle CPU.
        ticks0 = sum(cpu_ticks(p) for p in pids)
        sched0 = sum(sched_ns(p) for p in pids)
        time.sleep(self.idle_s)
        try:
            ticks1 = sum(cpu_ticks(p) for p in pids)
            sched1 = sum(sched_ns(p) for p in pids)
        except OSError:
            raise Failed("a supervisor process went away during the idle phase")
        self.result("idle_cpu_ms", (ticks1 - ticks0) * 1000.0 / CLK_TCK, "ms")
        self.result("idle_sched_ms", ms(sched1 - sched0), "ms")
        moved = [i for i in ids if self.read_stamp(i) != current[i]]
        if moved:
            self.note(f"{len(moved)} programs restarted during the idle phase")
            for i in moved:
                current[i] = self.read_stamp(i) or current[i]

        # 4. Restarts.
        self.restarts(ids, current, where)

        # 5. Stop.
        pidfds = {}
        for ident in ids:
            stamp = self.read_stamp(ident)
            if stamp is None:
                continue
            try:
                pidfds[os.pidfd_open(stamp[0])] = ident
            except ProcessLookupError:
                pass
        if len(pidfds) != self.n:
            self.note(f"{self.n - len(pidfds)} programs were not running before the stop")
        poller = select.poll()
        for fd in pidfds:
            poller.register(fd, select.POLLIN)
        left = set(pidfds)
        t0 = time.time_ns()
        stop()
        last = t0
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while left and time.monotonic() < deadline:
            for fd, _ in poller.poll(100):
                if fd in left:
                    left.discard(fd)
                    poller.unregister(fd)
                    last = time.time_ns()
        for fd in pidfds:
            os.close(fd)
        if left:
            raise Failed(
                f"{len(left)} programs still running {STOP_TIMEOUT_S:.0f} s after the stop"
            )
        self.result("stop_wall_ms", ms(last - t0), "ms")
        if self.wait_exit(self.sup, STOP_TIMEOUT_S):
            self.result("stop_exit_ms", ms(time.time_ns() - t0), "ms")
            log(f"stop: the supervisor exited with code {self.sup.returncode}")
        else:
            self.note("the supervisor's root did not exit within 30 s of the stop")

    def restarts(self, ids, current, where):
        samples = []
        timeouts = 0
        lost = set()
        budget_end = time.monotonic() + self.budget_s
        failure = None
        while len(samples) + timeouts < self.reps:
            if self.sup.poll() is not None:
                failure = (
                    f"the supervisor exited during the restarts (code {self.sup.returncode})"
                    f" after {len(samples)} of them: {self.supervisor_output(where)}"
                )
                break
            if time.monotonic() > budget_end:
                self.note(
                    f"restart budget of {self.budget_s} s spent after"
                    f" {len(samples)} of {self.reps} reps"
                )
                break
            now = time.time_ns()
            eligible = [
                i for i in ids if i not in lost and now - current[i][1] >= UPTIME_BEFORE_KILL_NS
            ]
            if not eligible:
                time.sleep(0.05)
                continue
            ident = random.choice(eligible)
            old_pid = current[ident][0]
            try:
                fd = os.pidfd_open(old_pid)
            except ProcessLookupError:
                self.note(f"{ident} (pid {old_pid}) was gone before its kill")
                current[ident] = self.read_stamp(ident) or current[ident]
                continue
            try:
                # The pidfd pins the process: check it is still below the supervisor before
                # killing it.
                if not is_below(old_pid, self.sup.pid):
                    raise Failed(f"{ident}'s pid {old_pid} is not below the supervisor")
                t0 = time.time_ns()
                signal.pidfd_send_signal(fd, signal.SIGKILL)
            finally:
                os.close(fd)
            deadline = time.monotonic() + RESTART_TIMEOUT_S
            stamp = None
            while time.monotonic() < deadline and self.sup.poll() is None:
                stamp = self.read_stamp(ident)
                if stamp and stamp[0] != old_pid:
                    break
                stamp = None
                time.sleep(POLL_S)
            if stamp is None and self.sup.poll() is not None:
                continue  # reported at the top of the loop
            if stamp is None:
                timeouts += 1
                lost.add(ident)
                self.note(f"{ident} not restarted within {RESTART_TIMEOUT_S:.0f} s of its kill")
                continue
            current[ident] = stamp
            samples.append(stamp[1] - t0)
        self.result("restart_reps", len(samples), "")
        self.result("restart_timeouts", timeouts, "")
        if samples:
            samples.sort()
            self.result("restart_p50_ms", ms(percentile(samples, 0.50)), "ms")
            self.result("restart_p99_ms", ms(percentile(samples, 0.99)), "ms")
            self.result("restart_max_ms", ms(samples[-1]), "ms")
            def show(values):
                return " ".join(f"{ms(v):.1f}" for v in values)

            if len(samples) <= 10:
                log("restart ms, sorted:", show(samples))
            else:
                log("restart ms, sorted:", show(samples[:5]), "...", show(samples[-5:]))
        if failure:
            raise Failed(failure)


def kill_below_me():
    """SIGKILLs, by pid, every process below the driver, and reaps them (bounded)."""
    me = os.getpid()
    deadline = time.monotonic() + 5.0
    while True:
        table = proc_table()
        below = [p for p in descendants(me, table) if p != me]
        # Zombies are below us too: reaping is what removes them.
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        alive = []
        for pid in below:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                alive.append(pid)
        if not below or time.monotonic() > deadline:
            if below:
                log("still below the driver after 5 s:", below)
            return
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)


def run(kind):
    if kind not in SUPERVISORS:
        sys.exit(f"bench-cli: unknown supervisor {kind!r}; one of {', '.join(SUPERVISORS)}")
    n = env_int("N", 200)
    reps = env_int("REPS", 100)
    idle_s = env_int("IDLE_S", 60)
    budget_s = env_int("BUDGET_S", 180)
    floor_reps = env_int("FLOOR_REPS", 20)
    here = os.path.dirname(os.path.abspath(__file__))
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(here, "..", "target")
    arbor_bin = os.path.abspath(
        os.environ.get("ARBOR_BIN") or os.path.join(target, "release", "arbor")
    )
    # The phases' own bounds, with room to spare: the floor, n0, start, idle, restarts, stops.
    bound = 60 + START_TIMEOUT_S + 3 * STOP_TIMEOUT_S + RESTART_TIMEOUT_S + idle_s + budget_s
    alarm_s = env_int("ALARM_S", int(bound))

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        log("warning: could not become a child subreaper:", os.strerror(ctypes.get_errno()))

    def on_alarm(signum, frame):
        raise Alarm()

    def on_term(signum, frame):
        raise SystemExit(f"bench-cli: signal {signum}")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    signal.alarm(alarm_s)

    print(f"# supervisor {kind} N={n} REPS={reps} IDLE_S={idle_s}", flush=True)
    bench = None
    status = 0
    try:
        if kind == "arbor" and not os.access(arbor_bin, os.X_OK):
            raise Failed(f"no arbor binary at {arbor_bin}")
        if kind != "arbor":
            exe = {"supervisord": "supervisord"}.get(kind, "s6-svscan")
            if shutil.which(exe) is None:
                raise Failed(f"{exe} is not installed")
        bench = Run(kind, n, reps, idle_s, budget_s, arbor_bin)
        log(f"{kind}: temp dir {bench.tmp}")
        floor = bench.floor(floor_reps)
        bench.result("start_floor_ms", floor, "ms")
        bench.empty()
        bench.main()
    except Alarm:
        print(f"# note: the whole run's bound of {alarm_s} s passed; stopped there", flush=True)
        log(f"{kind}: ALARM after {alarm_s} s")
        status = 1
    except Failed as err:
        print(f"# note: failed: {err}", flush=True)
        log(f"{kind}: FAILED: {err}")
        status = 1
    except (SystemExit, KeyboardInterrupt) as err:
        print(f"# note: interrupted ({err or 'SIGINT'}); stopped there", flush=True)
        status = 1
    finally:
        signal.alarm(0)
        kill_below_me()
        if bench is not None:
            shutil.rmtree(bench.tmp, ignore_errors=True)
    return status


# ---- the table --------------------------------------------------------------------------------


def fmt(value):
    try:
        number = float(value)
    except ValueError:
        return value
    if number == int(number) and "." not in value:
        return str(int(number))
    if abs(number) >= 100:
        return f"{number:.0f}"
    if abs(number) >= 10:
        return f"{number:.1f}"
    return f"{number:.2f}"


def table(paths):
    columns = []  # names in order seen
    values = {}  # (column, metric) -> value
    headers = {}
    notes = []
    current = None
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if line.startswith("# supervisor "):
                    parts = line.split()
                    current = parts[2]
                    headers[current] = " ".join(parts[3:])
                    if current not in columns:
                        columns.append(current)
                elif line.startswith("# note: ") and current:
                    notes.append(f"{COLUMN_TITLES.get(current, current)}: {line[8:]}")
                elif line.startswith("RESULT ") and current:
                    parts = line.split()
                    if len(parts) >= 3:
                        values[(current, parts[1])] = parts[2]
    known = [m for m, _ in METRICS]
    extra = sorted({m for (_, m) in values if m not in known})
    rows = list(METRICS) + [(m, "") for m in extra]
    settings = sorted(set(headers.values()))
    out = []
    if settings:
        out.append(f"Settings: {'; '.join(settings)}.")
        out.append("")
    out.append("| metric | " + " | ".join(COLUMN_TITLES.get(c, c) for c in columns) + " |")
    out.append("| --- |" + " ---: |" * len(columns))
    for metric, _unit in rows:
        cells = [fmt(values.get((c, metric), "–")) for c in columns]
        if all(cell == "–" for cell in cells):
            continue
        out.append(f"| {metric} | " + " | ".join(cells) + " |")
    if notes:
        out.append("")
        out.extend(f"- {n}" for n in notes)
    print("\n".join(out))


def main(argv):
    if len(argv) >= 2 and argv[0] == "run" and len(argv) == 2:
        return run(argv[1])
    if len(argv) >= 2 and argv[0] == "table":
        table(argv[1:])
        return 0
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

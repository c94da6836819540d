#!/usr/bin/python3
"""Nothing lost: callvault replay against database outages, crashes, a full
journal disk and refused databases, end to end (processes, real PostgreSQL).

Contract:
  env CALLVAULT_BIN   the callvault binary
  env CALLVAULT_GEN   the callvault-gen binary (makes the captures)
  psql on PATH; root for journal_disk_full (mounts a small tmpfs).

Every test starts its OWN embedded cluster (`callvault --data-dir <dir under
/tmp> db start`), because it stops and restarts it, and removes it at the end.
"Nothing lost" is always checked the same way: the uuids `replay --json`
printed against `SELECT call_uuid, count(*) FROM callvault.calls GROUP BY 1`:
each exactly once, none missing, none extra.

  test_db_outage.py [TEST ...]     (default: all; names below)

Standard library only; run with /usr/bin/python3. Exit 0 when every test
passed, 1 when one failed, 77 (ctest SKIP) when a prerequisite is missing,
except with CI=true, where that is a failure.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/harness.py
from harness import CI, Failure, Skip, expect  # noqa: E402

CALLVAULT = os.environ.get("CALLVAULT_BIN", "")
GEN = os.environ.get("CALLVAULT_GEN", "")
PG_VARS = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE", "PGOPTIONS")


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def clean_env(extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in PG_VARS and k != "CALLVAULT_FAULT"}
    env.update(extra or {})
    return env


# ---------------------------------------------------------------------------
# A private cluster in a directory under /tmp
# ---------------------------------------------------------------------------


class Cluster:
    def __init__(self, name: str):
        # Under /tmp: when root, the cluster runs as `postgres`, which must reach it.
        self.dir = tempfile.mkdtemp(prefix="cv-outage-%s-" % name, dir="/tmp")
        self.mounts: list[str] = []
        self.work = os.path.join(self.dir, "work")  # captures, configs, outputs
        os.makedirs(self.work)

    def cv(self, *args: str, config: str | None = None, db: str | None = None,
           env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        argv = [CALLVAULT, "--data-dir", self.dir]
        if config:
            argv += ["--config", config]
        if db:
            argv += ["--db", db]
        argv += list(args)
        return subprocess.run(argv, capture_output=True, text=True, env=clean_env(env), timeout=timeout)

    def replay_argv(self, pcap: str, config: str | None = None, db: str | None = None) -> list[str]:
        argv = [CALLVAULT, "--data-dir", self.dir]
        if config:
            argv += ["--config", config]
        if db:
            argv += ["--db", db]
        return argv + ["replay", "--json", pcap]

    def start(self) -> str:
        r = self.cv("db", "start")
        if r.returncode != 0:
            raise Failure("db start failed (%d):\n%s%s" % (r.returncode, r.stdout, r.stderr))
        return r.stdout

    def stop(self) -> str:
        r = self.cv("db", "stop")
        if r.returncode != 0:
            raise Failure("db stop failed (%d):\n%s%s" % (r.returncode, r.stdout, r.stderr))
        return r.stdout

    def migrate(self) -> None:
        r = self.cv("db", "migrate")
        if r.returncode != 0:
            raise Failure("db migrate failed (%d):\n%s%s" % (r.returncode, r.stdout, r.stderr))

    def url(self, user: str = "callvault_admin", db: str = "callvault") -> str:
        return "host='%s/run' port=5432 dbname=%s user=%s" % (self.dir, db, user)

    def psql(self, sql: str, user: str = "callvault_admin", db: str = "callvault") -> list[list[str]]:
        return psql(self.url(user, db), sql)

    def config(self, name: str, text: str) -> str:
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    @property
    def journal(self) -> str:
        return os.path.join(self.dir, "journal")

    def segments(self) -> list[str]:
        return sorted(glob.glob(os.path.join(self.journal, "*.jsonl")))

    def mount_tmpfs(self, path: str, size: str) -> None:
        os.makedirs(path, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs", path],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise Failure("cannot mount a tmpfs on %s: %s" % (path, r.stderr.strip()))
        self.mounts.append(path)

    def close(self) -> None:
        try:
            self.cv("db", "stop", timeout=300)
        except Exception as e:  # noqa: BLE001 - cleanup goes on
            print("  warn  db stop at cleanup: %s" % e)
        for m in reversed(self.mounts):
            subprocess.run(["umount", "-l", m], capture_output=True)
        if os.environ.get("CV_TEST_KEEP"):
            print("  info  kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def psql(url: str, sql: str) -> list[list[str]]:
    env = clean_env({"PGTZ": "UTC", "PGCLIENTENCODING": "UTF8"})
    r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--csv", "-t", "-d", url, "-c", sql],
                       capture_output=True, text=True, env=env, timeout=300)
    if r.returncode != 0:
        raise Failure("psql failed (%d): %s\n%s" % (r.returncode, r.stderr.strip(), sql))
    return [row for row in csv.reader(io.StringIO(r.stdout)) if row]


def bench(c: Cluster, calls: int, concurrent: int = 50, seconds: float = 1.0) -> str:
    out = os.path.join(c.work, "bench-%d.pcap" % calls)
    r = subprocess.run([GEN, "--bench-calls", str(calls), "--concurrent", str(concurrent),
                        "--seconds", str(seconds), "--out", out], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise Failure("callvault-gen failed: %s" % r.stderr)
    return out


def printed_uuids(stdout: str) -> list[str]:
    return [json.loads(line)["uuid"] for line in stdout.splitlines() if line.strip()]


def wav_files(c: Cluster, stdout: str) -> tuple[int, list[str]]:
    """(calls with audio, those whose recording is missing or not encrypted at rest).

    The store holds only <uuid>.wav.enc files (R12), mode 0600, that are not plain WAV."""
    with_audio, missing = 0, []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        call = json.loads(line)
        if isinstance(call.get("audio"), str):
            with_audio += 1
            path = os.path.join(c.dir, "audio", call["audio"])
            if (not os.path.isfile(path) or os.path.getsize(path) <= 44 or not path.endswith(".wav.enc")
                    or os.stat(path).st_mode & 0o7777 != 0o600):
                missing.append(path)
            else:
                with open(path, "rb") as f:
                    if f.read(8) != b"CVAULT\r\n":
                        missing.append(path)
    return with_audio, missing


STATS_RE = re.compile(
    r"index:\s+(?P<inserted>\d+) calls inserted, (?P<already>\d+) already present, (?P<batches>\d+) batches, "
    r"(?P<outages>\d+) database outages,\s+(?P<journal_failures>\d+) journal failures, "
    r"(?P<lost>\d+) records lost, (?P<aside>\d+) segments set aside, (?P<waiting>\d+) waiting in")


def index_stats(stderr: str) -> dict[str, int]:
    m = STATS_RE.search(stderr)
    if not m:
        raise Failure("no index statistics in the replay's stderr:\n" + tail(stderr))
    return {k: int(v) for k, v in m.groupdict().items()}


def check_exactly_once(c: Cluster, uuids: list[str], what: str) -> None:
    """Each printed call in callvault.calls exactly once, nothing else there."""
    expect(len(uuids) == len(set(uuids)), "%s: replay printed each uuid once (%d)" % (what, len(uuids)))
    rows = c.psql("SELECT call_uuid, count(*) FROM callvault.calls GROUP BY 1")
    in_db = {u: int(n) for u, n in rows}
    twice = {u: n for u, n in in_db.items() if n != 1}
    missing = sorted(set(uuids) - set(in_db))
    extra = sorted(set(in_db) - set(uuids))
    expect(not twice and not missing and not extra,
           "%s: all %d calls in the database exactly once" % (what, len(uuids)),
           "more than once: %d %s\nmissing: %d %s\nextra: %d %s" % (
               len(twice), list(twice)[:5], len(missing), missing[:5], len(extra), extra[:5]))


def calls_in_segment(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        return sum(1 for line in f if line.strip() and json.loads(line).get("type") == "call")


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------


def mid_replay_restart(c: Cluster) -> None:
    """The server stops in the middle of a batch and comes back: every call exactly once."""
    c.start()
    c.migrate()
    pcap = bench(c, 3000)
    cfg = c.config("wait.toml", "[database]\nwait_at_exit_s = 180\n")
    # Hold the writer in its first INSERT into callvault.calls, deterministically.
    locker = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", c.url()],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=clean_env())
    assert locker.stdin and locker.stdout
    locker.stdin.write("BEGIN;\nLOCK TABLE callvault.calls IN ACCESS EXCLUSIVE MODE;\n\\echo locked\n")
    locker.stdin.flush()
    line = locker.stdout.readline()
    expect(line.strip() == "locked", "admin session holds callvault.calls locked", line)
    out_path, err_path = os.path.join(c.work, "replay.out"), os.path.join(c.work, "replay.err")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        replay = subprocess.Popen(c.replay_argv(pcap, config=cfg), stdout=out, stderr=err, env=clean_env())
    try:
        deadline = time.monotonic() + 300
        waiting = False
        while time.monotonic() < deadline and replay.poll() is None:
            rows = c.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = 'callvault' "
                          "AND usename = 'callvault_writer' AND wait_event_type = 'Lock'")
            if rows[0][0] != "0":
                waiting = True
                break
            time.sleep(0.1)
        expect(waiting, "the writer waits on the lock in the middle of a batch",
               "replay exit %s\n%s" % (replay.poll(), tail(open(err_path).read())))
        with open(out_path) as f:
            printed = sum(1 for _ in f)
        print("  info  %d of 3000 calls finished when the server stopped" % printed)
        stopped = c.stop()
        expect("stopped" in stopped, "db stop (fast) while the writer is inside its transaction", stopped)
        locker.stdin.close()  # its session is gone with the server
        locker.wait(timeout=60)
        time.sleep(1)
        started = c.start()
        expect("started" in started, "db start again", started)
        rc = replay.wait(timeout=600)
    finally:
        if replay.poll() is None:
            replay.kill()
        if locker.poll() is None:
            locker.kill()
    stdout, stderr = open(out_path).read(), open(err_path).read()
    expect(rc == 0, "replay exits 0 once the database is back (%d)" % rc, tail(stderr))
    uuids = printed_uuids(stdout)
    expect(len(uuids) == 3000, "replay printed 3000 calls (%d)" % len(uuids))
    check_exactly_once(c, uuids, "after the restart")
    st = index_stats(stderr)
    expect(st["outages"] >= 1, "statistics report a database outage (%d)" % st["outages"], tail(stderr, 5))
    expect(st["inserted"] == 3000 and st["lost"] == 0 and st["aside"] == 0 and st["waiting"] == 0,
           "statistics: 3000 inserted, nothing lost, set aside or waiting", tail(stderr, 3))
    expect(c.segments() == [], "the journal is empty", str(c.segments()))
    rows = c.psql("SELECT stopped_at IS NOT NULL, stop_reason, calls FROM callvault.capture_sessions")
    expect(rows == [["t", "end_of_input", "3000"]], "the replay's session is recorded as stopped", str(rows))


def _fault_run(c: Cluster, fault: str, pcap: str, cfg: str) -> subprocess.CompletedProcess:
    return subprocess.run(c.replay_argv(pcap, config=cfg), capture_output=True, text=True,
                          env=clean_env({"CALLVAULT_FAULT": fault}), timeout=600)


def kill_after_journal(c: Cluster) -> None:
    """SIGKILL between journal append and insert: the rerun inserts every call exactly once."""
    c.start()
    c.migrate()
    pcap = bench(c, 1000)
    # linger_s = 0: calls end at their BYE, so the first batch holds calls.
    cfg = c.config("fast.toml", "[sip]\nlinger_s = 0\n[database]\nwait_at_exit_s = 60\n")
    r = _fault_run(c, "kill-after-journal", pcap, cfg)
    expect(r.returncode == -signal.SIGKILL, "the replay dies with SIGKILL (%d)" % r.returncode, tail(r.stderr))
    segs = c.segments()
    expect(len(segs) == 1, "the journal holds the one segment (%d)" % len(segs))
    in_segment = calls_in_segment(segs[0])
    expect(c.psql("SELECT count(*) FROM callvault.calls") == [["0"]], "nothing was inserted")
    r = subprocess.run(c.replay_argv(pcap, config=cfg), capture_output=True, text=True, env=clean_env(),
                       timeout=600)
    expect(r.returncode == 0, "the rerun exits 0 (%d)" % r.returncode, tail(r.stderr))
    uuids = printed_uuids(r.stdout)
    expect(len(uuids) == 1000, "the rerun printed 1000 calls (%d)" % len(uuids))
    check_exactly_once(c, uuids, "after the rerun")
    st = index_stats(r.stderr)
    expect(st["inserted"] == 1000 and st["already"] == in_segment,
           "statistics: 1000 inserted, %d (the old segment's calls) already present" % in_segment,
           tail(r.stderr, 3))
    expect(c.segments() == [], "the journal is empty", str(c.segments()))


def kill_after_insert(c: Cluster) -> None:
    """SIGKILL after the commit, before the segment is removed: the rerun inserts nothing twice."""
    c.start()
    c.migrate()
    pcap = bench(c, 1000)
    cfg = c.config("fast.toml", "[sip]\nlinger_s = 0\n[database]\nwait_at_exit_s = 60\n")
    first = 0
    for attempt in range(1, 4):
        r = _fault_run(c, "kill-after-insert", pcap, cfg)
        expect(r.returncode == -signal.SIGKILL, "the replay dies with SIGKILL (%d)" % r.returncode,
               tail(r.stderr))
        segs = c.segments()
        expect(len(segs) == 1, "the inserted segment is still in the journal (%d)" % len(segs))
        first = int(c.psql("SELECT count(*) FROM callvault.calls")[0][0])
        expect(first == calls_in_segment(segs[0]), "the segment's %d calls are in the database" % first)
        if first > 0:
            break
        # The first batch held only the session and coverage records: nothing to
        # prove "already present" with. Start over (the database holds no call).
        print("  info  attempt %d: the first segment held no call; again" % attempt)
        os.remove(segs[0])
    expect(first > 0, "the first committed segment held calls (%d)" % first)
    r = subprocess.run(c.replay_argv(pcap, config=cfg), capture_output=True, text=True, env=clean_env(),
                       timeout=600)
    expect(r.returncode == 0, "the rerun exits 0 (%d)" % r.returncode, tail(r.stderr))
    uuids = printed_uuids(r.stdout)
    expect(len(uuids) == 1000, "the rerun printed 1000 calls (%d)" % len(uuids))
    check_exactly_once(c, uuids, "after the rerun")
    st = index_stats(r.stderr)
    # The old segment again (all present), then the rerun's own batches (the
    # first run's calls present once more).
    expect(st["already"] == 2 * first and st["inserted"] == 1000 - first,
           "statistics: %d inserted, %d already present" % (1000 - first, 2 * first), tail(r.stderr, 3))
    expect(c.segments() == [], "the journal is empty", str(c.segments()))


def unreachable_then_flush(c: Cluster) -> None:
    """Database down from the start: exit 3, calls wait in the journal, `db flush` inserts them once."""
    c.start()
    c.migrate()
    c.stop()
    pcap = bench(c, 500)
    cfg = c.config("nowait.toml", "[database]\nwait_at_exit_s = 0\n")
    url = c.url("callvault_writer")
    r = subprocess.run(c.replay_argv(pcap, config=cfg, db=url), capture_output=True, text=True,
                       env=clean_env(), timeout=600)
    expect(r.returncode == 3, "replay exits 3 (%d)" % r.returncode, tail(r.stderr))
    expect("journal" in r.stderr and "callvault db flush" in r.stderr,
           "stderr says the calls wait in the journal and names `callvault db flush`", tail(r.stderr))
    uuids = printed_uuids(r.stdout)
    expect(len(uuids) == 500, "replay printed 500 calls (%d)" % len(uuids))
    with_audio, missing = wav_files(c, r.stdout)
    expect(with_audio == 500 and not missing, "all 500 WAV files are written (%d)" % with_audio,
           str(missing[:5]))
    st = index_stats(r.stderr)
    expect(st["inserted"] == 0 and st["lost"] == 0 and st["waiting"] >= 1,
           "statistics: nothing inserted, nothing lost, %d segments waiting" % st["waiting"], tail(r.stderr, 3))
    expect(len(c.segments()) == st["waiting"], "the journal holds the waiting segments")
    c.start()
    f = c.cv("db", "flush", db=url)
    expect(f.returncode == 0, "db flush exits 0 (%d)" % f.returncode, f.stdout + f.stderr)
    expect("500 calls inserted, 0 already present, 0 segments waiting" in f.stdout,
           "db flush reports 500 calls inserted", f.stdout)
    check_exactly_once(c, uuids, "after db flush")
    expect(c.segments() == [], "the journal is empty", str(c.segments()))
    f = c.cv("db", "flush", db=url)
    expect(f.returncode == 0 and "0 calls inserted" in f.stdout, "a second flush has nothing to do", f.stdout)


def journal_disk_full(c: Cluster) -> None:
    """Database down and the journal's disk full: a clear error, audio kept, losses counted, exit 3."""
    if os.geteuid() != 0:
        raise Skip("mounting a small tmpfs needs root")
    c.start()
    c.migrate()
    c.stop()
    pcap = bench(c, 1000)
    c.mount_tmpfs(c.journal, "96k")
    cfg = c.config("nowait.toml", "[database]\nwait_at_exit_s = 0\n")
    url = c.url("callvault_writer")
    r = subprocess.run(c.replay_argv(pcap, config=cfg, db=url), capture_output=True, text=True,
                       env=clean_env(), timeout=600)
    expect(r.returncode == 3, "replay exits 3 (%d), no crash" % r.returncode, tail(r.stderr))
    err = r.stderr.lower()
    expect("journal" in err and c.journal.lower() in err and "no space" in err,
           "a clear error names the journal and \"no space\"", tail(r.stderr))
    uuids = printed_uuids(r.stdout)
    expect(len(uuids) == 1000, "replay printed 1000 calls (%d)" % len(uuids))
    with_audio, missing = wav_files(c, r.stdout)
    expect(with_audio == 1000 and not missing, "all 1000 WAV files are written (%d)" % with_audio,
           str(missing[:5]))
    st = index_stats(r.stderr)
    expect(st["journal_failures"] >= 1 and st["lost"] >= 1,
           "statistics count journal failures (%d) and records lost (%d)" % (st["journal_failures"], st["lost"]),
           tail(r.stderr, 3))
    expect("records lost" in r.stderr, "stderr says records were lost")
    # What fit in the journal is not lost: it goes in once the database is back.
    journaled = sum(calls_in_segment(s) for s in c.segments())
    c.start()
    f = c.cv("db", "flush", db=url)
    expect(f.returncode == 0, "db flush of what was journaled exits 0 (%d)" % f.returncode, f.stdout + f.stderr)
    rows = c.psql("SELECT call_uuid, count(*) FROM callvault.calls GROUP BY 1")
    expect(len(rows) == journaled and all(n == "1" for _, n in rows) and {u for u, _ in rows} <= set(uuids),
           "the %d journaled calls are in the database, each once" % journaled, str(rows[:5]))


def schema_refusal(c: Cluster) -> None:
    """A database without the schema, with a newer one, or a superuser: exit 2 with what to do."""
    c.start()
    c.migrate()  # the roles exist from here on
    c.psql("CREATE DATABASE empty", db="postgres")
    pcap = bench(c, 20)
    cfg = c.config("nowait.toml", "[database]\nwait_at_exit_s = 0\n")

    def replay(url: str) -> subprocess.CompletedProcess:
        return subprocess.run(c.replay_argv(pcap, config=cfg, db=url), capture_output=True, text=True,
                              env=clean_env(), timeout=600)

    r = replay(c.url("callvault_writer", db="empty"))
    expect(r.returncode == 2, "no schema: replay exits 2 (%d)" % r.returncode, tail(r.stderr))
    expect("callvault db migrate" in r.stderr, "no schema: the message names `callvault db migrate`",
           tail(r.stderr))
    r = replay(c.url("callvault_admin"))
    expect(r.returncode == 2, "superuser: replay exits 2 (%d)" % r.returncode, tail(r.stderr))
    expect("superuser" in r.stderr, "superuser: the message says so", tail(r.stderr))
    c.psql("INSERT INTO callvault.schema_migrations (version, name, sha256) VALUES (999, '0999_future', 'x')")
    r = replay(c.url("callvault_writer"))
    expect(r.returncode == 2 and "upgrade callvault" in r.stderr,
           "newer schema: replay exits 2 (%d) and says \"upgrade callvault\"" % r.returncode, tail(r.stderr))
    expect(c.segments() == [] and not glob.glob(os.path.join(c.dir, "audio", "**", "*.wav*"), recursive=True),
           "nothing was recorded or journaled")


def embedded_lifecycle(c: Cluster) -> None:
    """db start (twice), migrate, status, url + psql as the auditor, stop, and a replay starts it again."""
    s = c.start()
    expect("started" in s and "already" not in s, "db start starts the cluster", s)
    s = c.start()
    expect("already running" in s, "a second db start says it is already running", s)
    c.migrate()
    r = c.cv("db", "status")
    expect(r.returncode == 0 and "reachable" in r.stdout and "(current)" in r.stdout and "calls:           0" in r.stdout,
           "db status: reachable, schema current, 0 calls", r.stdout + r.stderr)
    r = c.cv("db", "url")
    expect(r.returncode == 0 and "callvault_auditor" in r.stdout, "db url names the auditor", r.stdout + r.stderr)
    auditor = r.stdout.strip()
    expect(psql(auditor, "SELECT count(*) FROM audit.calls") == [["0"]], "psql with db url reads audit.calls")
    s = c.stop()
    expect("stopped" in s, "db stop", s)
    r = c.cv("db", "status")
    expect(r.returncode == 0 and "not running" in r.stdout, "db status says not running", r.stdout + r.stderr)
    s = c.stop()
    expect("was not running" in s, "a second db stop says it was not running", s)
    pcap = bench(c, 20)
    r = subprocess.run(c.replay_argv(pcap), capture_output=True, text=True, env=clean_env(), timeout=600)
    expect(r.returncode == 0, "a replay starts the embedded database by itself and exits 0 (%d)" % r.returncode,
           tail(r.stderr))
    uuids = printed_uuids(r.stdout)
    expect(len(uuids) == 20, "replay printed 20 calls (%d)" % len(uuids))
    check_exactly_once(c, uuids, "after the replay")
    expect(psql(auditor, "SELECT count(*) FROM audit.calls") == [["20"]], "the auditor sees the 20 calls")
    r = c.cv("db", "status")
    expect(r.returncode == 0 and "calls:           20" in r.stdout, "db status counts 20 calls", r.stdout)


TESTS = {f.__name__: f for f in (mid_replay_restart, kill_after_journal, kill_after_insert,
                                 unreachable_then_flush, journal_disk_full, schema_refusal,
                                 embedded_lifecycle)}


def prerequisites() -> str:
    if not CALLVAULT or not os.access(CALLVAULT, os.X_OK):
        return "CALLVAULT_BIN (%r) is not an executable" % CALLVAULT
    if not GEN or not os.access(GEN, os.X_OK):
        return "CALLVAULT_GEN (%r) is not an executable" % GEN
    if not shutil.which("psql"):
        return "psql is not installed"
    return ""


def main(argv: list[str]) -> int:
    names = argv or list(TESTS)
    unknown = [n for n in names if n not in TESTS]
    if unknown:
        print("unknown test(s): %s; known: %s" % (", ".join(unknown), ", ".join(TESTS)), file=sys.stderr)
        return 2
    missing = prerequisites()
    if missing:
        print("test_db_outage: %s: %s" % ("FAIL (CI=true)" if CI else "SKIP", missing), file=sys.stderr)
        return 1 if CI else 77
    failed, skipped = [], []
    for name in names:
        print("%s: %s" % (name, TESTS[name].__doc__), flush=True)
        started = time.monotonic()
        c = Cluster(name)
        try:
            TESTS[name](c)
            print("PASS  %s (%.1f s)" % (name, time.monotonic() - started), flush=True)
        except Skip as e:
            if CI:
                print("FAIL  %s: a prerequisite is missing (CI=true): %s" % (name, e), flush=True)
                failed.append(name)
            else:
                print("SKIP  %s: %s" % (name, e), flush=True)
                skipped.append(name)
        except Exception as e:  # noqa: BLE001 - a failure of any kind fails the test
            print("FAIL  %s: %s: %s" % (name, type(e).__name__, e), flush=True)
            failed.append(name)
        finally:
            c.close()
    if failed:
        return 1
    return 77 if skipped and len(skipped) == len(names) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

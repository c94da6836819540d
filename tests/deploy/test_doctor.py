#!/usr/bin/env python3
"""`callvault doctor` against deliberately broken setups, then a good one.

Every setup is real: interfaces are dummy links in a private network namespace
(`ip netns add`, `ip netns exec`), the full disk is a 64 KiB tmpfs, the
database is the shared test cluster (CV_TEST_PG_ADMIN_URL, ctest fixture
`postgres`) with a database of its own, first unmigrated, then migrated with
`callvault db migrate` and reached as callvault_operator.

1. broken: interface d0 down, database URL unreachable, data directory on a
   full tmpfs (disk), key directory mode 0755 -> exit 1, each named with its fix;
2. broken: interface that does not exist, data directory that does not exist,
   database not migrated, and the capture capabilities dropped (setpriv) ->
   exit 1, each named with its fix;
3. good: an up dummy interface, the migrated database, room for a month of
   the load given with --calls-per-day/--minutes-per-call -> exit 0, all ok
   (the clock check is skipped only when this machine's clock is itself
   unsynchronised, which the output says);
4. usage errors exit 2.

Exit 0 passed, 1 failed, 77 (ctest SKIP) when not root or a tool is missing,
except with CI=true, where that is a failure.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

CI = os.environ.get("CI") == "true"
CALLVAULT = os.environ.get("CALLVAULT_BIN", "")
ADMIN = os.environ.get("CV_TEST_PG_ADMIN_URL", "")


def skip(why: str) -> None:
    print(("FAIL: " if CI else "SKIP: ") + why)
    sys.exit(1 if CI else 77)


failures: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ("\n     " + detail.replace("\n", "\n     "))))
    if not ok:
        failures.append(name)


def run(*cmd: str, check_rc: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=120)
    if check_rc and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r


def psql(conn: str, sql: str) -> None:
    run("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conn, "-c", sql)


def write_config(path: str, data_dir: str, key_dir: str) -> None:
    with open(path, "w") as f:
        f.write('[storage]\ndata_dir = "%s"\nkey_dir = "%s"\n[retention]\nperiod = "1 month"\n' % (data_dir, key_dir))


def doctor(ns: str, config: str, db: str, *args: str, prefix: tuple = ()) -> tuple[int, dict, str]:
    """Runs doctor in the namespace twice, as text and as --json; returns
    (exit code, checks by name, text)."""
    base = ["ip", "netns", "exec", ns, *prefix, CALLVAULT, "--config", config, "--db", db, "doctor", *args]
    text = subprocess.run(base, capture_output=True, text=True, timeout=120)
    js = subprocess.run(base + ["--json"], capture_output=True, text=True, timeout=120)
    if js.returncode != text.returncode:
        check("text and --json agree on the exit code", False, "%d vs %d" % (text.returncode, js.returncode))
    try:
        out = json.loads(js.stdout)
        checks = {c["name"]: c for c in out["checks"]}
        if out["ok"] != (js.returncode == 0):
            check("--json ok matches the exit code", False, js.stdout)
    except (ValueError, KeyError) as e:
        check("--json prints one JSON object", False, "%s: %r %s" % (e, js.stdout, js.stderr))
        checks = {}
    return text.returncode, checks, text.stdout + text.stderr


def expect_fix(run_name: str, checks: dict, text: str, name: str, detail_has: str, fix_has: str) -> None:
    c = checks.get(name, {})
    ok = (c.get("status") == "fix" and detail_has in c.get("detail", "") and fix_has in c.get("fix", "")
          # the text output names the same problem and fix
          and any(line.startswith("FIX") and name in line and detail_has in line for line in text.splitlines())
          and fix_has in text)
    check("%s: %s FIX names '%s', fix '%s'" % (run_name, name, detail_has, fix_has), ok,
          json.dumps(c) + "\n" + text)


def expect_ok(run_name: str, checks: dict, text: str, name: str) -> None:
    c = checks.get(name, {})
    check("%s: %s ok" % (run_name, name), c.get("status") == "ok" and
          any(line.startswith("ok") and name in line for line in text.splitlines()), json.dumps(c) + "\n" + text)


def main() -> None:
    if os.geteuid() != 0:
        skip("needs root (network namespaces, tmpfs mounts)")
    if not CALLVAULT or not os.access(CALLVAULT, os.X_OK):
        skip("CALLVAULT_BIN is not set to the callvault binary")
    if not ADMIN:
        skip("CV_TEST_PG_ADMIN_URL is not set (ctest fixture postgres)")
    for tool in ("ip", "psql", "setpriv", "mount"):
        if not shutil.which(tool):
            skip(tool + " is not installed")

    tag = uuid.uuid4().hex[:8]
    ns = "cvdoc-" + tag
    dbname = "cv_doctor_" + tag
    work = tempfile.mkdtemp(prefix="callvault-doctor-")
    os.chmod(work, 0o755)
    mounts: list[str] = []
    ns_made = db_made = False
    try:
        r = run("ip", "netns", "add", ns, check_rc=False)
        if r.returncode != 0:
            skip("cannot create a network namespace: " + r.stderr.strip())
        ns_made = True
        def make_link(name: str, up: bool) -> None:
            """A dummy link, or (kernels without the dummy module, like some
            containers') one end of a veth pair whose peer follows it."""
            if run("ip", "-n", ns, "link", "add", name, "type", "dummy", check_rc=False).returncode == 0:
                if up:
                    run("ip", "-n", ns, "link", "set", name, "up")
                return
            run("ip", "-n", ns, "link", "add", name, "type", "veth", "peer", "name", name + "p")
            if up:
                run("ip", "-n", ns, "link", "set", name + "p", "up")
                run("ip", "-n", ns, "link", "set", name, "up")

        make_link("d0", up=False)
        make_link("u0", up=True)
        run("ip", "-n", ns, "link", "set", "lo", "up")
        # Up without carrier: a veth whose peer is down (a cable to nowhere).
        run("ip", "-n", ns, "link", "add", "n0", "type", "veth", "peer", "name", "n0p")
        run("ip", "-n", ns, "link", "set", "n0", "up")

        psql(ADMIN, 'CREATE DATABASE "%s"' % dbname)
        db_made = True
        db_admin = ADMIN + " dbname='%s'" % dbname
        db_operator = db_admin + " user='callvault_operator'"
        unreachable = "postgresql://callvault_writer@127.0.0.1:1/callvault?connect_timeout=3"

        # 1. down interface, unreachable database, full disk, key directory 0755.
        full = os.path.join(work, "full")
        os.mkdir(full)
        run("mount", "-t", "tmpfs", "-o", "size=64k,mode=0750", "tmpfs", full)
        mounts.append(full)
        keys_open = os.path.join(work, "keys-open")
        os.mkdir(keys_open)
        os.chmod(keys_open, 0o755)
        fd = os.open(os.path.join(full, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass  # full
        finally:
            os.close(fd)
        conf1 = os.path.join(work, "broken1.toml")
        write_config(conf1, full, keys_open)
        rc, checks, text = doctor(ns, conf1, unreachable, "--interface", "d0", "--calls-per-day", "1",
                                  "--minutes-per-call", "1")
        print(text)
        check("broken 1: exit 1", rc == 1, text)
        expect_fix("broken 1", checks, text, "interface", "d0 is down", "ip link set d0 up")
        expect_fix("broken 1", checks, text, "database", "unreachable", "[database] url")
        expect_fix("broken 1", checks, text, "disk", "56.9 MiB needed", "free 56.9 MiB")
        expect_fix("broken 1", checks, text, "key_dir", "mode 0755", "chmod 0700 " + keys_open)
        expect_ok("broken 1", checks, text, "data_dir")  # writable, only full
        expect_ok("broken 1", checks, text, "capabilities")

        rc, checks, text = doctor(ns, conf1, unreachable, "--interface", "n0", "--skip", "disk,key_dir,clock")
        expect_fix("broken 1", checks, text, "interface", "n0 is up but has no link", "check the cable")

        # 2. missing interface, missing data directory, unmigrated database,
        # no capture capabilities (bounding set without them: even root lacks them).
        missing = os.path.join(work, "no-such-dir")
        conf2 = os.path.join(work, "broken2.toml")
        write_config(conf2, missing, os.path.join(work, "keys-missing", "k"))
        rc, checks, text = doctor(ns, conf2, db_operator, "--interface", "nope0",
                                  prefix=("setpriv", "--bounding-set=-net_raw,-net_admin", "--inh-caps=-all"))
        print(text)
        check("broken 2: exit 1", rc == 1, text)
        expect_fix("broken 2", checks, text, "interface", "nope0 does not exist", "name the mirror port")
        expect_fix("broken 2", checks, text, "capabilities", "lacks CAP_NET_RAW CAP_NET_ADMIN",
                   "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN")
        expect_fix("broken 2", checks, text, "database", "has no callvault schema", "callvault --db <owner's URL> db migrate")
        expect_fix("broken 2", checks, text, "data_dir", missing + " does not exist", "install -d -m 0750")
        expect_fix("broken 2", checks, text, "key_dir", "does not exist", "install -d -m 0700")
        # An up interface this process cannot capture on (no CAP_NET_RAW) is named too.
        rc, checks, text = doctor(ns, conf2, db_operator, "--interface", "u0",
                                  prefix=("setpriv", "--bounding-set=-net_raw,-net_admin", "--inh-caps=-all"))
        expect_fix("broken 2", checks, text, "interface", "cannot capture on it", "CAP_NET_RAW")

        # 3. good: up interface, migrated database, room for a month of 1 call x 1 minute a day.
        run(CALLVAULT, "--db", db_admin, "db", "migrate")
        good = os.path.join(work, "good")
        os.mkdir(good)
        run("mount", "-t", "tmpfs", "-o", "size=80m,mode=0750", "tmpfs", good)
        mounts.append(good)
        keys = os.path.join(good, "keys")
        os.mkdir(keys, 0o700)
        os.chmod(keys, 0o700)
        conf3 = os.path.join(work, "good.toml")
        write_config(conf3, good, keys)
        load = ("--calls-per-day", "1", "--minutes-per-call", "1")
        _, clock, _ = doctor(ns, conf3, db_operator, "--skip", "interface,capabilities,database,data_dir,disk,key_dir")
        extra: tuple = ()
        if clock.get("clock", {}).get("status") != "ok":
            print("note: this machine's clock is not synchronised (%s); the good run skips the clock check"
                  % clock.get("clock", {}).get("detail"))
            extra = ("--skip", "clock")
        rc, checks, text = doctor(ns, conf3, db_operator, "--interface", "u0", *load, *extra)
        print(text)
        check("good: exit 0", rc == 0, text)
        for name in ("interface", "capabilities", "database", "data_dir", "disk", "key_dir"):
            expect_ok("good", checks, text, name)
        check("good: 'ready to record'", "ready to record" in text, text)
        run("ip", "-n", ns, "link", "set", "u0", "promisc", "on")
        rc, checks, text = doctor(ns, conf3, db_operator, "--interface", "u0", *load, *extra)
        check("good, promiscuous: exit 0 and said", rc == 0 and "u0 exists, is up with link, promiscuous"
              in checks.get("interface", {}).get("detail", ""), text)
        # The same load on a file system with 64 KiB is a month short.
        rc, checks, text = doctor(ns, conf1, db_operator, "--interface", "u0", *load, "--skip", "clock,key_dir")
        check("good but full: exit 1 for the disk alone", rc == 1 and checks.get("disk", {}).get("status") == "fix"
              and sum(c["status"] == "fix" for c in checks.values()) == 1, text)

        # 4. usage errors.
        for args in (["--calls-per-day", "10"], ["--skip", "nonsense"], ["--calls-per-day", "-1", "--minutes-per-call", "2"]):
            r = subprocess.run([CALLVAULT, "--config", conf3, "doctor", *args], capture_output=True, text=True, timeout=60)
            check("usage error %s exits 2" % " ".join(args), r.returncode == 2, r.stdout + r.stderr)
    finally:
        for m in reversed(mounts):
            subprocess.run(["umount", m], capture_output=True)
        if ns_made:
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
        if db_made:
            subprocess.run(["psql", "-X", "-q", "-d", ADMIN, "-c", 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % dbname],
                           capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("%d failed: %s" % (len(failures), ", ".join(failures)))
        sys.exit(1)
    print("all passed")


if __name__ == "__main__":
    main()

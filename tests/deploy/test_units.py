#!/usr/bin/env python3
"""The systemd units of deploy/systemd and deploy/install.sh.

1. `systemd-analyze verify` accepts every unit without a single message (it
   exits 0 even on unknown keys or bad values, so any output is a failure).
   The units name /usr/bin/callvault, which verify requires to exist: they are
   verified as copies naming the built binary (CALLVAULT_BIN). A copy with a
   deliberate mistake must draw a message, or the check itself is broken.
2. `systemd-analyze security --offline=yes`: each service's overall exposure
   at or below the level measured when the units were written (recorder 1.9,
   retention 1.1, database 0.2; thresholds 2.0 / 1.2 / 0.5).
3. The hardening the issue asks for, read from the files: User=callvault,
   capabilities CAP_NET_RAW CAP_NET_ADMIN for the recorder only, none for the
   others, NoNewPrivileges, ProtectSystem=strict, ReadWritePaths only the data
   directory, the recorder's address families, the timer every 5 minutes.
4. DESTDIR=... deploy/install.sh stages the binary, units, sysusers/tmpfiles
   snippets and the configuration (0640, embedded_account = "callvault",
   accepted by `callvault --config`) with the directory modes (0750, keys 0700).
5. The embedded PostgreSQL starts, migrates and stops as an unprivileged
   service account in a data directory 0750 it owns (as root: skipped otherwise).

Exit 0 passed, 1 failed, 77 (ctest SKIP) when systemd-analyze is missing,
except with CI=true, where that is a failure.
"""

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

CI = os.environ.get("CI") == "true"
CALLVAULT = os.environ.get("CALLVAULT_BIN", "")
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = ["callvault.service", "callvault-db.service", "callvault-retention.service", "callvault-retention.timer"]
THRESHOLDS = {"callvault.service": 2.0, "callvault-retention.service": 1.2, "callvault-db.service": 0.5}

failures: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ("\n     " + detail.replace("\n", "\n     "))))
    if not ok:
        failures.append(name)


def settings(unit: str) -> dict[str, list[str]]:
    """Key -> every value assigned in the unit file (in order)."""
    out: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / unit).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        k, _, v = line.partition("=")
        out.setdefault(k.strip(), []).append(v.strip())
    return out


def verify(tmp: Path) -> None:
    copies = []
    for unit in UNITS:
        text = (DEPLOY / "systemd" / unit).read_text().replace("/usr/bin/callvault", CALLVAULT)
        (tmp / unit).write_text(text)
        copies.append(str(tmp / unit))
    r = subprocess.run(["systemd-analyze", "verify", *copies], capture_output=True, text=True, timeout=120)
    out = (r.stdout + r.stderr).strip()
    if r.returncode != 0 and ("Failed to initialize" in out or "Failed to setup" in out):
        msg = "systemd-analyze verify cannot run here: " + out
        print(("FAIL " if CI else "note ") + msg)
        if CI:
            failures.append("verify runs")
        return
    check("systemd-analyze verify: all units, no messages", r.returncode == 0 and not out, out)
    bad = tmp / "broken.service"
    bad.write_text((tmp / "callvault.service").read_text().replace("ProtectSystem=strict", "ProtectSystem=sometimes")
                   .replace("[Service]", "[Service]\nNoSuchSetting=1"))
    r = subprocess.run(["systemd-analyze", "verify", str(bad)], capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    check("systemd-analyze verify reports a broken copy", "NoSuchSetting" in out and "sometimes" in out, out)


def security() -> None:
    for unit, limit in THRESHOLDS.items():
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                            str(DEPLOY / "systemd" / unit)], capture_output=True, text=True, timeout=120)
        out = r.stdout + r.stderr
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", out)
        level = float(m.group(1)) if m else 99.0
        print("     %s: exposure %s" % (unit, m.group(0) if m else "?"))
        check("security --offline: %s exposure %.1f <= %.1f" % (unit, level, limit), m is not None and level <= limit,
              out[-3000:])


def hardening() -> None:
    rec, ret, db = (settings(u) for u in ("callvault.service", "callvault-retention.service", "callvault-db.service"))
    for name, s in (("callvault.service", rec), ("callvault-retention.service", ret), ("callvault-db.service", db)):
        for key, want in (("User", ["callvault"]), ("NoNewPrivileges", ["yes"]), ("ProtectSystem", ["strict"]),
                          ("ReadWritePaths", ["/var/lib/callvault"]), ("ProtectHome", ["yes"]),
                          ("PrivateTmp", ["yes"]), ("PrivateDevices", ["yes"]), ("RestrictNamespaces", ["yes"]),
                          ("LockPersonality", ["yes"]), ("MemoryDenyWriteExecute", ["yes"]),
                          ("SystemCallArchitectures", ["native"]), ("ProtectKernelTunables", ["yes"]),
                          ("ProtectKernelModules", ["yes"]), ("ProtectControlGroups", ["yes"])):
            check("%s: %s=%s" % (name, key, " ".join(want)), s.get(key) == want, str(s.get(key)))
        check("%s: SystemCallFilter=@system-service" % name, "@system-service" in s.get("SystemCallFilter", []),
              str(s.get("SystemCallFilter")))
        check("%s: runs callvault --config /etc/callvault/callvault.toml" % name,
              all(v.startswith("/usr/bin/callvault --config /etc/callvault/callvault.toml ") for v in s["ExecStart"]),
              str(s["ExecStart"]))
    caps = ["CAP_NET_RAW CAP_NET_ADMIN"]
    check("recorder: CapabilityBoundingSet and AmbientCapabilities = CAP_NET_RAW CAP_NET_ADMIN",
          rec.get("CapabilityBoundingSet") == caps and rec.get("AmbientCapabilities") == caps,
          str((rec.get("CapabilityBoundingSet"), rec.get("AmbientCapabilities"))))
    check("recorder: ExecStart ... capture", rec["ExecStart"][0].endswith(" capture"), str(rec["ExecStart"]))
    check("recorder: RestrictAddressFamilies", rec.get("RestrictAddressFamilies") ==
          ["AF_UNIX AF_INET AF_INET6 AF_PACKET AF_NETLINK"], str(rec.get("RestrictAddressFamilies")))
    check("recorder: UMask=0027", rec.get("UMask") == ["0027"], str(rec.get("UMask")))
    for name, s in (("retention", ret), ("database", db)):
        check("%s: no capabilities" % name, s.get("CapabilityBoundingSet") == [""] and
              s.get("AmbientCapabilities") in (None, [""]), str(s.get("CapabilityBoundingSet")))
        check("%s: no packet or netlink sockets" % name, not any(
            f in v for v in s.get("RestrictAddressFamilies", ["(none)"]) for f in ("AF_PACKET", "AF_NETLINK", "(none)")),
            str(s.get("RestrictAddressFamilies")))
    check("retention: oneshot retention run --once", ret.get("Type") == ["oneshot"] and
          ret["ExecStart"][0].endswith("retention run --once"), str(ret["ExecStart"]))
    check("database: no network at all", db.get("PrivateNetwork") == ["yes"] and
          db.get("RestrictAddressFamilies") == ["AF_UNIX"], str(db))
    timer = settings("callvault-retention.timer")
    check("timer: every 5 minutes", timer.get("OnUnitActiveSec") == ["5min"], str(timer))


def install(tmp: Path) -> None:
    root = tmp / "root"
    env = dict(os.environ, DESTDIR=str(root))
    r = subprocess.run([str(DEPLOY / "install.sh"), "--bin", CALLVAULT], capture_output=True, text=True, env=env,
                       timeout=120)
    check("DESTDIR=... install.sh exits 0", r.returncode == 0, r.stdout + r.stderr)
    if r.returncode != 0:
        return

    def mode(p: str) -> int:
        return stat.S_IMODE(os.stat(root / p.lstrip("/")).st_mode)

    for path, want in (("/usr/bin/callvault", 0o755), ("/etc/callvault", 0o750), ("/etc/callvault/callvault.toml", 0o640),
                       ("/var/lib/callvault", 0o750), ("/var/lib/callvault/keys", 0o700),
                       ("/usr/lib/sysusers.d/callvault.conf", 0o644), ("/usr/lib/tmpfiles.d/callvault.conf", 0o644)):
        ok = (root / path.lstrip("/")).exists() and mode(path) == want
        check("installed %s mode %04o" % (path, want), ok, oct(mode(path)) if (root / path.lstrip("/")).exists() else "missing")
    for unit in UNITS:
        p = root / "etc/systemd/system" / unit
        check("installed unit %s" % unit, p.exists() and p.read_text() == (DEPLOY / "systemd" / unit).read_text())
    conf = root / "etc/callvault/callvault.toml"
    text = conf.read_text()
    check("config: embedded_account = \"callvault\"", re.search(r'^embedded_account = "callvault"', text, re.M) is not None,
          text)
    # doctor with every check skipped only loads the configuration (nothing is started).
    r = subprocess.run([CALLVAULT, "--config", str(conf), "doctor", "--skip",
                        "interface,capabilities,database,data_dir,disk,key_dir,clock"],
                       capture_output=True, text=True, timeout=60)
    check("the installed config loads (callvault --config ... doctor)", r.returncode == 0, r.stdout + r.stderr)
    tmpfiles = (DEPLOY / "systemd" / "callvault.tmpfiles").read_text()
    check("tmpfiles.d: data dir 0750, keys 0700", "d /var/lib/callvault      0750 callvault callvault" in tmpfiles
          and "d /var/lib/callvault/keys 0700 callvault callvault" in tmpfiles, tmpfiles)
    # A second run keeps the operator's configuration.
    conf.write_text(text + "\n# edited\n")
    subprocess.run([str(DEPLOY / "install.sh"), "--bin", CALLVAULT], capture_output=True, env=env, timeout=120)
    check("a second install keeps the edited configuration", conf.read_text().endswith("# edited\n"))


def service_account_cluster(tmp: Path) -> None:
    """The units run everything as an unprivileged account: the embedded
    PostgreSQL must start, migrate and stop as that account in a data
    directory of mode 0750 that it owns, and leave the mode alone (here the
    account is `nobody`; the same as root with embedded_account = that account)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        print(("FAIL " if CI else "note ") + "the service-account cluster check needs root and setpriv")
        if CI:
            failures.append("service account cluster")
        return
    data = tmp / "data"
    data.mkdir(mode=0o750)
    os.chmod(tmp, 0o755)
    os.chown(data, 65534, 65534)
    os.chmod(data, 0o750)
    conf = tmp / "svc.toml"
    conf.write_text('[storage]\ndata_dir = "%s"\n[database]\nembedded_account = "nobody"\n' % data)
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", CALLVAULT, "--config", str(conf)]
    try:
        for cmd in (as_nobody + ["db", "start"], as_nobody + ["db", "migrate"], [CALLVAULT, "--config", str(conf), "db", "status"]):
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            check("as the service account: %s" % " ".join(cmd[-2:]), r.returncode == 0, r.stdout + r.stderr)
        st = os.stat(data)
        check("data directory still 0750, owned by the account", stat.S_IMODE(st.st_mode) == 0o750 and st.st_uid == 65534,
              "%o uid %d" % (stat.S_IMODE(st.st_mode), st.st_uid))
        for sub in ("postgres", "run"):
            st = os.stat(data / sub)
            check("%s/ 0700 owned by the account" % sub, stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == 65534,
                  "%o uid %d" % (stat.S_IMODE(st.st_mode), st.st_uid))
    finally:
        r = subprocess.run([CALLVAULT, "--config", str(conf), "db", "stop"], capture_output=True, text=True, timeout=300)
        check("db stop (root, embedded_account)", r.returncode == 0, r.stdout + r.stderr)


def main() -> None:
    if not CALLVAULT or not os.access(CALLVAULT, os.X_OK):
        print("FAIL: CALLVAULT_BIN is not set to the callvault binary")
        sys.exit(1)
    if not shutil.which("systemd-analyze"):
        print(("FAIL" if CI else "SKIP") + ": systemd-analyze is missing (apt-get install systemd)")
        sys.exit(1 if CI else 77)
    tmp = Path(tempfile.mkdtemp(prefix="callvault-units-"))
    try:
        verify(tmp)
        security()
        hardening()
        install(tmp)
        service_account_cluster(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d failed: %s" % (len(failures), ", ".join(failures)))
        sys.exit(1)
    print("all passed")


if __name__ == "__main__":
    main()

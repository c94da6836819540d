#!/usr/bin/python3
"""Every example query of docs/AUDITORS.md, run as the auditor against known data.

Contract:
  env CV_TEST_PG_ADMIN_URL  libpq connection string (keyword form or URI) of a
                            PostgreSQL superuser, e.g.
                            "host=/tmp/x/run port=5432 user=callvault_admin dbname=postgres".
                            The cluster must let callvault_auditor connect over the same
                            socket without a password (trust), as the embedded test cluster does.
  env CALLVAULT_BIN         the callvault binary; its `db migrate` applies the schema.

What it does:
 1. creates a database with a random name and applies the migrations with
    `callvault --db <url> db migrate` (migrate(); env CALLVAULT_BIN);
 2. checks the audit schema: only views, every view and column commented, the
    auditor's privileges (SELECT on the views and nothing else), no access to
    the schema callvault, no INSERT/UPDATE/DELETE/TRUNCATE/CREATE anywhere;
 3. inserts, as admin, a small synthetic data set whose times are relative to
    now (office days in Europe/Warsaw), so that every example query has a
    known, non-empty answer; audit entries are appended with
    callvault.audit_append, and one of them is then altered (triggers off);
 4. extracts every ```sql block of docs/AUDITORS.md in order, keyed by the
    heading above it, runs it as callvault_auditor (psql, session time zone
    UTC unless the block sets one) and compares the rows with EXPECTED below.
    A block without an expectation, or an expectation without a block, fails;
 5. inserts ~20k more calls, ANALYZEs, and checks with EXPLAIN that the
    number, time-range and Call-ID lookups on audit.calls (and every example
    query except declared full scans) use an index of callvault.calls;
 6. drops the database.

Standard library only; run with /usr/bin/python3. Exit 0 when every check
passed, 1 otherwise, 77 (ctest SKIP) when CV_TEST_PG_ADMIN_URL, CALLVAULT_BIN or
psql is missing, except with CI=true, where that is a failure.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.parse
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent.parent
DOC = REPO / "docs" / "AUDITORS.md"
MIGRATIONS = REPO / "storage" / "migrations"
UTC = timezone.utc
OFFICE_TZ = ZoneInfo("Europe/Warsaw")
NULL = "<NULL>"  # how psql prints NULL here (-P null=...)
AUDITOR = "callvault_auditor"

# ---------------------------------------------------------------------------
# Connection strings and psql
# ---------------------------------------------------------------------------


def conninfo(base: str, **override: str) -> str:
    """base with some parameters replaced (keyword form or postgres:// URI)."""
    if base.startswith(("postgres://", "postgresql://")):
        u = urllib.parse.urlsplit(base)
        query = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        netloc = u.netloc
        if "user" in override:
            host = netloc.rsplit("@", 1)[-1]
            netloc = urllib.parse.quote(override["user"], safe="") + "@" + host
            query.pop("user", None)
        path = u.path
        if "dbname" in override:
            path = "/" + urllib.parse.quote(override["dbname"], safe="")
            query.pop("dbname", None)
        for k, v in override.items():
            if k not in ("user", "dbname"):
                query[k] = v
        return urllib.parse.urlunsplit((u.scheme, netloc, path, urllib.parse.urlencode(query), ""))
    # keyword form: libpq lets a later keyword override an earlier one
    quoted = []
    for k, v in override.items():
        quoted.append("%s='%s'" % (k, v.replace("\\", "\\\\").replace("'", "\\'")))
    return " ".join([base] + quoted)


class PsqlError(Exception):
    pass


def psql(conn: str, sql: str, tz: str = "UTC", check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PGTZ=tz, PGAPPNAME="test_auditor_queries", PGCLIENTENCODING="UTF8")
    env.pop("PGOPTIONS", None)
    r = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--csv", "-t", "-P", "null=" + NULL,
         "-d", conn, "-f", "-"],
        input=sql, capture_output=True, text=True, env=env, timeout=600)
    if check and r.returncode != 0:
        raise PsqlError("psql failed (%d): %s\n--- SQL ---\n%s" % (r.returncode, r.stderr.strip(), sql))
    return r


def rows(conn: str, sql: str, tz: str = "UTC") -> list[list[str]]:
    out = psql(conn, sql, tz).stdout
    return [row for row in csv.reader(io.StringIO(out))]


def scalar(conn: str, sql: str) -> str:
    r = rows(conn, sql)
    assert len(r) == 1 and len(r[0]) == 1, r
    return r[0][0]


# ---------------------------------------------------------------------------
# The database under test
# ---------------------------------------------------------------------------

def migrate(db_conn: str) -> None:
    """Brings the database to the newest schema with the product's own migrator:
    `callvault --db <db_conn> db migrate` (binary from CALLVAULT_BIN). Every
    shipped storage/migrations/*.sql must be reported as applied."""
    callvault = os.environ.get("CALLVAULT_BIN", "")
    env = dict(os.environ)
    for var in ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE"):
        env.pop(var, None)
    r = subprocess.run([callvault, "--db", db_conn, "db", "migrate"], capture_output=True, text=True,
                       env=env, timeout=300)
    if r.returncode != 0:
        raise PsqlError("callvault db migrate failed (%d): %s%s" % (r.returncode, r.stdout, r.stderr))
    applied = [line.split(" ", 1)[1] for line in r.stdout.splitlines() if line.startswith("applied ")]
    shipped = [f.stem for f in sorted(MIGRATIONS.glob("*.sql"))]
    if applied != shipped:
        raise PsqlError("callvault db migrate applied %s, expected %s:\n%s" % (applied, shipped, r.stdout))


# ---------------------------------------------------------------------------
# Times: the data set is placed on office days relative to today
# ---------------------------------------------------------------------------


def wait_away_from_midnight() -> None:
    """The expectations name office days; avoid a day boundary during the run."""
    while True:
        local = datetime.now(OFFICE_TZ)
        minutes = local.hour * 60 + local.minute
        if 2 <= minutes < 23 * 60 + 57:
            return
        print("waiting: office time %s is too close to midnight" % local.strftime("%H:%M:%S"))
        time.sleep(20)


NOW = None  # datetime (UTC) when the data set was made
TODAY = None  # office date of NOW


def L(days_ago: int, hh: int, mm: int, ss: float = 0.0) -> datetime:
    """Office local time on the day `days_ago` days before today, as UTC."""
    d = TODAY - timedelta(days=days_ago)
    whole = int(ss)
    local = datetime(d.year, d.month, d.day, hh, mm, whole, int(round((ss - whole) * 1e6)),
                     tzinfo=OFFICE_TZ)
    return local.astimezone(UTC)


def pg_ts(t: datetime | None, tz=UTC) -> str:
    """A timestamptz as psql prints it (DateStyle ISO) in time zone tz."""
    if t is None:
        return NULL
    t = t.astimezone(tz)
    s = t.strftime("%Y-%m-%d %H:%M:%S")
    if t.microsecond:
        s += ("." + "%06d" % t.microsecond).rstrip("0")
    off = int(t.utcoffset().total_seconds())
    sign = "+" if off >= 0 else "-"
    off = abs(off)
    s += "%s%02d" % (sign, off // 3600)
    if off % 3600:
        s += ":%02d" % (off % 3600 // 60)
    return s


def sql_ts(t: datetime | None) -> str:
    return "NULL" if t is None else "'%s'::timestamptz" % t.astimezone(UTC).isoformat()


def sql_str(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, datetime):
        return sql_ts(v)
    if isinstance(v, (list, tuple)):
        return "ARRAY[%s]::text[]" % ", ".join(sql_str(x) for x in v) if v else "'{}'::text[]"
    return "'" + str(v).replace("'", "''") + "'"


def u(n: int) -> str:
    return "c0000000-0000-5000-8000-%012d" % n


def sess(n: int) -> str:
    return "5e550000-0000-4000-8000-%012d" % n


def sha(n: int) -> str:
    return hashlib.sha256(b"call %d" % n).hexdigest()


# ---------------------------------------------------------------------------
# The data set
# ---------------------------------------------------------------------------


def build_dataset():
    """Returns (sql, facts): the INSERTs and the values the expectations use."""
    S1, S2, S3, S4, S5 = (sess(i) for i in range(1, 6))
    f = {}  # facts: call number -> dict
    sessions = [
        # uuid, sensor, kind, source, started, stopped, reason, kernel, iface, unmatched, calls, no_media
        (S1, "town-office-1", "live", "eth1", L(10, 8, 0), L(3, 9, 0), "signal", 250, 0, 12, 3, 1),
        (S2, "town-office-1", "live", "eth1", L(3, 9, 30), None, None, 0, 0, 0, 3, 0),
        (S3, "town-office-1", "live", "eth1", L(2, 14, 20), None, None, 120, 5, 0, 3, 1),
        (S4, "town-office-2", "live", "eth2", L(20, 7, 0), None, None, 0, 0, 0, 0, 0),
        (S5, "default", "replay", "tests/pcaps/sample.pcap", L(1, 15, 0), L(1, 15, 5),
         "end_of_input", 3, 0, 0, 0, 0),
    ]
    recent_end = NOW - timedelta(seconds=1)
    intervals = [
        # session, start, end, packets, kernel, iface, unmatched, sip, started, no_media
        (S1, L(5, 10, 0), L(5, 10, 1), 60000, 0, 0, 12, 40, 1, 0),
        (S1, L(4, 10, 0), L(4, 10, 1), 58000, 250, 0, 0, 38, 1, 1),
        (S1, L(3, 8, 59), L(3, 9, 0), 1000, 0, 0, 0, 2, 0, 0),
        (S2, L(2, 13, 59), L(2, 14, 0), 2000, 0, 0, 0, 4, 0, 0),
        (S3, L(1, 10, 0), L(1, 10, 1), 61000, 120, 5, 0, 44, 1, 0),
        (S3, recent_end - timedelta(seconds=60), recent_end, 500, 0, 0, 0, 0, 0, 0),
        (S4, L(4, 11, 59), L(4, 12, 0), 100, 0, 0, 0, 0, 0, 0),
        (S5, L(1, 15, 0), L(1, 15, 1), 9000, 3, 0, 0, 10, 1, 0),
    ]

    def call(n, session, start, secs, caller, callee, direction, answered, status, reason,
             streams=(), audio=True, sha256=True, audio_error=None, duration=None, cid=None,
             expires=None, sensor="town-office-1"):
        end = start + timedelta(seconds=secs)
        answer = start + timedelta(seconds=8) if answered else None
        path = None
        if audio:
            path = "%s/%s.wav.enc" % (start.astimezone(UTC).strftime("%Y/%m/%d"), u(n))
        codecs = []
        for s in streams:
            if s[1] not in codecs:
                codecs.append(s[1])
        c = dict(
            n=n, uuid=u(n), sensor=sensor, session=session,
            cid=cid if cid is not None else ("call-%d@pbx.example.org" % n),
            start=start, answer=answer, end=end, caller=caller, callee=callee,
            direction=direction, codecs=codecs,
            duration=duration if duration is not None else float(secs),
            answered=answered, status=status, reason=reason, streams=list(streams),
            path=path, bytes=(44 + 32000 * int(secs)) if audio else None,
            sha=sha(n) if audio and sha256 else None, rate=8000 if audio else None,
            audio_start=answer + timedelta(seconds=0.25) if audio else None,
            audio_error=audio_error,
            expires=expires if expires is not None else start + timedelta(days=30))
        f[n] = c
        return c

    # streams: (channel, codec, packets, decoded, lost)
    pcma2 = [("caller", "PCMA", 6000, True, 0), ("callee", "PCMA", 6010, True, 3)]
    call(1, S3, L(1, 10, 0), 133.5, "48601234567", "48225551234", "incoming", True, 200, "bye",
         pcma2, duration=125.5, cid="a84b4c76e66710@pc33.example.org")
    call(2, S2, L(2, 10, 0), 3731, "48225551234", "48221234567", "outgoing", True, 200, "bye",
         [("caller", "PCMA", 186250, True, 0), ("callee", "PCMA", 171350, True, 14900)],
         duration=3725.0)
    call(3, S2, L(3, 10, 0), 12, "48501112223", "101", "incoming", False, 487, "cancel",
         audio=False)
    call(4, S2, L(3, 11, 0), 68, "101", "102", "internal", True, 200, "bye",
         [("caller", "PCMU", 3000, True, 0), ("callee", "G729", 3000, False, 0)], duration=60.0)
    call(5, S1, L(4, 10, 0), 42, "+48601234567", "48225551234", "incoming", True, 200, "bye",
         audio=False)
    call(6, S1, L(5, 10, 0), 88, "48225551234", "48601234567", "outgoing", True, 200, "bye",
         pcma2, duration=80.0, sha256=False, audio_error="sha256: Input/output error")
    call(7, None, L(26, 10, 0), 103, "48601234567", "100", "incoming", True, 200, "bye",
         pcma2, duration=95.0)
    c8 = call(8, None, L(40, 10, 0), 69, None, None, "incoming", True, 200, "bye",
              pcma2, duration=61.0, audio=False, expires=L(10, 10, 0))
    c8["cid"] = None
    call(9, S3, L(1, 12, 0), 3, "48226667788", "100", "incoming", False, 486, "rejected",
         audio=False)
    call(10, S3, L(2, 16, 0), 300, "102", "48227778899", "outgoing", True, 200, "bye",
         [("caller", "G729", 15000, False, 0), ("callee", "G729", 15000, False, 0)],
         audio=False)
    # Past its period, kept by a legal hold (0005; placed below).
    call(11, None, L(45, 9, 0), 240, "48229990000", "100", "incoming", True, 200, "bye",
         pcma2, duration=230.0)

    dtmf = [  # call, ordinal, digit, seconds after start, duration, channel, source
        (1, 0, "1", 20.0, 160, "caller", "rfc4733"),
        (1, 1, "2", 21.5, 160, "caller", "rfc4733"),
        (1, 2, "#", 23.25, 0, "caller", "sip_info"),
    ]

    out = ["BEGIN;"]
    for s in sessions:
        out.append(
            "INSERT INTO callvault.capture_sessions (session_uuid, sensor, kind, source, started_at,"
            " stopped_at, stop_reason, packets, bytes, kernel_drops, interface_drops, rtp_unmatched,"
            " calls, calls_without_media, index_records_lost) VALUES (%s);" % ", ".join(
                [sql_str(s[0]), sql_str(s[1]), sql_str(s[2]), sql_str(s[3]), sql_ts(s[4]),
                 sql_ts(s[5]), sql_str(s[6]), "100000", "20000000", str(s[7]), str(s[8]),
                 str(s[9]), str(s[10]), str(s[11]), "0"]))
    for i in intervals:
        out.append(
            "INSERT INTO callvault.coverage_intervals (session_uuid, interval_start, interval_end,"
            " packets, bytes, kernel_drops, interface_drops, rtp_unmatched, sip_messages,"
            " calls_started, calls_without_media, malformed) VALUES (%s);" % ", ".join(
                [sql_str(i[0]), sql_ts(i[1]), sql_ts(i[2]), str(i[3]), str(i[3] * 200), str(i[4]),
                 str(i[5]), str(i[6]), str(i[7]), str(i[8]), str(i[9]), "0"]))
    for c in f.values():
        out.append(
            "INSERT INTO callvault.calls (call_uuid, sensor, session_uuid, sip_call_id, caller, callee,"
            " start_time, answer_time, end_time, direction, codecs, duration_s, answered,"
            " joined_mid_call, final_status, end_reason, stream_count, audio_path, audio_bytes,"
            " audio_sha256, sample_rate, audio_start, audio_error, caller_audio, callee_audio,"
            " expires_at) VALUES (%s);" % ", ".join(
                [sql_str(c["uuid"]), sql_str(c["sensor"]), sql_str(c["session"]), sql_str(c["cid"]),
                 sql_str(c["caller"]), sql_str(c["callee"]), sql_ts(c["start"]), sql_ts(c["answer"]),
                 sql_ts(c["end"]), sql_str(c["direction"]), sql_str(c["codecs"]),
                 sql_str(c["duration"]), sql_str(c["answered"]), "false", str(c["status"]),
                 sql_str(c["reason"]), str(len(c["streams"])), sql_str(c["path"]),
                 sql_str(c["bytes"]), sql_str(c["sha"]), sql_str(c["rate"]),
                 sql_ts(c["audio_start"]), sql_str(c["audio_error"]),
                 # as the writer fills them: some stream of that party decoded
                 sql_str(any(s[0] == "caller" and s[3] for s in c["streams"])),
                 sql_str(any(s[0] == "callee" and s[3] for s in c["streams"])),
                 sql_ts(c["expires"])]))
        for o, (channel, codec, packets, decoded, lost) in enumerate(c["streams"]):
            first = (c["answer"] or c["start"]) + timedelta(seconds=0.25 + 0.01 * o)
            ssrc = 0x5A330000 + c["n"] * 16 + o
            pt = {"PCMA": 8, "PCMU": 0, "G729": 18}[codec]
            c["streams"][o] = dict(channel=channel, codec=codec, packets=packets, decoded=decoded,
                                   lost=lost, ssrc=ssrc, src_ip="10.1.0.%d" % (10 + o),
                                   src_port=16000 + 2 * o, dst_ip="10.1.0.%d" % (11 - o),
                                   dst_port=17000 + 2 * o)
            s = c["streams"][o]
            out.append(
                "INSERT INTO callvault.streams (call_uuid, ordinal, ssrc, src_ip, src_port, dst_ip,"
                " dst_port, codec, payload_types, packets, lost, duplicates, late, channel, decoded,"
                " first_packet, offset_samples, call_start_time) VALUES (%s);" % ", ".join(
                    [sql_str(c["uuid"]), str(o), str(ssrc), sql_str(s["src_ip"]), str(s["src_port"]),
                     sql_str(s["dst_ip"]), str(s["dst_port"]), sql_str(codec), "ARRAY[%d]" % pt,
                     str(packets), str(lost), "0", "0", sql_str(channel), sql_str(decoded),
                     sql_ts(first), "0" if decoded else "-1", sql_ts(c["start"])]))
    for n, o, digit, secs, dur, channel, source in dtmf:
        at = f[n]["start"] + timedelta(seconds=secs)
        out.append(
            "INSERT INTO callvault.dtmf_events (call_uuid, ordinal, digit, at, duration_ms, channel,"
            " source) VALUES (%s);" % ", ".join(
                [sql_str(u(n)), str(o), sql_str(digit), sql_ts(at), str(dur), sql_str(channel),
                 sql_str(source)]))
    # The audit trail (0003): people, access to call 1, a disclosure, a deletion
    # by retention (call 8, expired), appended the only way there is.
    audit = [  # actor, action, subject, details
        ("os:root", "person.added", "Anna Nowak", {"role": "secretary", "os_user": "root"}),
        ("os:root", "person.added", "Jan Kowalski", {"role": "mayor", "os_user": "root"}),
        ("Anna Nowak", "person.added", "Piotr Serwis", {"role": "technician", "os_user": "anowak"}),
        ("Jan Kowalski", "play.granted", u(1),
         {"role": "mayor", "reason": "complaint about the call", "os_user": "jkowalski"}),
        ("Piotr Serwis", "play.refused", u(1),
         {"role": "technician", "reason": "audio test after repair", "statement": "OZ-7/2024",
          "refusal": "no it_admin present", "os_user": "serwis"}),
        ("Anna Nowak", "export.granted", u(1),
         {"role": "secretary", "reason": "evidence for the police", "file_sha256": sha(1),
          "output": "/home/anowak/call1.wav", "os_user": "anowak"}),
        ("Anna Nowak", "disclosure.approved", "1",
         {"role": "secretary", "authority": "Komenda Powiatowa Policji w Łobzie",
          "basis": "art. 15 § 1 kpk", "os_user": "anowak"}),
        ("retention", "recording.deleted", u(8),
         {"file_sha256": sha(8), "rule": "1 month", "expired_at": f[8]["expires"].isoformat()}),
    ]
    for actor, action, subject, details in audit:
        out.append("SELECT callvault.audit_append(%s, %s, %s, %s::jsonb);" % (
            sql_str(actor), sql_str(action), sql_str(subject),
            sql_str(json.dumps(details, ensure_ascii=False))))
    # A legal hold on call 11 (R6), as `callvault hold place` writes it.
    out.append("INSERT INTO callvault.legal_holds (case_ref, basis, selection, placed_by) VALUES "
               "('II K 123/26', 'art. 217 kpk, postanowienie prokuratora', %s::jsonb, 'Anna Nowak');"
               % sql_str(json.dumps({"calls": [u(11)]})))
    out.append("INSERT INTO callvault.held_calls (hold_id, call_uuid) VALUES (1, %s);" % sql_str(u(11)))
    # Tampering, as only a superuser can do it (triggers off): entry 2 altered.
    out.append("ALTER TABLE callvault.audit_log DISABLE TRIGGER ALL;")
    out.append("UPDATE callvault.audit_log SET details = details || '{\"role\": \"secretary\"}'"
               " WHERE seq = 2;")
    out.append("ALTER TABLE callvault.audit_log ENABLE TRIGGER ALL;")
    out.append("COMMIT;")
    return "\n".join(out) + "\n", dict(calls=f, dtmf=dtmf, audit=audit)


# ---------------------------------------------------------------------------
# Expected results of the example queries, keyed by their heading
# ---------------------------------------------------------------------------


def fmt_num(x: float) -> str:
    """double precision as psql prints it (shortest round trip)."""
    r = repr(float(x))
    return r[:-2] if r.endswith(".0") else r


def expectations(facts) -> dict[str, list[list[str]]]:
    c = facts["calls"]

    def b(v):
        return "t" if v else "f"

    def calls_row(n, *cols, tz=UTC):
        x = c[n]
        m = {
            "uuid": x["uuid"], "sensor": x["sensor"], "start_time": pg_ts(x["start"], tz),
            "answer_time": pg_ts(x["answer"], tz), "end_time": pg_ts(x["end"], tz),
            "caller": x["caller"] or NULL, "callee": x["callee"] or NULL,
            "direction": x["direction"], "answered": b(x["answered"]),
            "duration_s": fmt_num(x["duration"]), "has_audio": b(x["path"] is not None),
            "end_reason": x["reason"], "final_status": str(x["status"]),
            "audio_path": x["path"] or NULL, "audio_sha256": x["sha"] or NULL,
            "audio_error": x["audio_error"] or NULL, "expires_at": pg_ts(x["expires"], tz),
            "codecs": "{" + ",".join(x["codecs"]) + "}",
        }
        return [m[k] for k in cols]

    month_start = datetime(TODAY.year, TODAY.month, 1, tzinfo=OFFICE_TZ)
    gaps = [  # sensor, kind, start, end, kernel, iface, stop_reason
        ("town-office-1", "packet_drops", L(4, 10, 0), L(4, 10, 1), "250", "0", NULL),
        ("town-office-1", "between_sessions", L(3, 9, 0), L(3, 9, 30), NULL, NULL, "signal"),
        ("town-office-1", "recorder_died", L(2, 14, 0), L(2, 14, 20), NULL, NULL, NULL),
        ("town-office-1", "packet_drops", L(1, 10, 0), L(1, 10, 1), "120", "5", NULL),
        ("town-office-2", "recorder_silent", L(4, 12, 0), None, NULL, NULL, NULL),
    ]

    def length(a, z):
        if z is None:
            return NULL
        s = int((z - a).total_seconds())
        return "%02d:%02d:%02d" % (s // 3600, s % 3600 // 60, s % 60)

    this_month_gaps = [
        [g[0], g[1], pg_ts(g[2]), pg_ts(g[3]), length(g[2], g[3]), g[4], g[5], g[6]]
        for g in gaps if (g[3] or NOW) >= month_start]

    def day(k):
        return (TODAY - timedelta(days=k)).isoformat()

    s2 = c[2]["streams"][1]
    e = {}
    e["Calls of a number in the last 7 days (as caller or callee)"] = [
        calls_row(n, "start_time", "direction", "caller", "callee", "answered", "duration_s",
                  "has_audio", "uuid") for n in (6, 5, 1)]
    e["Yesterday's calls, in office time (the first 100)"] = [
        calls_row(n, "start_time", "end_time", "direction", "caller", "callee", "answered",
                  "duration_s", tz=OFFICE_TZ) for n in (1, 9)]
    e["A call by its SIP Call-ID"] = [
        calls_row(1, "uuid", "sensor", "start_time", "answer_time", "end_time", "caller", "callee",
                  "direction", "end_reason", "duration_s", "audio_path", "audio_sha256")]
    e["Calls longer than an hour (last 30 days)"] = [
        calls_row(2, "start_time", "end_time", "direction", "caller", "callee") + ["62", u(2)]]
    e["Daily call counts per direction (last 7 office days)"] = [
        [day(5), "outgoing", "1", "1", "1"],
        [day(4), "incoming", "1", "1", "0"],
        [day(3), "incoming", "1", "0", "0"],
        [day(3), "internal", "1", "1", "1"],
        [day(2), "outgoing", "2", "2", "1"],
        [day(1), "incoming", "2", "1", "1"],
    ]
    e["Incoming calls that were never answered (last 7 days)"] = [
        calls_row(3, "start_time", "caller", "callee", "end_reason", "final_status") + ["00:00:12"],
        calls_row(9, "start_time", "caller", "callee", "end_reason", "final_status") + ["00:00:03"],
    ]
    e["Answered calls without media (last 7 days)"] = [
        calls_row(n, "start_time", "direction", "caller", "callee", "answered") + [
            b(c[n]["answered"]), c[n]["reason"], str(c[n]["status"]), u(n)]
        for n in (5, 3, 9) if c[n]["answered"]]
    e["One-sided calls (last 7 days)"] = [
        calls_row(4, "start_time", "direction", "caller", "callee")
        + ["caller", "callee", "1", "{G729}", u(4)]]
    e["Answered calls with media but no complete audio file (last 7 days)"] = [
        calls_row(n, "start_time", "direction", "caller", "callee", "codecs", "has_audio",
                  "audio_error", "uuid") for n in (6, 10)]
    e["Streams with more than 5% packet loss (last 7 days)"] = [
        [pg_ts(c[2]["start"]), u(2), "0x%08X" % s2["ssrc"], "callee", "PCMA", s2["src_ip"],
         str(s2["src_port"]), s2["dst_ip"], str(s2["dst_port"]), "171350", "14900", "8.00"]]
    e["DTMF digits of a call"] = [
        [str(o), pg_ts(c[n]["start"] + timedelta(seconds=secs)), "%.3f" % secs, digit, ch, src,
         str(dur)] for n, o, digit, secs, dur, ch, src in facts["dtmf"] if n == 1]
    e["Recordings expiring in the next 7 days (the first 100)"] = [
        calls_row(7, "expires_at", "start_time", "direction", "caller", "callee", "uuid")]
    e["Coverage gaps this month"] = this_month_gaps
    e["Capture drops per day (last 30 office days)"] = [
        [day(4), "town-office-1", "58000", "250", "0", "0.429"],
        [day(1), "town-office-1", "61000", "120", "5", "0.204"],
    ]
    e["Capture sessions of the last 30 days and their state"] = [
        ["default", "replay", pg_ts(L(1, 15, 0)), pg_ts(L(1, 15, 5)), "end_of_input", "stopped",
         "3", "0", "0", "0"],
        ["town-office-1", "live", pg_ts(L(10, 8, 0)), pg_ts(L(3, 9, 0)), "signal", "stopped",
         "250", "0", "1", "0"],
        ["town-office-1", "live", pg_ts(L(3, 9, 30)), NULL, NULL, "died", "0", "0", "0", "0"],
        ["town-office-1", "live", pg_ts(L(2, 14, 20)), NULL, NULL, "running", "120", "5", "1",
         "0"],
        ["town-office-2", "live", pg_ts(L(20, 7, 0)), NULL, NULL, "silent", "0", "0", "0", "0"],
    ]
    e["Integrity check: every call with audio has a SHA-256"] = [
        calls_row(6, "start_time", "uuid", "audio_path", "audio_sha256", "audio_error")]
    at = facts["audit_at"]  # seq -> at as psql prints it (UTC)
    e["Who listened to or exported a recording"] = [
        [at["4"], "Jan Kowalski", "mayor", "play", "granted", "complaint about the call", NULL],
        [at["5"], "Piotr Serwis", "technician", "play", "refused", "audio test after repair",
         "no it_admin present"],
        [at["6"], "Anna Nowak", "secretary", "export", "granted", "evidence for the police", NULL],
    ]
    e["Refused access (last 30 days)"] = [
        [at["5"], "Piotr Serwis", "technician", "play", u(1), "audio test after repair",
         "no it_admin present", NULL, "OZ-7/2024"]]
    e["Disclosures to authorities (last 12 months)"] = [
        [at["7"], "Anna Nowak", "approved", "1", "Komenda Powiatowa Policji w Łobzie",
         "art. 15 § 1 kpk"]]
    e["Recordings deleted by retention (last 30 days)"] = [
        ["8", at["8"], u(8), sha(8), "1 month"]]
    e["Legal holds in force"] = [
        ["1", "II K 123/26", "art. 217 kpk, postanowienie prokuratora", "Anna Nowak",
         facts["hold_at"], "1"]]
    e["Recordings kept past their period, and why"] = [
        calls_row(11, "uuid", "start_time", "expires_at") + ["legal hold 1 (case II K 123/26)"]]
    e["Integrity check: the audit trail is unbroken"] = [
        ["2", at["2"], "os:root", "person.added", "Jan Kowalski", "f", "t"]]
    return e


# Example queries allowed to read every call (none since the integrity check
# has its partial index, calls_bad_sha256).
FULL_SCAN_OK: set[str] = set()

# ---------------------------------------------------------------------------
# The document
# ---------------------------------------------------------------------------


def sql_blocks(text: str) -> list[tuple[str, str]]:
    """(heading, sql) of every ```sql block; heading: the nearest heading above it."""
    heading, current, other_fence, out = "", None, False, []
    for line in text.splitlines():
        if current is not None:
            if line.strip() == "```":
                out.append((heading, "\n".join(current) + "\n"))
                current = None
            else:
                current.append(line)
        elif other_fence:
            other_fence = not line.startswith("```")
        elif line.strip() == "```sql":
            current = []
        elif line.startswith("```"):
            other_fence = True  # e.g. ```sh: its '#' lines are not headings
        elif line.startswith("#"):
            heading = line
    if current is not None:
        out.append((heading, "\n".join(current) + "\n"))  # unterminated: run it anyway
    return out


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


class Results:
    def __init__(self):
        self.passed, self.failed = [], []

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        (self.passed if ok else self.failed).append(name)
        print(("PASS  " if ok else "FAIL  ") + name)
        if not ok and detail:
            for line in detail.rstrip().splitlines():
                print("      " + line)
        return ok


def show(rs: list[list[str]]) -> str:
    return "\n".join("  " + " | ".join(r) for r in rs) if rs else "  (no rows)"


# The views of the audit trail (0003): the auditor reads them, the retention role does not.
AUDIT_TRAIL_VIEWS = {"access_log", "audit_trail"}

REFUSALS = ("permission denied", "must be owner", "cannot insert into view",
            "cannot update view", "cannot delete from view")


def check_schema(res: Results, admin_db: str, auditor: str) -> None:
    bad = rows(admin_db, """
        SELECT c.relname || ' (relkind ' || c.relkind::text || ')'
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'audit' AND c.relkind <> 'v' ORDER BY 1""")
    res.check("schema audit holds only views", not bad, show(bad))
    views = [r[0] for r in rows(admin_db, """
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'audit' AND c.relkind = 'v' ORDER BY 1""")]
    want = {"calls", "streams", "dtmf", "capture_sessions", "coverage_intervals", "coverage_gaps",
            "calls_without_media", "one_sided_calls", "calls_per_hour",
            "coverage_per_hour", "legal_holds", "held_calls", "restrictions", "disclosures",
            "deletions", "retention_findings", "retention_blocked"} | AUDIT_TRAIL_VIEWS
    res.check("audit views present: " + ", ".join(sorted(want)), want <= set(views),
              "missing: %s" % sorted(want - set(views)))
    cols = rows(admin_db, """
        SELECT c.relname, a.attname FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'audit' AND a.attnum > 0 AND NOT a.attisdropped
           AND col_description(c.oid, a.attnum) IS NULL ORDER BY 1, 2""")
    res.check("every audit column has a COMMENT", not cols, show(cols))
    nocomment = rows(admin_db, """
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'audit' AND obj_description(c.oid, 'pg_class') IS NULL ORDER BY 1""")
    res.check("every audit view has a COMMENT", not nocomment, show(nocomment))
    invoker = rows(admin_db, """
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'audit' AND c.reloptions::text LIKE '%security_invoker=true%'""")
    res.check("no audit view is security_invoker", not invoker, show(invoker))
    req = ["uuid", "sip_call_id", "start_time", "end_time", "caller", "callee", "direction",
           "duration_s", "end_reason", "audio_sha256", "media_seen", "expires_at"]
    have = {r[0] for r in rows(admin_db, """
        SELECT attname FROM pg_attribute WHERE attrelid = 'audit.calls'::regclass AND attnum > 0""")}
    res.check("audit.calls has the required columns", set(req) <= have,
              "missing: %s" % sorted(set(req) - have))

    # Privileges, as the catalog says them ...
    privs = rows(admin_db, """
        SELECT r.rolname, n.nspname || '.' || c.relname, p.priv,
               has_table_privilege(r.rolname, c.oid, p.priv)
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         CROSS JOIN (VALUES ('callvault_auditor'), ('callvault_retention')) r(rolname)
         CROSS JOIN (VALUES ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'),
                            ('REFERENCES'), ('TRIGGER')) p(priv)
         WHERE n.nspname = 'audit' AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
         ORDER BY 1, 2, 3""")
    # The retention service appends to the audit trail but does not read it.
    wrong = [r for r in privs
             if (r[3] == "t") != (r[2] == "SELECT" and not (
                 r[0] == "callvault_retention" and r[1].split(".")[1] in AUDIT_TRAIL_VIEWS))]
    res.check("auditor: SELECT on every audit view and nothing more; retention: the same except "
              "the audit trail views (none)", not wrong and privs != [], show(wrong))
    tables = rows(admin_db, """
        SELECT n.nspname || '.' || c.relname FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'callvault' AND c.relkind IN ('r', 'p', 'v', 'm') ORDER BY 1""")
    tables = [t[0] for t in tables]
    granted = rows(admin_db, """
        SELECT n.nspname || '.' || c.relname, p.priv FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         CROSS JOIN (VALUES ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE')) p(priv)
         WHERE n.nspname = 'callvault' AND has_table_privilege('callvault_auditor', c.oid, p.priv)""")
    usage = scalar(admin_db, "SELECT has_schema_privilege('callvault_auditor', 'callvault', 'USAGE')")
    create = scalar(admin_db, """
        SELECT has_schema_privilege('callvault_auditor', 'audit', 'CREATE')
            OR has_schema_privilege('callvault_auditor', 'public', 'CREATE')
            OR has_schema_privilege('callvault_auditor', 'callvault', 'CREATE')""")
    res.check("auditor has no privilege on schema callvault or its tables",
              usage == "f" and not granted, "USAGE=%s\n%s" % (usage, show(granted)))
    res.check("auditor cannot CREATE in audit, public or callvault", create == "f")

    # ... and as the server enforces them.
    who = rows(auditor, "SELECT current_user, session_user, usesuper FROM pg_user WHERE usename = current_user")
    res.check("auditor session runs as callvault_auditor, not a superuser",
              who == [[AUDITOR, AUDITOR, "f"]], show(who))
    attempts = []
    for t in tables:
        attempts.append(("SELECT from " + t, "SELECT 1 FROM %s LIMIT 1;" % t))
    attempts += [
        ("INSERT into callvault.calls",
         "INSERT INTO callvault.calls (call_uuid) VALUES (gen_random_uuid());"),
        ("UPDATE callvault.calls", "UPDATE callvault.calls SET caller = 'x';"),
        ("DELETE from callvault.calls", "DELETE FROM callvault.calls;"),
        ("TRUNCATE callvault.calls", "TRUNCATE callvault.calls;"),
        ("CREATE VIEW in audit", "CREATE VIEW audit.mine AS SELECT 1 AS x;"),
        ("CREATE TABLE in public", "CREATE TABLE public.mine (x int);"),
        ("ALTER an audit view", "ALTER VIEW audit.calls RENAME TO calls2;"),
        ("DROP an audit view", "DROP VIEW audit.calls;"),
        ("SET ROLE to the admin", "SET ROLE callvault_admin;"),
        ("SET ROLE callvault_writer", "SET ROLE callvault_writer;"),
    ]
    # The second column where there is one: the first is often an identity
    # column (hold_id...), which PostgreSQL refuses to update before it looks
    # at privileges, so the attempt would not test them.
    first_column = dict(rows(admin_db, """
        SELECT DISTINCT ON (c.relname) c.relname, a.attname FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'audit' AND a.attnum IN (1, 2)
         ORDER BY c.relname, a.attnum DESC"""))
    for v in views:
        attempts += [
            ("INSERT into audit." + v, "INSERT INTO audit.%s DEFAULT VALUES;" % v),
            ("UPDATE audit." + v, "UPDATE audit.%s SET %s = %s;" % (v, first_column[v], first_column[v])),
            ("DELETE from audit." + v, "DELETE FROM audit.%s;" % v),
        ]
    refused = []
    for name, sql in attempts:
        r = psql(auditor, sql, check=False)
        ok = r.returncode != 0 and any(m in r.stderr for m in REFUSALS)
        if not ok:
            refused.append("%s: rc=%d %s" % (name, r.returncode, r.stderr.strip()[:200]))
    res.check("auditor is refused: %d attempts to read callvault, write, create, alter, "
              "escalate" % len(attempts), not refused, "\n".join(refused))
    readable = []
    for v in views:
        r = psql(auditor, "SELECT count(*) FROM audit.%s;" % v, check=False)
        if r.returncode != 0:
            readable.append("audit.%s: %s" % (v, r.stderr.strip()))
    res.check("auditor can SELECT every audit view", not readable, "\n".join(readable))


def check_examples(res: Results, auditor: str, expected: dict) -> list[tuple[str, str]]:
    blocks = sql_blocks(DOC.read_text(encoding="utf-8"))
    res.check("docs/AUDITORS.md has at least 12 example queries (%d)" % len(blocks),
              len(blocks) >= 12)
    seen = set()
    for heading, sql in blocks:
        key = heading.lstrip("#").strip()
        name = "example: " + key
        if not heading.startswith("### "):
            res.check(name, False, "the sql block is not under a '### ' heading: %r" % heading)
            continue
        if key in seen:
            res.check(name, False, "two sql blocks under one heading")
            continue
        seen.add(key)
        if key not in expected:
            res.check(name, False, "no expectation declared in the test for this heading")
            continue
        want = expected[key]
        r = psql(auditor, sql, check=False)
        if r.returncode != 0:
            res.check(name, False, "failed: " + r.stderr.strip())
            continue
        got = [row for row in csv.reader(io.StringIO(r.stdout))]
        ok = got == want and len(want) > 0
        detail = ""
        if not ok:
            detail = "expected:\n%s\ngot:\n%s" % (show(want), show(got))
            if not want:
                detail = "the expectation is empty: choose data so the query has rows\n" + detail
        res.check("%s (%d rows)" % (name, len(got)), ok, detail)
    for key in expected:
        if key not in seen:
            res.check("expectation used: " + key, False,
                      "declared in the test but no sql block under this heading in the doc")
    return [(h.lstrip("#").strip(), s) for h, s in blocks]


BULK = """
BEGIN;
INSERT INTO callvault.calls (call_uuid, sensor, sip_call_id, caller, callee, start_time,
  answer_time, end_time, direction, codecs, duration_s, answered, joined_mid_call, final_status,
  end_reason, stream_count, audio_path, audio_bytes, audio_sha256, sample_rate, audio_start,
  caller_audio, callee_audio, expires_at)
SELECT md5('bulk' || g)::uuid, 'bulk', md5('cid' || g) || '@bulk.example',
       '4870' || lpad((g %% 5000)::text, 7, '0'), '48225' || lpad((g %% 997)::text, 6, '0'),
       t, t + interval '5 s', t + interval '125 s',
       (ARRAY['incoming', 'outgoing', 'internal'])[1 + g %% 3], '{PCMA}', 120, true, false, 200,
       'bye', 2, 'bulk/' || g || '.wav.enc', 1920044, md5(g::text) || md5(g::text), 8000,
       t + interval '5 s', true, true, t + interval '30 days'
  FROM generate_series(1, %(n)d) g,
       LATERAL (SELECT now() - interval '1 hour'
                       - (g::double precision / %(n)d) * interval '730 days' AS t) x;
INSERT INTO callvault.streams (call_uuid, ordinal, ssrc, src_ip, src_port, dst_ip, dst_port,
  codec, payload_types, packets, lost, duplicates, late, channel, decoded, first_packet,
  offset_samples, call_start_time)
SELECT c.call_uuid, o, 1000 + o, '10.9.0.1', 10000 + o, '10.9.0.2', 20000 + o, 'PCMA', '{8}',
       6000, o * 7, 0, 0, CASE WHEN o = 0 THEN 'caller' ELSE 'callee' END, true,
       c.start_time + interval '5 s', 0, c.start_time
  FROM callvault.calls c, generate_series(0, 1) o WHERE c.sensor = 'bulk';
COMMIT;
ANALYZE;
"""

INDEX_RE = re.compile(r"(Index Scan|Index Only Scan)( Backward)? using calls_\w+ on calls\b"
                      r"|Bitmap Index Scan on calls_\w+")
SEQ_RE = re.compile(r"Seq Scan on calls\b")


def explain(auditor: str, sql: str) -> str:
    stmts = [s for s in sql.strip().rstrip(";").split(";")]
    prefix = ";".join(stmts[:-1]) + (";" if len(stmts) > 1 else "")
    r = psql(auditor, prefix + "\nEXPLAIN " + stmts[-1] + ";", check=False)
    if r.returncode != 0:
        return "EXPLAIN failed: " + r.stderr
    return "\n".join(row[0] for row in csv.reader(io.StringIO(r.stdout)) if row)


def check_plans(res: Results, admin_db: str, auditor: str, blocks) -> None:
    n = 20000
    psql(admin_db, BULK % {"n": n})
    total = scalar(admin_db, "SELECT count(*) FROM callvault.calls")
    print("info  %s calls after the bulk insert, analyzed" % total)
    lookups = {
        "by number (caller or callee)":
            "SELECT * FROM audit.calls WHERE caller = '48700000042' OR callee = '48700000042'",
        "by number in the last 7 days":
            "SELECT * FROM audit.calls WHERE (caller = '48700000042' OR callee = '48700000042')"
            " AND start_time >= now() - interval '7 days'",
        "by time range (last day)":
            "SELECT * FROM audit.calls WHERE start_time >= now() - interval '1 day'",
        "by time range (between two times)":
            "SELECT * FROM audit.calls WHERE start_time >= now() - interval '40 days'"
            " AND start_time < now() - interval '39 days'",
        "by SIP Call-ID":
            "SELECT * FROM audit.calls WHERE sip_call_id = md5('cid42') || '@bulk.example'",
        "by expiry":
            "SELECT * FROM audit.calls WHERE expires_at < now() + interval '1 day'"
            " AND expires_at >= now()",
        "streams of calls by time range":
            "SELECT * FROM audit.streams WHERE call_start_time >= now() - interval '1 day'",
        "one-sided calls by time range":
            "SELECT * FROM audit.one_sided_calls WHERE start_time >= now() - interval '1 day'",
        "calls without media by number":
            "SELECT * FROM audit.calls_without_media WHERE caller = '48700000042'",
    }
    for name, sql in lookups.items():
        plan = explain(auditor, sql)
        res.check("plan uses an index of callvault.calls: " + name,
                  bool(INDEX_RE.search(plan)) and not SEQ_RE.search(plan), plan)
    for key, sql in blocks:
        plan = explain(auditor, sql)
        if plan.startswith("EXPLAIN failed"):
            res.check("plan of example: " + key, False, plan)
        elif key in FULL_SCAN_OK:
            res.check("plan of example (full scan allowed): " + key, True)
        elif SEQ_RE.search(plan):
            res.check("plan of example reads no whole calls table: " + key, False, plan)
        else:
            res.check("plan of example reads no whole calls table: " + key, True)


def main() -> int:
    global NOW, TODAY
    admin = os.environ.get("CV_TEST_PG_ADMIN_URL", "")
    ci = os.environ.get("CI") == "true"
    callvault = os.environ.get("CALLVAULT_BIN", "")
    if not admin or not shutil.which("psql") or not os.access(callvault, os.X_OK):
        why = ("CV_TEST_PG_ADMIN_URL is not set" if not admin else
               "psql is not installed" if not shutil.which("psql") else
               "CALLVAULT_BIN (%r) is not an executable" % callvault)
        print("test_auditor_queries: %s: %s" % ("FAIL (CI=true)" if ci else "SKIP", why),
              file=sys.stderr)
        return 1 if ci else 77

    res = Results()
    dbname = "cv_audit_test_" + secrets.token_hex(6)
    admin_db = conninfo(admin, dbname=dbname)
    auditor = conninfo(admin, dbname=dbname, user=AUDITOR)
    psql(admin, 'CREATE DATABASE "%s";' % dbname)
    print("info  database %s" % dbname)
    try:
        try:
            migrate(admin_db)
            res.check("migrations apply (%s)" % ", ".join(p.name for p in sorted(MIGRATIONS.glob("*.sql"))), True)
        except PsqlError as e:
            res.check("migrations apply", False, str(e))
            raise
        check_schema(res, admin_db, auditor)

        wait_away_from_midnight()
        NOW = datetime.now(UTC).replace(microsecond=0)
        TODAY = NOW.astimezone(OFFICE_TZ).date()
        data_sql, facts = build_dataset()
        psql(admin_db, data_sql)
        facts["audit_at"] = dict(rows(admin_db, "SELECT seq, at FROM callvault.audit_log"))
        facts["hold_at"] = rows(admin_db, "SELECT placed_at FROM callvault.legal_holds")[0][0]
        print("info  data set inserted (office day %s, now %s)" % (TODAY, pg_ts(NOW)))
        blocks = check_examples(res, auditor, expectations(facts))
        if datetime.now(UTC).astimezone(OFFICE_TZ).date() != TODAY:
            res.check("the office day did not change during the run", False, "rerun the test")
        check_plans(res, admin_db, auditor, blocks)
    except PsqlError as e:
        res.check("unexpected psql failure", False, str(e))
    finally:
        r = psql(admin, 'DROP DATABASE IF EXISTS "%s" WITH (FORCE);' % dbname, check=False)
        if r.returncode != 0:
            res.check("drop database " + dbname, False, r.stderr)

    print()
    print("test_auditor_queries: %d passed, %d failed" % (len(res.passed), len(res.failed)))
    for name in res.failed:
        print("  FAILED: " + name)
    return 0 if not res.failed else 1


if __name__ == "__main__":
    sys.exit(main())

-- callvault index, version 3: people and their roles (R8), and the append-only,
-- tamper-evident audit trail of everything done with the recordings (R7, R9, R10).
-- Applied by `callvault db migrate` inside one transaction, after 0002.
--
-- ---------------------------------------------------------------------------
-- The audit trail's hash chain (the contract between this file and
-- storage/db/audit_trail.cpp, which recomputes it in `callvault audit verify`)
-- ---------------------------------------------------------------------------
-- Every entry of callvault.audit_log carries
--   hash = lowercase hex SHA-256 of the UTF-8 bytes of the canonical text
-- and prev_hash = the hash of the entry with seq - 1, or 64 zeros ("0000...0")
-- for seq 1. The canonical text (version 1) is nine lines, each ending in "\n":
--
--   callvault-audit-v1
--   F(seq)        seq in decimal, e.g. "42"
--   F(at)         at as whole microseconds since 1970-01-01 00:00:00 UTC, in
--                 decimal: (extract(epoch FROM at) * 1000000)::bigint
--   F(actor)
--   F(action)
--   F(subject)    NULL allowed
--   F(details)    details::text, PostgreSQL's own rendering of the jsonb value
--                 (keys sorted, one space after ':' and ','), e.g. {"role": "mayor"}
--   F(prev_hash)
--
-- where F(NULL) = "-" and F(v) = <number of UTF-8 bytes of v in decimal> ":" v.
-- Example: seq 1, at 2024-08-29 10:00:00 UTC, actor "os:root", action
-- "person.added", subject "Jan Kowalski", details {"role": "mayor"} hashes
--   "callvault-audit-v1\n1:1\n16:1724925600000000\n7:os:root\n12:person.added\n"
--   "12:Jan Kowalski\n17:{\"role\": \"mayor\"}\n64:0000...0000\n"
-- to 694dbfe5460ef9a4261c7e57c937321244aae1b5eabdaa94c0fbb1db8ad2b49a.
-- The length prefixes make the text unambiguous whatever the fields contain.
--
-- What the chain proves: an entry altered after the fact no longer matches its
-- hash (altered); an entry rewritten together with its hash no longer matches
-- the prev_hash of the entry after it (chain broken); a removed entry leaves a
-- gap in seq (removed), and entries removed from the end leave
-- callvault.audit_head ahead of the log. Only a superuser can do any of this
-- (after disabling the triggers below); one who rewrites the whole chain and
-- the head is caught only by comparing the head (seq and hash, printed by
-- `callvault audit verify`) with a copy kept elsewhere.
--
-- ---------------------------------------------------------------------------
-- Actions (audit_log.action: lowercase words joined by dots)
-- ---------------------------------------------------------------------------
--   person.added, person.disabled       subject: the person's name
--   play.granted, play.refused          subject: recording uuid
--   export.granted, export.refused      subject: recording uuid
--   disclosure.requested, disclosure.approved, disclosure.refused,
--   disclosure.exported                 subject: disclosure id
--   subject_access.exported, subject_access.refused
--   hold.placed, hold.released          subject: hold id
--   recording.deleted                   subject: recording uuid; details only
--                                       file hash, rule and times (R7: no
--                                       personal data of the call)
-- Conventional details keys: os_user (who ran the command), role, reason,
-- refusal (why refused), present (the it_admin present), statement
-- (confidentiality statement reference), basis (legal basis), authority,
-- case, output, file_sha256, rule.

-- Cluster-wide role for the human-facing commands (person, hold, play, export,
-- disclosure), created the same race-safe way as in 0001.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'callvault_operator') THEN
    CREATE ROLE callvault_operator LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END
$$;

-- ---------------------------------------------------------------------------
-- People (R8). Roles are free text; callvault checks them against the
-- configuration ([access] roles). People are disabled, never deleted: audit
-- entries name them.
-- ---------------------------------------------------------------------------
CREATE TABLE callvault.persons (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name        text NOT NULL UNIQUE
                CHECK (name <> '' AND name = btrim(name) AND name !~ '[[:cntrl:]]'
                       AND length(name) <= 200),
  role        text NOT NULL CHECK (role ~ '^[a-z][a-z0-9_]{0,62}$'),
  created_at  timestamptz NOT NULL DEFAULT now(),
  created_by  text NOT NULL CHECK (created_by <> ''),
  disabled_at timestamptz,
  disabled_by text,
  CHECK ((disabled_at IS NULL) = (disabled_by IS NULL))
);

CREATE FUNCTION callvault.persons_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'people are disabled, never deleted (callvault person disable)'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.id <> OLD.id OR NEW.name <> OLD.name OR NEW.role <> OLD.role
     OR NEW.created_at <> OLD.created_at OR NEW.created_by <> OLD.created_by THEN
    RAISE EXCEPTION 'a person''s name, role and creation are not changed: disable the person and add a new one'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF OLD.disabled_at IS NOT NULL
     AND (NEW.disabled_at IS DISTINCT FROM OLD.disabled_at OR NEW.disabled_by IS DISTINCT FROM OLD.disabled_by) THEN
    RAISE EXCEPTION 'person % is disabled for good', OLD.name USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER persons_guard BEFORE UPDATE OR DELETE ON callvault.persons
  FOR EACH ROW EXECUTE FUNCTION callvault.persons_guard();
CREATE FUNCTION callvault.persons_no_truncate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'people are disabled, never deleted: TRUNCATE refused' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER persons_no_truncate BEFORE TRUNCATE ON callvault.persons
  FOR EACH STATEMENT EXECUTE FUNCTION callvault.persons_no_truncate();

-- ---------------------------------------------------------------------------
-- The audit trail (R7, R9)
-- ---------------------------------------------------------------------------
CREATE TABLE callvault.audit_log (
  seq       bigint PRIMARY KEY,      -- 1, 2, 3, ... without gaps
  at        timestamptz NOT NULL,
  actor     text NOT NULL CHECK (actor <> '' AND length(actor) <= 200),
  action    text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' AND length(action) <= 100),
  subject   text CHECK (length(subject) <= 500),
  details   jsonb NOT NULL CHECK (jsonb_typeof(details) = 'object'),
  prev_hash text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  hash      text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$')
);
CREATE INDEX audit_log_at ON callvault.audit_log (at);
CREATE INDEX audit_log_subject ON callvault.audit_log (subject, seq);
CREATE INDEX audit_log_actor ON callvault.audit_log (actor, seq);

-- One row: the newest entry. audit_append locks it, which serialises appends
-- (so seq has no gaps), and `audit verify` compares it with the log's end.
-- Append in short transactions: each append in one transaction revisits that
-- transaction's earlier versions of this row (1000 appends in one transaction
-- take about half a second, 8000 about 9 s).
CREATE TABLE callvault.audit_head (
  id        integer PRIMARY KEY CHECK (id = 1),
  last_seq  bigint NOT NULL,
  last_hash text NOT NULL
);
INSERT INTO callvault.audit_head VALUES (1, 0, repeat('0', 64));

-- The canonical text and its hash. PL/pgSQL (plans cached): an append and a
-- row of audit.audit_trail cost a few microseconds.
CREATE FUNCTION callvault.audit_canonical(seq bigint, at timestamptz, actor text, action text,
                                          subject text, details jsonb, prev_hash text) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t text := E'callvault-audit-v1\n';
  f text;
BEGIN
  FOREACH f IN ARRAY ARRAY[seq::text, ((extract(epoch FROM at) * 1000000)::bigint)::text, actor, action,
                           subject, details::text, prev_hash] LOOP
    IF f IS NULL THEN
      t := t || E'-\n';
    ELSE
      t := t || octet_length(convert_to(f, 'UTF8'))::text || ':' || f || E'\n';
    END IF;
  END LOOP;
  RETURN t;
END
$$;

-- SECURITY DEFINER so that the readers of audit.audit_trail, who have no
-- USAGE on the schema callvault, can run it (a pure function: it reads nothing).
CREATE FUNCTION callvault.audit_hash(seq bigint, at timestamptz, actor text, action text,
                                     subject text, details jsonb, prev_hash text) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN encode(sha256(convert_to(callvault.audit_canonical(seq, at, actor, action, subject, details, prev_hash),
                                  'UTF8')), 'hex');
END
$$;

-- The only way into the log. Runs with its owner's rights; callers need only
-- EXECUTE. Returns the new entry's seq.
CREATE FUNCTION callvault.audit_append(actor text, action text, subject text, details jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
  v_last_seq  bigint;
  v_last_hash text;
  v_seq       bigint;
  v_at        timestamptz;
  v_details   jsonb := coalesce(details, '{}'::jsonb);
  v_hash      text;
BEGIN
  SELECT h.last_seq, h.last_hash INTO v_last_seq, v_last_hash
    FROM callvault.audit_head h WHERE h.id = 1 FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'callvault.audit_head has no row: the audit trail is damaged';
  END IF;
  v_seq := v_last_seq + 1;
  v_at := clock_timestamp();  -- taken under the lock: at grows with seq
  v_hash := callvault.audit_hash(v_seq, v_at, actor, action, subject, v_details, v_last_hash);
  INSERT INTO callvault.audit_log (seq, at, actor, action, subject, details, prev_hash, hash)
  VALUES (v_seq, v_at, actor, action, subject, v_details, v_last_hash, v_hash);
  UPDATE callvault.audit_head SET last_seq = v_seq, last_hash = v_hash WHERE id = 1;
  RETURN v_seq;
END
$$;

-- Nobody changes or removes an entry, not even the owner: UPDATE, DELETE and
-- TRUNCATE fail for every role. (A superuser can disable the triggers; that
-- is what `callvault audit verify` detects.)
CREATE FUNCTION callvault.audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RAISE EXCEPTION '%.% is append-only: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON callvault.audit_log
  FOR EACH ROW EXECUTE FUNCTION callvault.audit_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON callvault.audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION callvault.audit_refuse_change();
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON callvault.audit_head
  FOR EACH ROW EXECUTE FUNCTION callvault.audit_refuse_change();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON callvault.audit_head
  FOR EACH STATEMENT EXECUTE FUNCTION callvault.audit_refuse_change();

-- Whoever inserts (only audit_append's owner can), the new row must be the
-- next valid link of the chain.
CREATE FUNCTION callvault.audit_log_guard_insert() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM callvault.audit_head h
                  WHERE h.id = 1 AND h.last_seq + 1 = NEW.seq AND h.last_hash = NEW.prev_hash)
     OR NEW.hash IS DISTINCT FROM callvault.audit_hash(NEW.seq, NEW.at, NEW.actor, NEW.action, NEW.subject,
                                                       NEW.details, NEW.prev_hash) THEN
    RAISE EXCEPTION 'callvault.audit_log: entries are appended only with callvault.audit_append'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER audit_log_guard_insert BEFORE INSERT ON callvault.audit_log
  FOR EACH ROW EXECUTE FUNCTION callvault.audit_log_guard_insert();

-- The head only moves forward, one entry at a time, onto an entry that exists.
CREATE FUNCTION callvault.audit_head_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NEW.id <> OLD.id OR NEW.last_seq <> OLD.last_seq + 1
     OR NOT EXISTS (SELECT FROM callvault.audit_log l WHERE l.seq = NEW.last_seq AND l.hash = NEW.last_hash) THEN
    RAISE EXCEPTION 'callvault.audit_head moves only with callvault.audit_append'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER audit_head_guard BEFORE UPDATE ON callvault.audit_head
  FOR EACH ROW EXECUTE FUNCTION callvault.audit_head_guard();

-- ---------------------------------------------------------------------------
-- The views of the audit trail (R9: the Secretary supervises access)
-- ---------------------------------------------------------------------------
CREATE VIEW audit.audit_trail AS
SELECT l.seq,
       l.at,
       l.actor,
       l.action,
       l.subject,
       l.details,
       l.prev_hash,
       l.hash,
       l.hash = callvault.audit_hash(l.seq, l.at, l.actor, l.action, l.subject, l.details, l.prev_hash)
         AS hash_ok,
       CASE WHEN l.seq = 1 THEN l.prev_hash = repeat('0', 64)
            ELSE coalesce(p.hash = l.prev_hash, false) END AS linked
  FROM callvault.audit_log l
  LEFT JOIN callvault.audit_log p ON p.seq = l.seq - 1;

COMMENT ON VIEW audit.audit_trail IS
  'Every entry of the append-only audit trail, oldest first by seq: access to recordings (granted and refused), disclosures, legal holds, deletions, changes of people. Nobody can change or remove an entry; each entry carries the hash of the previous one, so an entry changed or removed by force shows up here (hash_ok, linked) and in `callvault audit verify`. Filter by at, seq, subject or actor (indexed).';
COMMENT ON COLUMN audit.audit_trail.seq IS 'Number of the entry: 1, 2, 3, ... without gaps (a gap means an entry was removed).';
COMMENT ON COLUMN audit.audit_trail.at IS 'When the action was recorded. Indexed.';
COMMENT ON COLUMN audit.audit_trail.actor IS 'Who acted: a registered person''s name (--by, --as), os:<account> for commands run without naming a person, or the service (e.g. retention).';
COMMENT ON COLUMN audit.audit_trail.action IS 'What happened: person.added, person.disabled, play.granted, play.refused, export.granted, export.refused, disclosure.requested, disclosure.approved, disclosure.refused, disclosure.exported, subject_access.exported, hold.placed, hold.released, recording.deleted, ...';
COMMENT ON COLUMN audit.audit_trail.subject IS 'What it concerned: a recording uuid, a person''s name, a hold or disclosure id. Indexed.';
COMMENT ON COLUMN audit.audit_trail.details IS 'The rest of the entry as JSON: os_user, role, reason, refusal, present, statement, basis, authority, case, file_sha256, rule, ... Deletion entries hold no personal data of the call (R7).';
COMMENT ON COLUMN audit.audit_trail.prev_hash IS 'hash of the entry seq - 1 (64 zeros for entry 1).';
COMMENT ON COLUMN audit.audit_trail.hash IS 'SHA-256 (hex) of the entry''s canonical text (storage/migrations/0003_people_audit.sql): seq, at, actor, action, subject, details, prev_hash.';
COMMENT ON COLUMN audit.audit_trail.hash_ok IS 'hash matches the entry''s content, recomputed now. False: the entry was altered after it was written.';
COMMENT ON COLUMN audit.audit_trail.linked IS 'prev_hash equals the hash of entry seq - 1 (which exists). False: the previous entry was removed, or was rewritten together with its hash.';

CREATE VIEW audit.access_log AS
SELECT l.seq,
       l.at,
       l.actor                       AS person,
       l.details ->> 'role'          AS role,
       split_part(l.action, '.', 1)  AS operation,
       substr(l.action, length(split_part(l.action, '.', 1)) + 2) AS outcome,
       l.subject,
       l.details ->> 'reason'        AS reason,
       l.details ->> 'refusal'       AS refusal,
       l.details ->> 'present'       AS present,
       l.details ->> 'statement'     AS statement,
       l.details ->> 'basis'         AS basis,
       l.details ->> 'authority'     AS authority,
       l.details ->> 'os_user'       AS os_user,
       l.details
  FROM callvault.audit_log l
 WHERE split_part(l.action, '.', 1) IN ('play', 'export', 'disclosure', 'subject_access');

COMMENT ON VIEW audit.access_log IS
  'Access to recordings (R9, R10, R11), for the Municipal Secretary''s review: every play and export, granted or refused, every disclosure to an authority and every data subject access, from the audit trail (audit.audit_trail). Filter by at, subject or person.';
COMMENT ON COLUMN audit.access_log.seq IS 'Number of the entry in the audit trail (audit.audit_trail.seq).';
COMMENT ON COLUMN audit.access_log.at IS 'When access was granted or refused. Indexed.';
COMMENT ON COLUMN audit.access_log.person IS 'Who asked: a registered person''s name, or os:<account> when no person was named.';
COMMENT ON COLUMN audit.access_log.role IS 'The person''s role at the time (mayor, deputy_mayor, secretary, legal_counsel, it_admin, technician, ...); NULL when the person is not registered.';
COMMENT ON COLUMN audit.access_log.operation IS 'play (listen), export (copy of a recording), disclosure (to an authority, R10) or subject_access (GDPR art. 15, R11).';
COMMENT ON COLUMN audit.access_log.outcome IS 'granted or refused (play, export); requested, approved, refused or exported (disclosure); exported or refused (subject_access).';
COMMENT ON COLUMN audit.access_log.subject IS 'The recording uuid (audit.calls.uuid) for play and export; the disclosure id for disclosures.';
COMMENT ON COLUMN audit.access_log.reason IS 'Why access was asked for, as the person stated it.';
COMMENT ON COLUMN audit.access_log.refusal IS 'Why access was refused (role not allowed, person disabled, no administrator present, restricted recording, disclosure not approved, ...); NULL when granted.';
COMMENT ON COLUMN audit.access_log.present IS 'Technicians (R8): the IT Systems Administrator who was present.';
COMMENT ON COLUMN audit.access_log.statement IS 'Technicians (R8): reference of the signed confidentiality statement.';
COMMENT ON COLUMN audit.access_log.basis IS 'Disclosures (R10): the legal basis the authority named; restricted recordings (R11): the legal claim.';
COMMENT ON COLUMN audit.access_log.authority IS 'Disclosures (R10): the police, court, prosecutor or other body that asked.';
COMMENT ON COLUMN audit.access_log.os_user IS 'The operating system account that ran the command.';
COMMENT ON COLUMN audit.access_log.details IS 'The whole entry''s details as JSON (e.g. output file and its SHA-256 for exports).';

-- ---------------------------------------------------------------------------
-- Privileges
-- ---------------------------------------------------------------------------
-- Functions are executable by PUBLIC unless revoked.
REVOKE ALL ON FUNCTION callvault.audit_append(text, text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION callvault.audit_canonical(bigint, timestamptz, text, text, text, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION callvault.audit_hash(bigint, timestamptz, text, text, text, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION callvault.audit_refuse_change() FROM PUBLIC;
REVOKE ALL ON FUNCTION callvault.audit_head_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION callvault.audit_log_guard_insert() FROM PUBLIC;
REVOKE ALL ON FUNCTION callvault.persons_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION callvault.persons_no_truncate() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION callvault.audit_append(text, text, text, jsonb)
  TO callvault_writer, callvault_retention, callvault_operator;
-- audit.audit_trail calls the hash function with the reader's rights.
GRANT EXECUTE ON FUNCTION callvault.audit_hash(bigint, timestamptz, text, text, text, jsonb, text)
  TO callvault_auditor, callvault_operator;

-- The operator: people (add, disable; never delete), the audit trail (read,
-- append through audit_append) and the schema version. Nobody has INSERT,
-- UPDATE, DELETE or TRUNCATE on the audit tables.
GRANT USAGE ON SCHEMA callvault TO callvault_operator;
GRANT SELECT ON callvault.schema_migrations TO callvault_operator;
GRANT SELECT, INSERT (name, role, created_by) ON callvault.persons TO callvault_operator;
GRANT UPDATE (disabled_at, disabled_by) ON callvault.persons TO callvault_operator;
GRANT SELECT ON callvault.audit_log, callvault.audit_head TO callvault_operator;

GRANT USAGE ON SCHEMA audit TO callvault_operator;
GRANT SELECT ON audit.audit_trail, audit.access_log TO callvault_auditor, callvault_operator;

DO $$
BEGIN
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO callvault_operator', current_database());
END
$$;

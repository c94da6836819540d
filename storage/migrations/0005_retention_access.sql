-- callvault index, version 5: retention (R5, R7), legal holds (R6), restriction
-- of processing (R11), disclosures to authorities (R10), and the rights of the
-- retention and operator roles over them. Applied by `callvault db migrate`
-- inside one transaction, after 0004.
--
-- How a recording is deleted (storage/db/retention.cpp), in an order that
-- survives a crash at any point:
--   1. calls.deletion_started_at is set (committed) while the call row is
--      locked and nothing protects it (callvault.retention_block below);
--   2. the audio file is unlinked and its directory fsynced;
--   3. in one transaction: personal data (sip_call_id, caller, callee) and
--      audio_path are cleared, deleted_at is set, the call's streams and DTMF
--      rows are deleted, and the audit entry recording.deleted is appended.
-- A rerun finishes every call left between 1 and 3. A call whose deletion has
-- started can no longer be held, restricted or disclosed (the recording is
-- going), so nothing protects a file that step 2 may already have removed.
-- The row itself is never deleted: it keeps the facts that are not personal
-- (uuid, times, direction, codecs, duration, the file's hash) as the proof of
-- what was recorded and when it was deleted.
--
-- The database refuses, for every role: deleting a call row; clearing a
-- call's personal data or audio, or starting its deletion, before it expires
-- or while a hold, a restriction or an open disclosure protects it; changing
-- any other column of a call; deleting streams or DTMF of a call whose
-- deletion has not started; deleting or rewriting holds, restrictions and
-- disclosures (they are released, lifted and decided, once).
--
-- New audit actions (see 0003 for the others and the details keys):
--   hold.placed, hold.released             subject: hold id
--   restriction.placed, restriction.lifted subject: recording uuid
--   disclosure.rejected                    subject: disclosure id
--   play.failed, export.failed             the grant was logged, the copy failed
--   recording.deleted                      subject: recording uuid; details:
--                                          file_sha256, rule, period, expires_at,
--                                          file (deleted, missing, none)
--   recording.missing                      a finding: the index expected a file
--                                          that was not there when it expired
--   key.destroyed                          subject: the day (YYYY-MM-DD) whose
--                                          encryption key was destroyed

ALTER TABLE callvault.calls
  ADD COLUMN deletion_started_at timestamptz,
  ADD COLUMN deleted_at          timestamptz,
  ADD COLUMN deletion_rule       text;
-- What a sweep looks at: expired calls not yet deleted, oldest first; and the
-- deletions a killed run left unfinished.
CREATE INDEX calls_retention_due ON callvault.calls (expires_at) WHERE deleted_at IS NULL;
CREATE INDEX calls_deletion_pending ON callvault.calls (deletion_started_at)
  WHERE deletion_started_at IS NOT NULL AND deleted_at IS NULL;

-- ---------------------------------------------------------------------------
-- Legal holds (R6)
-- ---------------------------------------------------------------------------
CREATE TABLE callvault.legal_holds (
  hold_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  case_ref       text NOT NULL CHECK (case_ref <> '' AND length(case_ref) <= 200),
  basis          text NOT NULL CHECK (basis <> '' AND length(basis) <= 2000),
  -- How the calls were chosen: {"calls": [...]} or {"number": ..., "from": ..., "to": ...}.
  selection      jsonb NOT NULL CHECK (jsonb_typeof(selection) = 'object'),
  placed_by      text NOT NULL CHECK (placed_by <> ''),
  placed_at      timestamptz NOT NULL DEFAULT now(),
  released_by    text,
  released_at    timestamptz,
  release_reason text CHECK (length(release_reason) <= 2000),
  CHECK ((released_at IS NULL) = (released_by IS NULL) AND (released_at IS NULL) = (release_reason IS NULL))
);
CREATE INDEX legal_holds_active ON callvault.legal_holds (hold_id) WHERE released_at IS NULL;

CREATE TABLE callvault.held_calls (
  hold_id   bigint NOT NULL REFERENCES callvault.legal_holds,
  call_uuid uuid NOT NULL REFERENCES callvault.calls,
  PRIMARY KEY (call_uuid, hold_id)
);
CREATE INDEX held_calls_hold ON callvault.held_calls (hold_id);

-- ---------------------------------------------------------------------------
-- Restriction of processing (R11, GDPR art. 18): the recording is kept (like
-- a hold, past its period) but not played or exported except for a legal claim.
-- ---------------------------------------------------------------------------
CREATE TABLE callvault.restrictions (
  restriction_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  call_uuid      uuid NOT NULL REFERENCES callvault.calls,
  reason         text NOT NULL CHECK (reason <> '' AND length(reason) <= 2000),
  placed_by      text NOT NULL CHECK (placed_by <> ''),
  placed_at      timestamptz NOT NULL DEFAULT now(),
  lifted_by      text,
  lifted_at      timestamptz,
  lift_reason    text CHECK (length(lift_reason) <= 2000),
  CHECK ((lifted_at IS NULL) = (lifted_by IS NULL) AND (lifted_at IS NULL) = (lift_reason IS NULL))
);
-- One active restriction per recording.
CREATE UNIQUE INDEX restrictions_active ON callvault.restrictions (call_uuid) WHERE lifted_at IS NULL;

-- ---------------------------------------------------------------------------
-- Disclosures to authorities (R10). Open (requested, or approved and not yet
-- exported) disclosures keep their recordings like a hold: an approval must
-- not find its evidence deleted.
-- ---------------------------------------------------------------------------
CREATE TABLE callvault.disclosures (
  disclosure_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  authority       text NOT NULL CHECK (authority <> '' AND length(authority) <= 500),
  basis           text NOT NULL CHECK (basis <> '' AND length(basis) <= 2000),
  legal_claim     text CHECK (legal_claim <> '' AND length(legal_claim) <= 2000),
  requested_by    text NOT NULL CHECK (requested_by <> ''),
  requested_at    timestamptz NOT NULL DEFAULT now(),
  decision        text CHECK (decision IN ('approved', 'rejected')),
  decided_by      text,
  decided_at      timestamptz,
  decision_reason text CHECK (length(decision_reason) <= 2000),
  exported_by     text,
  exported_at     timestamptz,
  export_manifest_sha256 text CHECK (export_manifest_sha256 ~ '^[0-9a-f]{64}$'),
  CHECK ((decision IS NULL) = (decided_by IS NULL) AND (decision IS NULL) = (decided_at IS NULL)),
  CHECK ((exported_at IS NULL) = (exported_by IS NULL)
         AND (exported_at IS NULL) = (export_manifest_sha256 IS NULL)),
  -- Nothing is exported before approval.
  CHECK (exported_at IS NULL OR decision = 'approved')
);

CREATE TABLE callvault.disclosure_calls (
  disclosure_id bigint NOT NULL REFERENCES callvault.disclosures,
  call_uuid     uuid NOT NULL REFERENCES callvault.calls,
  PRIMARY KEY (call_uuid, disclosure_id)
);
CREATE INDEX disclosure_calls_disclosure ON callvault.disclosure_calls (disclosure_id);

-- ---------------------------------------------------------------------------
-- What keeps a recording past its period: NULL when nothing does, otherwise
-- why (for messages and for audit.retention_blocked).
-- ---------------------------------------------------------------------------
CREATE FUNCTION callvault.retention_block(p_call uuid) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(
    (SELECT 'legal hold ' || h.hold_id || ' (case ' || h.case_ref || ')'
       FROM callvault.held_calls hc JOIN callvault.legal_holds h ON h.hold_id = hc.hold_id
      WHERE hc.call_uuid = p_call AND h.released_at IS NULL
      ORDER BY h.hold_id LIMIT 1),
    (SELECT 'restriction ' || r.restriction_id
       FROM callvault.restrictions r
      WHERE r.call_uuid = p_call AND r.lifted_at IS NULL LIMIT 1),
    (SELECT 'disclosure ' || d.disclosure_id || ' (' || coalesce(d.decision, 'requested') || ')'
       FROM callvault.disclosure_calls dc JOIN callvault.disclosures d ON d.disclosure_id = dc.disclosure_id
      WHERE dc.call_uuid = p_call
        AND (d.decision IS NULL OR (d.decision = 'approved' AND d.exported_at IS NULL))
      ORDER BY d.disclosure_id LIMIT 1))
$$;

-- ---------------------------------------------------------------------------
-- Guards (triggers): what the database refuses, whoever asks
-- ---------------------------------------------------------------------------
CREATE FUNCTION callvault.calls_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_block text;
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'recording %: calls are never deleted; retention clears their personal data and audio (callvault retention run)',
      OLD.call_uuid USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF OLD.deleted_at IS NOT NULL THEN
    RAISE EXCEPTION 'recording % was deleted at %: its row is kept as it is', OLD.call_uuid, OLD.deleted_at
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  -- Everything but the retention columns is written once, by the recorder.
  IF (NEW.call_uuid, NEW.sensor, NEW.session_uuid, NEW.start_time, NEW.answer_time, NEW.end_time,
      NEW.direction, NEW.codecs, NEW.duration_s, NEW.answered, NEW.joined_mid_call, NEW.final_status,
      NEW.end_reason, NEW.stream_count, NEW.audio_bytes, NEW.audio_sha256, NEW.sample_rate,
      NEW.audio_start, NEW.audio_error, NEW.caller_audio, NEW.callee_audio, NEW.expires_at, NEW.indexed_at)
     IS DISTINCT FROM
     (OLD.call_uuid, OLD.sensor, OLD.session_uuid, OLD.start_time, OLD.answer_time, OLD.end_time,
      OLD.direction, OLD.codecs, OLD.duration_s, OLD.answered, OLD.joined_mid_call, OLD.final_status,
      OLD.end_reason, OLD.stream_count, OLD.audio_bytes, OLD.audio_sha256, OLD.sample_rate,
      OLD.audio_start, OLD.audio_error, OLD.caller_audio, OLD.callee_audio, OLD.expires_at, OLD.indexed_at) THEN
    RAISE EXCEPTION 'recording %: only retention changes a call, and only its personal data, audio path and deletion state',
      OLD.call_uuid USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF (NEW.sip_call_id, NEW.caller, NEW.callee, NEW.audio_path, NEW.deletion_started_at, NEW.deleted_at,
      NEW.deletion_rule) IS NOT DISTINCT FROM
     (OLD.sip_call_id, OLD.caller, OLD.callee, OLD.audio_path, OLD.deletion_started_at, OLD.deleted_at,
      OLD.deletion_rule) THEN
    RETURN NEW;  -- nothing changes (e.g. SELECT ... FOR UPDATE through an UPDATE)
  END IF;
  -- From here on the update is (part of) a deletion.
  IF OLD.expires_at > now() THEN
    RAISE EXCEPTION 'recording % expires at %: it is not deleted before', OLD.call_uuid, OLD.expires_at
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF OLD.deletion_started_at IS NULL THEN
    -- Step 1: only the start of the deletion, and only when nothing protects it.
    v_block := callvault.retention_block(OLD.call_uuid);
    IF v_block IS NOT NULL THEN
      RAISE EXCEPTION 'recording % is kept by %: it is not deleted', OLD.call_uuid, v_block
        USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.deletion_started_at IS NULL OR NEW.deletion_rule IS NULL OR NEW.deleted_at IS NOT NULL
       OR (NEW.sip_call_id, NEW.caller, NEW.callee, NEW.audio_path)
          IS DISTINCT FROM (OLD.sip_call_id, OLD.caller, OLD.callee, OLD.audio_path) THEN
      RAISE EXCEPTION 'recording %: a deletion starts by setting deletion_started_at and deletion_rule alone',
        OLD.call_uuid USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
  END IF;
  -- Step 3: finishing, all at once.
  IF NEW.deleted_at IS NULL OR NEW.sip_call_id IS NOT NULL OR NEW.caller IS NOT NULL OR NEW.callee IS NOT NULL
     OR NEW.audio_path IS NOT NULL OR NEW.deletion_started_at IS DISTINCT FROM OLD.deletion_started_at
     OR NEW.deletion_rule IS DISTINCT FROM OLD.deletion_rule THEN
    RAISE EXCEPTION 'recording %: a deletion finishes by clearing sip_call_id, caller, callee and audio_path and setting deleted_at together',
      OLD.call_uuid USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER calls_guard BEFORE UPDATE OR DELETE ON callvault.calls
  FOR EACH ROW EXECUTE FUNCTION callvault.calls_guard();
CREATE FUNCTION callvault.calls_no_truncate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RAISE EXCEPTION '%.% is never truncated: recordings are deleted one by one by retention', TG_TABLE_SCHEMA,
    TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER calls_no_truncate BEFORE TRUNCATE ON callvault.calls
  FOR EACH STATEMENT EXECUTE FUNCTION callvault.calls_no_truncate();
CREATE TRIGGER streams_no_truncate BEFORE TRUNCATE ON callvault.streams
  FOR EACH STATEMENT EXECUTE FUNCTION callvault.calls_no_truncate();
CREATE TRIGGER dtmf_events_no_truncate BEFORE TRUNCATE ON callvault.dtmf_events
  FOR EACH STATEMENT EXECUTE FUNCTION callvault.calls_no_truncate();

-- Streams and DTMF (addresses, digits: personal data) go with step 3 only.
CREATE FUNCTION callvault.call_details_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    RAISE EXCEPTION '%.% rows are written once by the recorder', TG_TABLE_SCHEMA, TG_TABLE_NAME
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NOT EXISTS (SELECT FROM callvault.calls c
                  WHERE c.call_uuid = OLD.call_uuid AND c.deletion_started_at IS NOT NULL) THEN
    RAISE EXCEPTION 'recording %: its %.% rows are deleted only with the recording (callvault retention run)',
      OLD.call_uuid, TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN OLD;
END
$$;
CREATE TRIGGER streams_guard BEFORE UPDATE OR DELETE ON callvault.streams
  FOR EACH ROW EXECUTE FUNCTION callvault.call_details_guard();
CREATE TRIGGER dtmf_events_guard BEFORE UPDATE OR DELETE ON callvault.dtmf_events
  FOR EACH ROW EXECUTE FUNCTION callvault.call_details_guard();

-- A recording is held, restricted or disclosed only while it exists and its
-- deletion has not started. The call row is locked FOR UPDATE, which waits
-- for a retention run that is starting its deletion (and makes that run wait
-- for this transaction, whose protection it will then see).
CREATE FUNCTION callvault.protect_call_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_started timestamptz;
  v_deleted timestamptz;
BEGIN
  SELECT c.deletion_started_at, c.deleted_at INTO v_started, v_deleted
    FROM callvault.calls c WHERE c.call_uuid = NEW.call_uuid FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no recording %', NEW.call_uuid USING ERRCODE = 'foreign_key_violation';
  END IF;
  IF v_deleted IS NOT NULL THEN
    RAISE EXCEPTION 'recording % was deleted at % (its period was over)', NEW.call_uuid, v_deleted
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF v_started IS NOT NULL THEN
    RAISE EXCEPTION 'recording % is being deleted (its period was over; retention started at %)', NEW.call_uuid,
      v_started USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER held_calls_guard BEFORE INSERT ON callvault.held_calls
  FOR EACH ROW EXECUTE FUNCTION callvault.protect_call_guard();
CREATE TRIGGER restrictions_guard_insert BEFORE INSERT ON callvault.restrictions
  FOR EACH ROW EXECUTE FUNCTION callvault.protect_call_guard();
CREATE TRIGGER disclosure_calls_guard BEFORE INSERT ON callvault.disclosure_calls
  FOR EACH ROW EXECUTE FUNCTION callvault.protect_call_guard();

-- Holds, restrictions and disclosures are never deleted or rewritten: a hold
-- is released once, a restriction lifted once, a disclosure decided once and
-- exported (its export recorded) once.
CREATE FUNCTION callvault.case_records_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  o jsonb;
  n jsonb;
  k text;
  allowed text[];
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION '%.% rows are never deleted', TG_TABLE_SCHEMA, TG_TABLE_NAME
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF TG_TABLE_NAME IN ('held_calls', 'disclosure_calls') THEN
    RAISE EXCEPTION '%.% rows are never changed', TG_TABLE_SCHEMA, TG_TABLE_NAME
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  o := to_jsonb(OLD);
  n := to_jsonb(NEW);
  allowed := CASE TG_TABLE_NAME
               WHEN 'legal_holds' THEN ARRAY['released_by', 'released_at', 'release_reason']
               WHEN 'restrictions' THEN ARRAY['lifted_by', 'lifted_at', 'lift_reason']
               WHEN 'disclosures' THEN
                 CASE WHEN o ->> 'decision' IS NULL THEN ARRAY['decision', 'decided_by', 'decided_at', 'decision_reason']
                      ELSE ARRAY['exported_by', 'exported_at', 'export_manifest_sha256'] END
             END;
  FOR k IN SELECT jsonb_object_keys(n) LOOP
    IF n -> k IS DISTINCT FROM o -> k AND (NOT k = ANY (allowed) OR o ->> k IS NOT NULL) THEN
      RAISE EXCEPTION '%.%: % is written once (released, lifted, decided and exported once)', TG_TABLE_SCHEMA,
        TG_TABLE_NAME, k USING ERRCODE = 'insufficient_privilege';
    END IF;
  END LOOP;
  RETURN NEW;
END
$$;
CREATE TRIGGER legal_holds_guard BEFORE UPDATE OR DELETE ON callvault.legal_holds
  FOR EACH ROW EXECUTE FUNCTION callvault.case_records_guard();
CREATE TRIGGER held_calls_no_change BEFORE UPDATE OR DELETE ON callvault.held_calls
  FOR EACH ROW EXECUTE FUNCTION callvault.case_records_guard();
CREATE TRIGGER restrictions_guard BEFORE UPDATE OR DELETE ON callvault.restrictions
  FOR EACH ROW EXECUTE FUNCTION callvault.case_records_guard();
CREATE TRIGGER disclosures_guard BEFORE UPDATE OR DELETE ON callvault.disclosures
  FOR EACH ROW EXECUTE FUNCTION callvault.case_records_guard();
CREATE TRIGGER disclosure_calls_no_change BEFORE UPDATE OR DELETE ON callvault.disclosure_calls
  FOR EACH ROW EXECUTE FUNCTION callvault.case_records_guard();
CREATE TRIGGER legal_holds_no_truncate BEFORE TRUNCATE ON callvault.legal_holds
  FOR EACH STATEMENT EXECUTE FUNCTION callvault.calls_no_truncate();
CREATE TRIGGER held_calls_no_truncate BEFORE TRUNCATE ON callvault.held_calls
  FOR EACH STATEMENT EXECUTE FUNCTION callvault.calls_no_truncate();
CREATE TRIGGER restrictions_no_truncate BEFORE TRUNCATE ON callvault.restrictions
  FOR EACH STATEMENT EXECUTE FUNCTION callvault.calls_no_truncate();
CREATE TRIGGER disclosures_no_truncate BEFORE TRUNCATE ON callvault.disclosures
  FOR EACH STATEMENT EXECUTE FUNCTION callvault.calls_no_truncate();
CREATE TRIGGER disclosure_calls_no_truncate BEFORE TRUNCATE ON callvault.disclosure_calls
  FOR EACH STATEMENT EXECUTE FUNCTION callvault.calls_no_truncate();

-- ---------------------------------------------------------------------------
-- Views for auditors and the Secretary
-- ---------------------------------------------------------------------------
CREATE VIEW audit.legal_holds AS
SELECT h.hold_id,
       h.case_ref,
       h.basis,
       h.selection,
       h.placed_by,
       h.placed_at,
       h.released_by,
       h.released_at,
       h.release_reason,
       h.released_at IS NULL AS active,
       (SELECT count(*) FROM callvault.held_calls hc WHERE hc.hold_id = h.hold_id) AS calls
  FROM callvault.legal_holds h;
COMMENT ON VIEW audit.legal_holds IS
  'Legal holds (R6): each keeps its recordings past their retention period until it is released. Placed and released with callvault hold; never deleted.';
COMMENT ON COLUMN audit.legal_holds.hold_id IS 'Number of the hold (callvault hold release HOLD).';
COMMENT ON COLUMN audit.legal_holds.case_ref IS 'Reference of the case or proceedings.';
COMMENT ON COLUMN audit.legal_holds.basis IS 'Legal basis of the hold, as stated when it was placed.';
COMMENT ON COLUMN audit.legal_holds.selection IS 'How its calls were chosen: {"calls": [uuid, ...]} or {"number": ..., "from": ..., "to": ...}.';
COMMENT ON COLUMN audit.legal_holds.placed_by IS 'The registered person who placed it.';
COMMENT ON COLUMN audit.legal_holds.placed_at IS 'When it was placed.';
COMMENT ON COLUMN audit.legal_holds.released_by IS 'The registered person who released it; NULL while active.';
COMMENT ON COLUMN audit.legal_holds.released_at IS 'When it was released (the proceedings were concluded); NULL while active.';
COMMENT ON COLUMN audit.legal_holds.release_reason IS 'Why it was released, as stated; NULL while active.';
COMMENT ON COLUMN audit.legal_holds.active IS 'True until released.';
COMMENT ON COLUMN audit.legal_holds.calls IS 'Number of recordings it covers (audit.held_calls).';

CREATE VIEW audit.held_calls AS
SELECT hc.hold_id, hc.call_uuid AS uuid, h.released_at IS NULL AS active
  FROM callvault.held_calls hc JOIN callvault.legal_holds h ON h.hold_id = hc.hold_id;
COMMENT ON VIEW audit.held_calls IS 'Which recordings each legal hold covers (join audit.calls on uuid).';
COMMENT ON COLUMN audit.held_calls.hold_id IS 'The hold (audit.legal_holds.hold_id).';
COMMENT ON COLUMN audit.held_calls.uuid IS 'The recording (audit.calls.uuid).';
COMMENT ON COLUMN audit.held_calls.active IS 'True while the hold is active.';

CREATE VIEW audit.restrictions AS
SELECT r.restriction_id, r.call_uuid AS uuid, r.reason, r.placed_by, r.placed_at, r.lifted_by, r.lifted_at,
       r.lift_reason, r.lifted_at IS NULL AS active
  FROM callvault.restrictions r;
COMMENT ON VIEW audit.restrictions IS
  'Restrictions of processing (R11, GDPR art. 18): a restricted recording is kept, and played or exported only for a legal claim, until the restriction is lifted.';
COMMENT ON COLUMN audit.restrictions.restriction_id IS 'Number of the restriction (callvault restriction lift ID).';
COMMENT ON COLUMN audit.restrictions.uuid IS 'The recording (audit.calls.uuid).';
COMMENT ON COLUMN audit.restrictions.reason IS 'Why processing is restricted (e.g. the data subject''s request and its reference).';
COMMENT ON COLUMN audit.restrictions.placed_by IS 'The registered person who placed it.';
COMMENT ON COLUMN audit.restrictions.placed_at IS 'When it was placed.';
COMMENT ON COLUMN audit.restrictions.lifted_by IS 'The registered person who lifted it; NULL while active.';
COMMENT ON COLUMN audit.restrictions.lifted_at IS 'When it was lifted; NULL while active.';
COMMENT ON COLUMN audit.restrictions.lift_reason IS 'Why it was lifted; NULL while active.';
COMMENT ON COLUMN audit.restrictions.active IS 'True until lifted.';

CREATE VIEW audit.disclosures AS
SELECT d.disclosure_id,
       d.authority,
       d.basis,
       d.legal_claim,
       d.requested_by,
       d.requested_at,
       coalesce(d.decision, 'requested') AS state,
       d.decided_by,
       d.decided_at,
       d.decision_reason,
       d.exported_by,
       d.exported_at,
       d.export_manifest_sha256,
       (SELECT array_agg(dc.call_uuid ORDER BY dc.call_uuid) FROM callvault.disclosure_calls dc
         WHERE dc.disclosure_id = d.disclosure_id) AS calls
  FROM callvault.disclosures d;
COMMENT ON VIEW audit.disclosures IS
  'Disclosures of recordings to authorities (R10): request, approval or rejection (mayor, deputy mayor or secretary), and export. Nothing is exported before approval.';
COMMENT ON COLUMN audit.disclosures.disclosure_id IS 'Number of the disclosure (callvault disclosure approve|reject|export ID).';
COMMENT ON COLUMN audit.disclosures.authority IS 'The police, court, prosecutor or other body that asked.';
COMMENT ON COLUMN audit.disclosures.basis IS 'The legal basis the authority named.';
COMMENT ON COLUMN audit.disclosures.legal_claim IS 'When restricted recordings are disclosed (R11): the legal claim they serve; NULL otherwise.';
COMMENT ON COLUMN audit.disclosures.requested_by IS 'The registered person who recorded the request.';
COMMENT ON COLUMN audit.disclosures.requested_at IS 'When the request was recorded.';
COMMENT ON COLUMN audit.disclosures.state IS 'requested, approved or rejected.';
COMMENT ON COLUMN audit.disclosures.decided_by IS 'The mayor, deputy mayor or secretary who approved or rejected it.';
COMMENT ON COLUMN audit.disclosures.decided_at IS 'When it was approved or rejected.';
COMMENT ON COLUMN audit.disclosures.decision_reason IS 'Why it was rejected (or a note with the approval).';
COMMENT ON COLUMN audit.disclosures.exported_by IS 'Who exported the evidence package.';
COMMENT ON COLUMN audit.disclosures.exported_at IS 'When the evidence package was first exported; NULL before.';
COMMENT ON COLUMN audit.disclosures.export_manifest_sha256 IS 'SHA-256 of the package''s manifest.json (which lists the SHA-256 of every file).';
COMMENT ON COLUMN audit.disclosures.calls IS 'The recordings disclosed (audit.calls.uuid).';

CREATE VIEW audit.deletions AS
SELECT l.seq,
       l.at,
       l.actor,
       l.subject::uuid                 AS uuid,
       l.details ->> 'file_sha256'     AS file_sha256,
       l.details ->> 'file'            AS file,
       l.details ->> 'rule'            AS rule,
       l.details ->> 'period'          AS period,
       (l.details ->> 'expires_at')::timestamptz AS expires_at
  FROM callvault.audit_log l
 WHERE l.action = 'recording.deleted';
COMMENT ON VIEW audit.deletions IS
  'Every deletion of a recording by retention (R7), from the audit trail: which recording, its file hash, when, by which rule. No personal data of the call.';
COMMENT ON COLUMN audit.deletions.seq IS 'Number of the entry in the audit trail.';
COMMENT ON COLUMN audit.deletions.at IS 'When the deletion was completed.';
COMMENT ON COLUMN audit.deletions.actor IS 'Who deleted: retention (the service).';
COMMENT ON COLUMN audit.deletions.uuid IS 'The recording (audit.calls.uuid).';
COMMENT ON COLUMN audit.deletions.file_sha256 IS 'SHA-256 of the audio as recorded (audit.calls.audio_sha256); NULL when the call had no audio.';
COMMENT ON COLUMN audit.deletions.file IS 'deleted (the file was removed), missing (the file was not there: see audit.retention_findings) or none (no audio was recorded).';
COMMENT ON COLUMN audit.deletions.rule IS 'The rule applied, e.g. "R5 retention: 1 month from call start".';
COMMENT ON COLUMN audit.deletions.period IS 'The configured retention period at deletion.';
COMMENT ON COLUMN audit.deletions.expires_at IS 'When the recording''s period ended.';

CREATE VIEW audit.retention_findings AS
SELECT l.seq, l.at, l.action AS kind, l.subject, l.details
  FROM callvault.audit_log l
 WHERE l.action IN ('recording.missing', 'key.destroyed');
COMMENT ON VIEW audit.retention_findings IS
  'What retention found or did besides deleting: recording.missing (the index expected an audio file that was not there at expiry: a finding to investigate) and key.destroyed (a day''s encryption key destroyed once none of its recordings remained).';
COMMENT ON COLUMN audit.retention_findings.seq IS 'Number of the entry in the audit trail.';
COMMENT ON COLUMN audit.retention_findings.at IS 'When it was found or done.';
COMMENT ON COLUMN audit.retention_findings.kind IS 'recording.missing or key.destroyed.';
COMMENT ON COLUMN audit.retention_findings.subject IS 'The recording uuid, or the day (YYYY-MM-DD) of the key.';
COMMENT ON COLUMN audit.retention_findings.details IS 'The rest as JSON (expected path relative to the audio directory, file hash, ...).';

CREATE VIEW audit.retention_blocked AS
SELECT c.call_uuid AS uuid, c.start_time, c.expires_at, b.why
  FROM callvault.calls c
 CROSS JOIN LATERAL (SELECT callvault.retention_block(c.call_uuid) AS why) b
 WHERE c.deleted_at IS NULL AND c.expires_at <= now() AND b.why IS NOT NULL;
COMMENT ON VIEW audit.retention_blocked IS
  'Recordings past their retention period that are kept, and why: a legal hold, a restriction or an open disclosure.';
COMMENT ON COLUMN audit.retention_blocked.uuid IS 'The recording (audit.calls.uuid).';
COMMENT ON COLUMN audit.retention_blocked.start_time IS 'When the call started.';
COMMENT ON COLUMN audit.retention_blocked.expires_at IS 'When its period ended.';
COMMENT ON COLUMN audit.retention_blocked.why IS 'What keeps it: legal hold N (case ...), restriction N, or disclosure N (requested|approved).';

-- ---------------------------------------------------------------------------
-- Privileges
-- ---------------------------------------------------------------------------
REVOKE ALL ON FUNCTION callvault.retention_block(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION callvault.calls_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION callvault.calls_no_truncate() FROM PUBLIC;
REVOKE ALL ON FUNCTION callvault.call_details_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION callvault.protect_call_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION callvault.case_records_guard() FROM PUBLIC;
-- audit.retention_blocked calls it with the reader's rights.
GRANT EXECUTE ON FUNCTION callvault.retention_block(uuid)
  TO callvault_retention, callvault_operator, callvault_auditor;

-- Retention: read what protects a call, start and finish deletions.
GRANT SELECT ON callvault.calls, callvault.streams, callvault.dtmf_events, callvault.legal_holds,
  callvault.held_calls, callvault.restrictions, callvault.disclosures, callvault.disclosure_calls
  TO callvault_retention;
GRANT UPDATE (sip_call_id, caller, callee, audio_path, deletion_started_at, deleted_at, deletion_rule)
  ON callvault.calls TO callvault_retention;
GRANT DELETE ON callvault.streams, callvault.dtmf_events TO callvault_retention;

-- The operator (hold, restriction, play, export, disclosure, subject-access).
GRANT SELECT ON callvault.calls, callvault.streams, callvault.dtmf_events TO callvault_operator;
GRANT SELECT, INSERT (case_ref, basis, selection, placed_by) ON callvault.legal_holds TO callvault_operator;
GRANT UPDATE (released_by, released_at, release_reason) ON callvault.legal_holds TO callvault_operator;
GRANT SELECT, INSERT ON callvault.held_calls, callvault.disclosure_calls TO callvault_operator;
GRANT SELECT, INSERT (call_uuid, reason, placed_by) ON callvault.restrictions TO callvault_operator;
GRANT UPDATE (lifted_by, lifted_at, lift_reason) ON callvault.restrictions TO callvault_operator;
GRANT SELECT, INSERT (authority, basis, legal_claim, requested_by) ON callvault.disclosures TO callvault_operator;
GRANT UPDATE (decision, decided_by, decided_at, decision_reason, exported_by, exported_at, export_manifest_sha256)
  ON callvault.disclosures TO callvault_operator;

GRANT SELECT ON audit.legal_holds, audit.held_calls, audit.restrictions, audit.disclosures, audit.deletions,
  audit.retention_findings, audit.retention_blocked TO callvault_auditor, callvault_operator, callvault_retention;

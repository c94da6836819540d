-- callvault index, version 1: calls, streams, DTMF, capture coverage (R1), roles.
-- Applied by `callvault db migrate` inside one transaction. Tables live in the
-- schema `callvault`; auditors see only the views of the schema `audit` (0002).

-- Roles are cluster-wide: create them once, never with superuser rights.
-- Two databases of one cluster may be migrated at the same time (the advisory
-- lock is per database), so "already exists" from a concurrent creation is fine.
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['callvault_writer', 'callvault_auditor', 'callvault_retention'] LOOP
    BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
        EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', r);
      END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END LOOP;
END
$$;

-- Nobody but the roles below may create objects or read anything by default.
REVOKE ALL ON SCHEMA public FROM PUBLIC;

CREATE TABLE callvault.capture_sessions (
  session_uuid        uuid PRIMARY KEY,
  sensor              text NOT NULL,
  kind                text NOT NULL CHECK (kind IN ('replay', 'live')),
  source              text NOT NULL,
  started_at          timestamptz NOT NULL,
  stopped_at          timestamptz,            -- NULL while running, or if the recorder died
  stop_reason         text,
  packets             bigint NOT NULL DEFAULT 0,
  bytes               bigint NOT NULL DEFAULT 0,
  kernel_drops        bigint NOT NULL DEFAULT 0,
  interface_drops     bigint NOT NULL DEFAULT 0,
  rtp_unmatched       bigint NOT NULL DEFAULT 0,
  calls               bigint NOT NULL DEFAULT 0,
  calls_without_media bigint NOT NULL DEFAULT 0,
  index_records_lost  bigint NOT NULL DEFAULT 0,
  indexed_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX capture_sessions_sensor_time ON callvault.capture_sessions (sensor, started_at);

CREATE TABLE callvault.coverage_intervals (
  session_uuid        uuid NOT NULL,
  interval_start      timestamptz NOT NULL,
  interval_end        timestamptz NOT NULL,
  packets             bigint NOT NULL,
  bytes               bigint NOT NULL,
  kernel_drops        bigint NOT NULL,
  interface_drops     bigint NOT NULL,
  rtp_unmatched       bigint NOT NULL,
  sip_messages        bigint NOT NULL,
  calls_started       bigint NOT NULL,
  calls_without_media bigint NOT NULL,
  malformed           bigint NOT NULL,
  PRIMARY KEY (session_uuid, interval_start)
);
-- Intervals arrive in time order, so a BRIN index serves time ranges at a
-- fraction of the cost. It also cannot hand out rows in time order, which
-- keeps "the last interval of a session" (audit.capture_sessions) on the
-- primary key instead of a backward scan through every later interval.
CREATE INDEX coverage_intervals_time ON callvault.coverage_intervals USING brin (interval_start);
CREATE INDEX coverage_intervals_drops ON callvault.coverage_intervals (interval_start)
  WHERE kernel_drops + interface_drops > 0;
-- Grouping by office day (Europe/Warsaw, as the examples of docs/AUDITORS.md
-- do): with these statistics the planner knows there are few days and
-- aggregates in a hash table instead of sorting every row.
CREATE STATISTICS callvault.coverage_intervals_office_day
  ON ((interval_start AT TIME ZONE 'Europe/Warsaw')::date) FROM callvault.coverage_intervals;

-- Speed (docs/PERFORMANCE.md, "Index (PostgreSQL)"): the recorder copies
-- batches of calls with their streams and DTMF, thousands of calls a second,
-- so every index here costs on each insert; the auditors' example queries
-- must answer within 50 ms with a million calls.
-- Streams and DTMF have no foreign key to calls: the writer inserts them in
-- the same transaction as their call and nothing deletes calls; a key check
-- per row (with its row lock) was a fifth of the insert work.
-- Insert-only tables are vacuumed after 1 % new rows (instead of 20 %), so
-- that index-only scans of recent calls find their pages all-visible.
CREATE TABLE callvault.calls (
  call_uuid        uuid PRIMARY KEY,
  sensor           text NOT NULL,
  session_uuid     uuid,
  -- Personal data (R5): sip_call_id, caller, callee are cleared when the
  -- recording expires, so they are nullable. Identifiers, not words: they
  -- compare byte by byte (COLLATE "C"), which is also cheaper to index.
  sip_call_id      text COLLATE "C",
  caller           text COLLATE "C",
  callee           text COLLATE "C",
  start_time       timestamptz NOT NULL,
  answer_time      timestamptz,
  end_time         timestamptz NOT NULL,
  direction        text NOT NULL CHECK (direction IN ('incoming', 'outgoing', 'internal', 'unknown')),
  codecs           text[] NOT NULL,
  duration_s       double precision NOT NULL,
  answered         boolean NOT NULL,
  joined_mid_call  boolean NOT NULL,
  final_status     integer NOT NULL,
  end_reason       text NOT NULL,
  stream_count     integer NOT NULL,
  audio_path       text,
  audio_bytes      bigint,
  audio_sha256     text,
  sample_rate      integer,
  audio_start      timestamptz,
  audio_error      text,
  -- Written with the call from its streams (for audit.one_sided_calls): some
  -- stream of the caller (of the callee) was decoded into the audio file.
  caller_audio     boolean NOT NULL,
  callee_audio     boolean NOT NULL,
  expires_at       timestamptz NOT NULL,
  indexed_at       timestamptz NOT NULL DEFAULT now(),
  -- audit.calls.has_audio, stored so that calls_start_time can carry it.
  has_audio        boolean GENERATED ALWAYS AS (audio_path IS NOT NULL) STORED
) WITH (autovacuum_vacuum_insert_scale_factor = 0.01);
-- Time ranges; counting calls per day, direction and answer reads this index only.
CREATE INDEX calls_start_time ON callvault.calls (start_time) INCLUDE (direction, answered, has_audio);
CREATE INDEX calls_caller ON callvault.calls (caller, start_time);
CREATE INDEX calls_callee ON callvault.calls (callee, start_time);
-- Call-IDs are only ever looked up whole: a hash index is smaller and
-- cheaper to insert into than a B-tree of 40-byte strings.
CREATE INDEX calls_sip_call_id ON callvault.calls USING hash (sip_call_id);
CREATE INDEX calls_expires_at ON callvault.calls (expires_at);
-- The calls that need an auditor's attention, each kind in a small partial
-- index by start time (the example queries of docs/AUDITORS.md): a time range
-- reads only the calls of that kind, not every call of the period. The two
-- that return many rows carry the columns their examples show.
CREATE INDEX calls_long ON callvault.calls (start_time) WHERE duration_s >= 3600;
CREATE INDEX calls_unanswered ON callvault.calls (start_time)
  INCLUDE (direction, caller, callee, end_reason, final_status, end_time) WHERE NOT answered;
CREATE INDEX calls_without_media ON callvault.calls (start_time)
  INCLUDE (direction, caller, callee, answered, end_reason, final_status, call_uuid) WHERE stream_count = 0;
CREATE INDEX calls_one_sided ON callvault.calls (start_time)
  INCLUDE (direction, caller, callee, caller_audio, call_uuid) WHERE stream_count > 0 AND caller_audio <> callee_audio;
-- (In terms of has_audio, as audit.calls shows it, so that the planner sees
-- that the examples' conditions are these.)
CREATE INDEX calls_incomplete_audio ON callvault.calls (start_time)
  WHERE answered AND stream_count > 0 AND (NOT has_audio OR audio_error IS NOT NULL);
CREATE INDEX calls_bad_sha256 ON callvault.calls (start_time)
  WHERE has_audio AND (audio_sha256 IS NULL OR length(audio_sha256) <> 64 OR audio_sha256 ~ '[^0-9a-f]');
-- Grouping by office day (see coverage_intervals_office_day).
CREATE STATISTICS callvault.calls_office_day
  ON ((start_time AT TIME ZONE 'Europe/Warsaw')::date), direction FROM callvault.calls;

CREATE TABLE callvault.streams (
  call_uuid       uuid NOT NULL,
  ordinal         smallint NOT NULL,
  ssrc            bigint NOT NULL,
  src_ip          inet NOT NULL,
  src_port        integer NOT NULL,
  dst_ip          inet NOT NULL,
  dst_port        integer NOT NULL,
  codec           text NOT NULL,
  payload_types   smallint[] NOT NULL,
  packets         bigint NOT NULL,
  lost            bigint NOT NULL,
  duplicates      bigint NOT NULL,
  late            bigint NOT NULL,
  channel         text NOT NULL CHECK (channel IN ('caller', 'callee')),
  decoded         boolean NOT NULL,
  first_packet    timestamptz NOT NULL,
  offset_samples  bigint NOT NULL,
  -- The call's start_time, written with the stream, so that time ranges on
  -- streams need not go through calls.
  call_start_time timestamptz NOT NULL,
  loss_pct        numeric(5, 2) GENERATED ALWAYS AS
                    (CASE WHEN packets + lost > 0 THEN round(100.0 * lost / (packets + lost), 2) END) STORED,
  PRIMARY KEY (call_uuid, ordinal)
) WITH (autovacuum_vacuum_insert_scale_factor = 0.01);
CREATE INDEX streams_call_start ON callvault.streams (call_start_time);
-- Lossy streams (1 % and more), worst first: "loss above X % in a period",
-- for any X >= 1, reads only those, and only this index.
CREATE INDEX streams_lossy ON callvault.streams (loss_pct DESC, call_start_time)
  INCLUDE (call_uuid, ssrc, channel, codec, src_ip, src_port, dst_ip, dst_port, packets, lost)
  WHERE loss_pct >= 1;
-- Streams without audio in the file: the silent side of a one-sided call
-- has only such streams (audit.one_sided_calls).
CREATE INDEX streams_undecoded ON callvault.streams (call_uuid) INCLUDE (channel, codec) WHERE NOT decoded;

CREATE TABLE callvault.dtmf_events (
  call_uuid   uuid NOT NULL,
  ordinal     integer NOT NULL,
  digit       text NOT NULL,
  at          timestamptz NOT NULL,
  duration_ms integer NOT NULL,
  channel     text NOT NULL CHECK (channel IN ('caller', 'callee')),
  source      text NOT NULL,
  PRIMARY KEY (call_uuid, ordinal)
);

-- The recorder inserts (idempotently, by key) and finishes sessions; it never
-- deletes. Temporary staging tables need TEMPORARY on the database.
-- Auditors get nothing here: they read the views of the schema `audit` only.
GRANT USAGE ON SCHEMA callvault TO callvault_writer, callvault_retention;
GRANT SELECT ON callvault.schema_migrations TO callvault_writer, callvault_retention;
GRANT SELECT, INSERT ON callvault.calls, callvault.streams, callvault.dtmf_events,
  callvault.coverage_intervals TO callvault_writer;
GRANT SELECT, INSERT, UPDATE ON callvault.capture_sessions TO callvault_writer;
DO $$
BEGIN
  -- Only the writer needs temporary (staging) tables.
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
  EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO callvault_writer', current_database());
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO callvault_auditor, callvault_retention', current_database());
END
$$;

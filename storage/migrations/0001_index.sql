-- callvault index, version 1: calls, streams, DTMF, capture coverage (R1), roles.
-- Applied by `callvault db migrate` inside one transaction. Tables live in the
-- schema `callvault`; auditors see only the views of the schema `audit` (0002).

-- Roles are cluster-wide: create them once, never with superuser rights.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'callvault_writer') THEN
    CREATE ROLE callvault_writer LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'callvault_auditor') THEN
    CREATE ROLE callvault_auditor LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'callvault_retention') THEN
    CREATE ROLE callvault_retention LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
  END IF;
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
CREATE INDEX coverage_intervals_time ON callvault.coverage_intervals (interval_start);
CREATE INDEX coverage_intervals_drops ON callvault.coverage_intervals (interval_start)
  WHERE kernel_drops + interface_drops > 0;

CREATE TABLE callvault.calls (
  call_uuid        uuid PRIMARY KEY,
  sensor           text NOT NULL,
  session_uuid     uuid,
  -- Personal data (R5): sip_call_id, caller, callee are cleared when the
  -- recording expires, so they are nullable.
  sip_call_id      text,
  caller           text,
  callee           text,
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
  expires_at       timestamptz NOT NULL,
  indexed_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calls_start_time ON callvault.calls (start_time);
CREATE INDEX calls_caller ON callvault.calls (caller, start_time);
CREATE INDEX calls_callee ON callvault.calls (callee, start_time);
CREATE INDEX calls_sip_call_id ON callvault.calls (sip_call_id);
CREATE INDEX calls_expires_at ON callvault.calls (expires_at);
CREATE INDEX calls_session ON callvault.calls (session_uuid);
-- Integrity checks and "calls with audio" questions read only rows that hold audio.
CREATE INDEX calls_with_audio ON callvault.calls (start_time) WHERE audio_path IS NOT NULL;

CREATE TABLE callvault.streams (
  call_uuid      uuid NOT NULL REFERENCES callvault.calls ON DELETE CASCADE,
  ordinal        smallint NOT NULL,
  ssrc           bigint NOT NULL,
  src_ip         inet NOT NULL,
  src_port       integer NOT NULL,
  dst_ip         inet NOT NULL,
  dst_port       integer NOT NULL,
  codec          text NOT NULL,
  payload_types  smallint[] NOT NULL,
  packets        bigint NOT NULL,
  lost           bigint NOT NULL,
  duplicates     bigint NOT NULL,
  late           bigint NOT NULL,
  channel        text NOT NULL CHECK (channel IN ('caller', 'callee')),
  decoded        boolean NOT NULL,
  first_packet   timestamptz NOT NULL,
  offset_samples bigint NOT NULL,
  PRIMARY KEY (call_uuid, ordinal)
);

CREATE TABLE callvault.dtmf_events (
  call_uuid   uuid NOT NULL REFERENCES callvault.calls ON DELETE CASCADE,
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

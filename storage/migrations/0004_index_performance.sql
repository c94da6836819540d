-- callvault index, version 4: hourly summaries for the auditors' per-day
-- counts (docs/PERFORMANCE.md, "Index (PostgreSQL)"). Applied by
-- `callvault db migrate` inside one transaction; depends only on 0001-0003.
--
-- "Daily call counts per direction" counted 173,000 index entries (109 ms
-- with a million calls) and "Capture drops per day" summed 86,000 one-minute
-- intervals (68 ms), against a target of 50 ms. Both now read a summary by
-- UTC hour: a week is 168 hours x 4 directions. Office days are whole hours
-- in Europe/Warsaw (its offsets are whole hours), so grouping the hours by
-- office day gives exactly the counts of the calls themselves.
--
-- The summaries are kept exact by statement-level triggers with transition
-- tables: each INSERT adds the counts of the rows it actually inserted (an
-- INSERT ... ON CONFLICT DO NOTHING that skips a row already present, as a
-- replayed journal segment does, adds nothing for it), each UPDATE adds the
-- new rows' counts and subtracts the old ones' (retention clears has_audio),
-- each DELETE subtracts, TRUNCATE empties. The deltas are applied in key
-- order, so that two writers' transactions lock the summary rows in the same
-- order (they wait, they do not deadlock); the writer inserts a part's calls
-- last, just before its commit, so that such a wait is short. The functions
-- are SECURITY DEFINER: the writer and retention roles need no privilege on
-- the summary tables.

LOCK TABLE callvault.calls, callvault.coverage_intervals IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE callvault.calls_hourly (
  hour      timestamptz NOT NULL,  -- date_trunc('hour', start_time, 'UTC')
  direction text NOT NULL,
  calls     bigint NOT NULL,
  answered  bigint NOT NULL,
  recorded  bigint NOT NULL,       -- has_audio
  PRIMARY KEY (hour, direction)
);

CREATE FUNCTION callvault.calls_hourly_apply() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    DELETE FROM callvault.calls_hourly;
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO callvault.calls_hourly AS h (hour, direction, calls, answered, recorded)
    SELECT date_trunc('hour', start_time, 'UTC'), direction, count(*),
           count(*) FILTER (WHERE answered), count(*) FILTER (WHERE has_audio)
      FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (hour, direction) DO UPDATE
      SET calls = h.calls + EXCLUDED.calls, answered = h.answered + EXCLUDED.answered,
          recorded = h.recorded + EXCLUDED.recorded;
  ELSE
    INSERT INTO callvault.calls_hourly AS h (hour, direction, calls, answered, recorded)
    SELECT hour, direction, sum(n), sum(a), sum(r)
      FROM (SELECT date_trunc('hour', start_time, 'UTC') AS hour, direction, -1 AS n,
                   -answered::int AS a, -has_audio::int AS r
              FROM old_rows
            UNION ALL
            SELECT date_trunc('hour', start_time, 'UTC'), direction, 1, answered::int, has_audio::int
              FROM new_rows
             WHERE TG_OP = 'UPDATE') d
     GROUP BY 1, 2
    HAVING sum(n) <> 0 OR sum(a) <> 0 OR sum(r) <> 0
     ORDER BY 1, 2
    ON CONFLICT (hour, direction) DO UPDATE
      SET calls = h.calls + EXCLUDED.calls, answered = h.answered + EXCLUDED.answered,
          recorded = h.recorded + EXCLUDED.recorded;
  END IF;
  RETURN NULL;
END
$$;

-- A DELETE's trigger cannot name a NEW TABLE: it gets its own function body
-- through a wrapper that never reads new_rows.
CREATE FUNCTION callvault.calls_hourly_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO callvault.calls_hourly AS h (hour, direction, calls, answered, recorded)
  SELECT date_trunc('hour', start_time, 'UTC'), direction, -count(*),
         -count(*) FILTER (WHERE answered), -count(*) FILTER (WHERE has_audio)
    FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2
  ON CONFLICT (hour, direction) DO UPDATE
    SET calls = h.calls + EXCLUDED.calls, answered = h.answered + EXCLUDED.answered,
        recorded = h.recorded + EXCLUDED.recorded;
  RETURN NULL;
END
$$;

CREATE TRIGGER calls_hourly_insert AFTER INSERT ON callvault.calls
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION callvault.calls_hourly_apply();
CREATE TRIGGER calls_hourly_update AFTER UPDATE ON callvault.calls
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION callvault.calls_hourly_apply();
CREATE TRIGGER calls_hourly_delete AFTER DELETE ON callvault.calls
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION callvault.calls_hourly_delete();
CREATE TRIGGER calls_hourly_truncate AFTER TRUNCATE ON callvault.calls
  FOR EACH STATEMENT EXECUTE FUNCTION callvault.calls_hourly_apply();

INSERT INTO callvault.calls_hourly (hour, direction, calls, answered, recorded)
SELECT date_trunc('hour', start_time, 'UTC'), direction, count(*),
       count(*) FILTER (WHERE answered), count(*) FILTER (WHERE has_audio)
  FROM callvault.calls GROUP BY 1, 2;

CREATE TABLE callvault.coverage_hourly (
  session_uuid    uuid NOT NULL,
  hour            timestamptz NOT NULL,  -- date_trunc('hour', interval_start, 'UTC')
  intervals       bigint NOT NULL,
  packets         bigint NOT NULL,
  bytes           bigint NOT NULL,
  kernel_drops    bigint NOT NULL,
  interface_drops bigint NOT NULL,
  PRIMARY KEY (hour, session_uuid)
);

CREATE FUNCTION callvault.coverage_hourly_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    DELETE FROM callvault.coverage_hourly;
    RETURN NULL;
  END IF;
  INSERT INTO callvault.coverage_hourly AS h
         (session_uuid, hour, intervals, packets, bytes, kernel_drops, interface_drops)
  SELECT session_uuid, date_trunc('hour', interval_start, 'UTC'), count(*), sum(packets), sum(bytes),
         sum(kernel_drops), sum(interface_drops)
    FROM new_rows GROUP BY 1, 2 ORDER BY 2, 1
  ON CONFLICT (hour, session_uuid) DO UPDATE
    SET intervals = h.intervals + EXCLUDED.intervals, packets = h.packets + EXCLUDED.packets,
        bytes = h.bytes + EXCLUDED.bytes, kernel_drops = h.kernel_drops + EXCLUDED.kernel_drops,
        interface_drops = h.interface_drops + EXCLUDED.interface_drops;
  RETURN NULL;
END
$$;

CREATE FUNCTION callvault.coverage_hourly_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO callvault.coverage_hourly AS h
         (session_uuid, hour, intervals, packets, bytes, kernel_drops, interface_drops)
  SELECT session_uuid, hour, sum(n), sum(p), sum(b), sum(k), sum(i)
    FROM (SELECT session_uuid, date_trunc('hour', interval_start, 'UTC') AS hour, -1 AS n,
                 -packets AS p, -bytes AS b, -kernel_drops AS k, -interface_drops AS i
            FROM old_rows
          UNION ALL
          SELECT session_uuid, date_trunc('hour', interval_start, 'UTC'), 1, packets, bytes,
                 kernel_drops, interface_drops
            FROM new_rows) d
   GROUP BY 1, 2 ORDER BY 2, 1
  ON CONFLICT (hour, session_uuid) DO UPDATE
    SET intervals = h.intervals + EXCLUDED.intervals, packets = h.packets + EXCLUDED.packets,
        bytes = h.bytes + EXCLUDED.bytes, kernel_drops = h.kernel_drops + EXCLUDED.kernel_drops,
        interface_drops = h.interface_drops + EXCLUDED.interface_drops;
  RETURN NULL;
END
$$;

CREATE FUNCTION callvault.coverage_hourly_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO callvault.coverage_hourly AS h
         (session_uuid, hour, intervals, packets, bytes, kernel_drops, interface_drops)
  SELECT session_uuid, date_trunc('hour', interval_start, 'UTC'), -count(*), -sum(packets), -sum(bytes),
         -sum(kernel_drops), -sum(interface_drops)
    FROM old_rows GROUP BY 1, 2 ORDER BY 2, 1
  ON CONFLICT (hour, session_uuid) DO UPDATE
    SET intervals = h.intervals + EXCLUDED.intervals, packets = h.packets + EXCLUDED.packets,
        bytes = h.bytes + EXCLUDED.bytes, kernel_drops = h.kernel_drops + EXCLUDED.kernel_drops,
        interface_drops = h.interface_drops + EXCLUDED.interface_drops;
  RETURN NULL;
END
$$;

CREATE TRIGGER coverage_hourly_insert AFTER INSERT ON callvault.coverage_intervals
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION callvault.coverage_hourly_insert();
CREATE TRIGGER coverage_hourly_update AFTER UPDATE ON callvault.coverage_intervals
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION callvault.coverage_hourly_change();
CREATE TRIGGER coverage_hourly_delete AFTER DELETE ON callvault.coverage_intervals
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION callvault.coverage_hourly_delete();
CREATE TRIGGER coverage_hourly_truncate AFTER TRUNCATE ON callvault.coverage_intervals
  FOR EACH STATEMENT EXECUTE FUNCTION callvault.coverage_hourly_insert();

INSERT INTO callvault.coverage_hourly (session_uuid, hour, intervals, packets, bytes, kernel_drops, interface_drops)
SELECT session_uuid, date_trunc('hour', interval_start, 'UTC'), count(*), sum(packets), sum(bytes),
       sum(kernel_drops), sum(interface_drops)
  FROM callvault.coverage_intervals GROUP BY 1, 2;

CREATE VIEW audit.calls_per_hour AS
SELECT hour, direction, calls, answered, recorded
  FROM callvault.calls_hourly
 WHERE calls > 0;

COMMENT ON VIEW audit.calls_per_hour IS
  'Calls per hour (UTC hours) and direction, kept exact as calls are indexed: the same counts as audit.calls grouped by date_trunc(''hour'', start_time, ''UTC''), fast for any period. Group the hours by office day with (hour AT TIME ZONE ''Europe/Warsaw'')::date.';
COMMENT ON COLUMN audit.calls_per_hour.hour IS 'Start of the hour (whole UTC hour) in which the calls started (audit.calls.start_time). Indexed.';
COMMENT ON COLUMN audit.calls_per_hour.direction IS 'incoming, outgoing, internal or unknown.';
COMMENT ON COLUMN audit.calls_per_hour.calls IS 'Calls that started in the hour.';
COMMENT ON COLUMN audit.calls_per_hour.answered IS 'Of those, the answered ones (audit.calls.answered).';
COMMENT ON COLUMN audit.calls_per_hour.recorded IS 'Of those, the ones with an audio file that has not been deleted (audit.calls.has_audio).';

CREATE VIEW audit.coverage_per_hour AS
SELECT h.session_uuid,
       s.sensor,
       s.kind,
       h.hour,
       h.intervals,
       h.packets,
       h.bytes,
       h.kernel_drops,
       h.interface_drops,
       h.kernel_drops + h.interface_drops AS packets_dropped
  FROM callvault.coverage_hourly h
  LEFT JOIN callvault.capture_sessions s ON s.session_uuid = h.session_uuid
 WHERE h.intervals > 0;

COMMENT ON VIEW audit.coverage_per_hour IS
  'Coverage intervals summed per capture session and hour (UTC hours, by interval_start), kept exact as intervals are indexed: the same sums as audit.coverage_intervals grouped by session and date_trunc(''hour'', interval_start, ''UTC''), fast for any period.';
COMMENT ON COLUMN audit.coverage_per_hour.session_uuid IS 'The session (audit.capture_sessions.session_uuid).';
COMMENT ON COLUMN audit.coverage_per_hour.sensor IS 'Name of the recorder.';
COMMENT ON COLUMN audit.coverage_per_hour.kind IS 'live or replay.';
COMMENT ON COLUMN audit.coverage_per_hour.hour IS 'Start of the hour (whole UTC hour) in which the intervals started. Indexed.';
COMMENT ON COLUMN audit.coverage_per_hour.intervals IS 'Coverage intervals of the session that started in the hour.';
COMMENT ON COLUMN audit.coverage_per_hour.packets IS 'Packets captured in those intervals.';
COMMENT ON COLUMN audit.coverage_per_hour.bytes IS 'Bytes captured in those intervals.';
COMMENT ON COLUMN audit.coverage_per_hour.kernel_drops IS 'Packets the kernel dropped in those intervals.';
COMMENT ON COLUMN audit.coverage_per_hour.interface_drops IS 'Packets the network interface or driver dropped in those intervals.';
COMMENT ON COLUMN audit.coverage_per_hour.packets_dropped IS 'kernel_drops + interface_drops.';

GRANT SELECT ON audit.calls_per_hour, audit.coverage_per_hour TO callvault_auditor, callvault_retention;

-- callvault index, version 2: the auditors' interface (docs/AUDITORS.md).
-- Applied by `callvault db migrate` inside one transaction, after 0001.
--
-- The schema `audit` holds views only. They run with the rights of their owner
-- (the role that applies the migrations; NOT security_invoker), so the roles
-- below read them without any privilege on the schema `callvault`.
-- These views are a stable interface: add columns at the end, never rename or
-- drop one without a new documented version.
--
-- Speed at millions of calls: audit.calls and the other call views are plain
-- (no aggregate or window function at their top level), so a filter on
-- start_time, caller, callee, sip_call_id or expires_at reaches the indexes of
-- 0001 (calls_start_time, calls_caller, calls_callee, calls_sip_call_id,
-- calls_expires_at), and the conditions of the example queries reach their
-- partial indexes (calls_long, calls_unanswered, ...). Per-call aggregates
-- (one_sided_calls) are LATERAL subqueries evaluated only for the calls the
-- filter kept. audit.streams takes call_start_time and loss_pct from the
-- streams themselves (indexed there) and joins calls only for sip_call_id.

CREATE SCHEMA audit;
COMMENT ON SCHEMA audit IS
  'callvault: read-only views for auditors (docs/AUDITORS.md). Times are timestamptz (stored in UTC).';
REVOKE ALL ON SCHEMA audit FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Calls
-- ---------------------------------------------------------------------------
CREATE VIEW audit.calls AS
SELECT c.call_uuid          AS uuid,
       c.sensor,
       c.session_uuid,
       c.sip_call_id,
       c.start_time,
       c.answer_time,
       c.end_time,
       c.caller,
       c.callee,
       c.direction,
       c.answered,
       c.joined_mid_call,
       c.final_status,
       c.end_reason,
       c.duration_s,
       c.codecs,
       c.stream_count,
       c.stream_count > 0    AS media_seen,
       c.has_audio,          -- audio_path IS NOT NULL (a stored column, indexed)
       c.audio_path,
       c.audio_bytes,
       c.audio_sha256,
       c.sample_rate,
       c.audio_start,
       c.audio_error,
       c.expires_at,
       c.indexed_at
  FROM callvault.calls c;

COMMENT ON VIEW audit.calls IS
  'One row per call the recorder saw (recorded or not). Personal data (sip_call_id, caller, callee) is NULL once the recording has expired (R5). Fast filters: start_time ranges, caller = / callee = (with a start_time range), sip_call_id =, expires_at ranges.';
COMMENT ON COLUMN audit.calls.uuid IS 'Recording id (UUID v5 of sensor, SIP Call-ID and first INVITE time); also the WAV file name.';
COMMENT ON COLUMN audit.calls.sensor IS 'Name of the recorder (configuration [recorder] sensor) that captured the call.';
COMMENT ON COLUMN audit.calls.session_uuid IS 'Capture session that recorded the call (audit.capture_sessions.session_uuid).';
COMMENT ON COLUMN audit.calls.sip_call_id IS 'SIP Call-ID header of the dialog. NULL after expiry (personal data).';
COMMENT ON COLUMN audit.calls.start_time IS 'Capture time of the first INVITE (or of the first re-INVITE/UPDATE when joined_mid_call). Indexed.';
COMMENT ON COLUMN audit.calls.answer_time IS 'Capture time of the 2xx that answered the INVITE; NULL if never answered.';
COMMENT ON COLUMN audit.calls.end_time IS 'Capture time at which the call ended (BYE, CANCEL, final error response, timeout, end of capture).';
COMMENT ON COLUMN audit.calls.caller IS 'User part of the From header of the initial INVITE (the number as signalled, e.g. 48601234567 or +48601234567). NULL after expiry. Indexed.';
COMMENT ON COLUMN audit.calls.callee IS 'User part of the To header of the initial INVITE. NULL after expiry. Indexed.';
COMMENT ON COLUMN audit.calls.direction IS 'incoming, outgoing, internal (office to office) or unknown, from the configured office numbers (R3).';
COMMENT ON COLUMN audit.calls.answered IS 'True when a 2xx answered the INVITE (or the call was joined mid-call).';
COMMENT ON COLUMN audit.calls.joined_mid_call IS 'True when the INVITE was not captured (the recorder started during the call); start_time and caller then come from a later re-INVITE/UPDATE.';
COMMENT ON COLUMN audit.calls.final_status IS 'Final SIP status of the INVITE transaction (200, 486, 487, ...); 0 when none was seen.';
COMMENT ON COLUMN audit.calls.end_reason IS 'bye, cancel, rejected (3xx-6xx final response), timeout (no SIP or RTP for the configured time), capture_end (still open when capture stopped), evicted (call table full).';
COMMENT ON COLUMN audit.calls.duration_s IS 'Length of the audio file in seconds, or end_time - start_time when there is no audio.';
COMMENT ON COLUMN audit.calls.codecs IS 'Audio codecs seen in the call''s RTP, first seen first (e.g. {PCMA}); codecs unknown to the recorder are only in audit.streams.';
COMMENT ON COLUMN audit.calls.stream_count IS 'Number of RTP streams (SSRC + addresses) bound to the call, decodable or not (audit.streams).';
COMMENT ON COLUMN audit.calls.media_seen IS 'stream_count > 0: some RTP of the call was captured. False for an answered call means its media was never seen (R1).';
COMMENT ON COLUMN audit.calls.has_audio IS 'audio_path IS NOT NULL: an audio file was written for this call and has not been deleted.';
COMMENT ON COLUMN audit.calls.audio_path IS 'Path of the stereo WAV file (left = caller, right = callee), relative to the audio directory; NULL when no file was written or after deletion.';
COMMENT ON COLUMN audit.calls.audio_bytes IS 'Size of the WAV file in bytes.';
COMMENT ON COLUMN audit.calls.audio_sha256 IS 'SHA-256 (lowercase hex) of the WAV file as written; every call with audio must have one.';
COMMENT ON COLUMN audit.calls.sample_rate IS 'Sample rate of the WAV file: 8000, or 16000 when a stream carried G.722.';
COMMENT ON COLUMN audit.calls.audio_start IS 'Capture time of the first sample of the WAV file.';
COMMENT ON COLUMN audit.calls.audio_error IS 'Why the audio file is missing or incomplete (e.g. disk full); NULL when it was written completely.';
COMMENT ON COLUMN audit.calls.expires_at IS 'When normal retention deletes the audio file and clears the personal data (R5: one month from start, office time zone); a legal hold (R6) keeps it longer. Indexed.';
COMMENT ON COLUMN audit.calls.indexed_at IS 'When this row was written to the database.';

-- ---------------------------------------------------------------------------
-- RTP streams
-- ---------------------------------------------------------------------------
CREATE VIEW audit.streams AS
SELECT s.call_uuid,
       c.sip_call_id,
       s.call_start_time,
       s.ordinal,
       s.ssrc,
       '0x' || upper(lpad(to_hex(s.ssrc), 8, '0')) AS ssrc_hex,
       s.src_ip,
       s.src_port,
       s.dst_ip,
       s.dst_port,
       s.codec,
       s.payload_types,
       s.channel,
       s.decoded,
       s.packets,
       s.lost,
       s.loss_pct,
       s.duplicates,
       s.late,
       s.first_packet,
       s.offset_samples
  FROM callvault.streams s
  -- LEFT: a query that reads no column of the call skips the join.
  LEFT JOIN callvault.calls c ON c.call_uuid = s.call_uuid;

COMMENT ON VIEW audit.streams IS
  'One row per RTP stream (one SSRC from one source address to one destination address) bound to a call. Filter by call_uuid, sip_call_id or call_start_time.';
COMMENT ON COLUMN audit.streams.call_uuid IS 'The call (audit.calls.uuid).';
COMMENT ON COLUMN audit.streams.sip_call_id IS 'SIP Call-ID of the call (audit.calls.sip_call_id); NULL after expiry.';
COMMENT ON COLUMN audit.streams.call_start_time IS 'Start of the call (audit.calls.start_time); use it for time ranges. Indexed.';
COMMENT ON COLUMN audit.streams.ordinal IS 'Number of the stream within the call (0, 1, ...), in order of first packet.';
COMMENT ON COLUMN audit.streams.ssrc IS 'RTP synchronization source identifier, as a number.';
COMMENT ON COLUMN audit.streams.ssrc_hex IS 'The SSRC as 0x%08X, as Wireshark shows it.';
COMMENT ON COLUMN audit.streams.src_ip IS 'Source IP address of the RTP packets.';
COMMENT ON COLUMN audit.streams.src_port IS 'Source UDP port.';
COMMENT ON COLUMN audit.streams.dst_ip IS 'Destination IP address.';
COMMENT ON COLUMN audit.streams.dst_port IS 'Destination UDP port.';
COMMENT ON COLUMN audit.streams.codec IS 'PCMU, PCMA, G722, another SDP codec name (not decoded, e.g. G729), or unknown.';
COMMENT ON COLUMN audit.streams.payload_types IS 'RTP payload types seen in the stream (e.g. {8,13}: PCMA and comfort noise).';
COMMENT ON COLUMN audit.streams.channel IS 'Party that sent the stream: caller (left channel of the WAV) or callee (right channel).';
COMMENT ON COLUMN audit.streams.decoded IS 'True when the stream''s audio is in the WAV file; false for codecs the recorder cannot decode.';
COMMENT ON COLUMN audit.streams.packets IS 'Unique RTP packets received (duplicates excluded).';
COMMENT ON COLUMN audit.streams.lost IS 'RTP sequence numbers never received (lost in the network or by the capture).';
COMMENT ON COLUMN audit.streams.loss_pct IS '100 * lost / (packets + lost), two decimals; NULL for an empty stream. Indexed for values of 1 and more, with call_start_time: loss_pct > 5 in a time range reads only the lossy streams.';
COMMENT ON COLUMN audit.streams.duplicates IS 'Packets received more than once (dropped).';
COMMENT ON COLUMN audit.streams.late IS 'Packets that arrived too late to be placed in the audio.';
COMMENT ON COLUMN audit.streams.first_packet IS 'Capture time of the stream''s first packet.';
COMMENT ON COLUMN audit.streams.offset_samples IS 'Position of the stream''s first packet in the WAV file, in samples; -1 when not placed (not decoded).';

-- ---------------------------------------------------------------------------
-- DTMF
-- ---------------------------------------------------------------------------
CREATE VIEW audit.dtmf AS
SELECT d.call_uuid,
       c.sip_call_id,
       c.start_time        AS call_start_time,
       d.ordinal,
       d.digit,
       d.at,
       extract(epoch FROM d.at - c.start_time)::numeric(12, 3) AS offset_s,
       d.duration_ms,
       d.channel,
       d.source
  FROM callvault.dtmf_events d
  JOIN callvault.calls c ON c.call_uuid = d.call_uuid;

COMMENT ON VIEW audit.dtmf IS
  'One row per DTMF key press signalled in a call (RTP telephone-event or SIP INFO). Filter by call_uuid, sip_call_id or call_start_time.';
COMMENT ON COLUMN audit.dtmf.call_uuid IS 'The call (audit.calls.uuid).';
COMMENT ON COLUMN audit.dtmf.sip_call_id IS 'SIP Call-ID of the call; NULL after expiry.';
COMMENT ON COLUMN audit.dtmf.call_start_time IS 'Start of the call (audit.calls.start_time).';
COMMENT ON COLUMN audit.dtmf.ordinal IS 'Number of the key press within the call (0, 1, ...), in time order.';
COMMENT ON COLUMN audit.dtmf.digit IS 'The key: 0-9, *, #, A-D.';
COMMENT ON COLUMN audit.dtmf.at IS 'Capture time of the key press.';
COMMENT ON COLUMN audit.dtmf.offset_s IS 'Seconds from the start of the call to the key press.';
COMMENT ON COLUMN audit.dtmf.duration_ms IS 'How long the key was held, in milliseconds (0 when the signalling does not say).';
COMMENT ON COLUMN audit.dtmf.channel IS 'Party that pressed the key: caller or callee.';
COMMENT ON COLUMN audit.dtmf.source IS 'rfc4733 (RTP telephone-event) or sip_info (SIP INFO message).';

-- ---------------------------------------------------------------------------
-- Capture sessions and coverage (R1)
-- ---------------------------------------------------------------------------
CREATE VIEW audit.capture_sessions AS
SELECT s.session_uuid,
       s.sensor,
       s.kind,
       s.source,
       s.started_at,
       s.stopped_at,
       s.stop_reason,
       greatest(s.started_at, s.stopped_at, li.interval_end) AS last_seen,
       CASE
         WHEN s.stopped_at IS NOT NULL THEN 'stopped'
         WHEN nx.session_uuid IS NOT NULL THEN 'died'
         WHEN now() - greatest(s.started_at, li.interval_end)
              > greatest(interval '15 minutes', 3 * (li.interval_end - li.interval_start))
           THEN 'silent'
         ELSE 'running'
       END AS state,
       nx.session_uuid AS next_session_uuid,
       s.packets,
       s.bytes,
       s.kernel_drops,
       s.interface_drops,
       s.rtp_unmatched,
       s.calls,
       s.calls_without_media,
       s.index_records_lost,
       s.indexed_at
  FROM callvault.capture_sessions s
  LEFT JOIN LATERAL (
         SELECT ci.interval_start, ci.interval_end
           FROM callvault.coverage_intervals ci
          WHERE ci.session_uuid = s.session_uuid
          ORDER BY ci.interval_start DESC
          LIMIT 1) li ON true
  LEFT JOIN LATERAL (
         SELECT n.session_uuid
           FROM callvault.capture_sessions n
          WHERE n.sensor = s.sensor
            AND n.kind = s.kind
            AND n.started_at > s.started_at
          ORDER BY n.started_at
          LIMIT 1) nx ON true;

COMMENT ON VIEW audit.capture_sessions IS
  'One row per capture session: a live capture on a network interface, or a replay of capture files (tests). A session that never recorded a stop ended because the recorder died (state died or silent).';
COMMENT ON COLUMN audit.capture_sessions.session_uuid IS 'Session id (audit.calls.session_uuid, audit.coverage_intervals.session_uuid).';
COMMENT ON COLUMN audit.capture_sessions.sensor IS 'Name of the recorder.';
COMMENT ON COLUMN audit.capture_sessions.kind IS 'live (capture from a network interface) or replay (capture files; tests and demonstrations).';
COMMENT ON COLUMN audit.capture_sessions.source IS 'The interface (live) or the files (replay).';
COMMENT ON COLUMN audit.capture_sessions.started_at IS 'When capture started.';
COMMENT ON COLUMN audit.capture_sessions.stopped_at IS 'When capture stopped; NULL while running or when the recorder died without recording its stop.';
COMMENT ON COLUMN audit.capture_sessions.stop_reason IS 'end_of_input, signal (stopped by the service manager), or error: <text>.';
COMMENT ON COLUMN audit.capture_sessions.last_seen IS 'Last sign of life: the latest of started_at, stopped_at and the end of the session''s last coverage interval.';
COMMENT ON COLUMN audit.capture_sessions.state IS 'stopped (stop recorded); died (no stop recorded, and a later session of the same sensor and kind started); silent (no stop, no later session, and no coverage interval for 15 minutes or 3 intervals, whichever is longer: the recorder is down or cannot write); running.';
COMMENT ON COLUMN audit.capture_sessions.next_session_uuid IS 'The next session of the same sensor and kind, if any.';
COMMENT ON COLUMN audit.capture_sessions.packets IS 'Packets captured in the session (as of its last update).';
COMMENT ON COLUMN audit.capture_sessions.bytes IS 'Bytes captured in the session.';
COMMENT ON COLUMN audit.capture_sessions.kernel_drops IS 'Packets the kernel dropped because the recorder did not read them fast enough.';
COMMENT ON COLUMN audit.capture_sessions.interface_drops IS 'Packets the network interface or its driver dropped.';
COMMENT ON COLUMN audit.capture_sessions.rtp_unmatched IS 'RTP-looking packets that belonged to no known call (media of calls whose signalling was not seen).';
COMMENT ON COLUMN audit.capture_sessions.calls IS 'Calls recorded in the session.';
COMMENT ON COLUMN audit.capture_sessions.calls_without_media IS 'Calls of the session whose media was never seen.';
COMMENT ON COLUMN audit.capture_sessions.index_records_lost IS 'Calls that could be neither journaled nor written to the database (missing from audit.calls). Must be 0.';
COMMENT ON COLUMN audit.capture_sessions.indexed_at IS 'When the session row was first written to the database.';

CREATE VIEW audit.coverage_intervals AS
SELECT ci.session_uuid,
       s.sensor,
       s.kind,
       ci.interval_start,
       ci.interval_end,
       ci.packets,
       ci.bytes,
       ci.kernel_drops,
       ci.interface_drops,
       ci.kernel_drops + ci.interface_drops AS packets_dropped,
       ci.rtp_unmatched,
       ci.sip_messages,
       ci.calls_started,
       ci.calls_without_media,
       ci.malformed
  FROM callvault.coverage_intervals ci
  LEFT JOIN callvault.capture_sessions s ON s.session_uuid = ci.session_uuid;

COMMENT ON VIEW audit.coverage_intervals IS
  'What a capture session saw in each of its consecutive intervals (R1). Filter by interval_start (indexed).';
COMMENT ON COLUMN audit.coverage_intervals.session_uuid IS 'The capture session (audit.capture_sessions).';
COMMENT ON COLUMN audit.coverage_intervals.sensor IS 'Name of the recorder.';
COMMENT ON COLUMN audit.coverage_intervals.kind IS 'live or replay (the session''s kind).';
COMMENT ON COLUMN audit.coverage_intervals.interval_start IS 'Start of the interval. Indexed.';
COMMENT ON COLUMN audit.coverage_intervals.interval_end IS 'End of the interval; the next interval of the session starts here.';
COMMENT ON COLUMN audit.coverage_intervals.packets IS 'Packets captured in the interval.';
COMMENT ON COLUMN audit.coverage_intervals.bytes IS 'Bytes captured in the interval.';
COMMENT ON COLUMN audit.coverage_intervals.kernel_drops IS 'Packets dropped by the kernel in the interval (recorder too slow).';
COMMENT ON COLUMN audit.coverage_intervals.interface_drops IS 'Packets dropped by the network interface or its driver in the interval.';
COMMENT ON COLUMN audit.coverage_intervals.packets_dropped IS 'kernel_drops + interface_drops: packets lost to the capture; calls of this interval may have gaps in their audio.';
COMMENT ON COLUMN audit.coverage_intervals.rtp_unmatched IS 'RTP-looking packets that belonged to no known call.';
COMMENT ON COLUMN audit.coverage_intervals.sip_messages IS 'SIP messages captured.';
COMMENT ON COLUMN audit.coverage_intervals.calls_started IS 'Calls that started in the interval.';
COMMENT ON COLUMN audit.coverage_intervals.calls_without_media IS 'Calls that ended in the interval with no media seen.';
COMMENT ON COLUMN audit.coverage_intervals.malformed IS 'Packets counted as malformed or unexpected.';

CREATE VIEW audit.coverage_gaps AS
SELECT cs.sensor,
       CASE WHEN cs.stopped_at IS NOT NULL THEN 'between_sessions' ELSE 'recorder_died' END AS kind,
       coalesce(cs.stopped_at, cs.last_seen) AS gap_start,
       n.started_at AS gap_end,
       n.started_at - coalesce(cs.stopped_at, cs.last_seen) AS length,
       cs.session_uuid,
       n.session_uuid AS next_session_uuid,
       NULL::bigint AS kernel_drops,
       NULL::bigint AS interface_drops,
       cs.stop_reason
  FROM audit.capture_sessions cs
  JOIN callvault.capture_sessions n ON n.session_uuid = cs.next_session_uuid
 WHERE cs.kind = 'live'
   AND n.started_at > coalesce(cs.stopped_at, cs.last_seen)
UNION ALL
SELECT cs.sensor,
       'recorder_silent',
       cs.last_seen,
       NULL::timestamptz,
       NULL::interval,
       cs.session_uuid,
       NULL::uuid,
       NULL::bigint,
       NULL::bigint,
       cs.stop_reason
  FROM audit.capture_sessions cs
 WHERE cs.kind = 'live'
   AND cs.state = 'silent'
UNION ALL
SELECT s.sensor,
       'packet_drops',
       ci.interval_start,
       ci.interval_end,
       ci.interval_end - ci.interval_start,
       ci.session_uuid,
       NULL::uuid,
       ci.kernel_drops,
       ci.interface_drops,
       NULL::text
  FROM callvault.coverage_intervals ci
  JOIN callvault.capture_sessions s ON s.session_uuid = ci.session_uuid
 WHERE s.kind = 'live'
   AND ci.kernel_drops + ci.interface_drops > 0;

COMMENT ON VIEW audit.coverage_gaps IS
  'Periods in which a live sensor did not capture everything (R1): between the stop of one session and the start of the next (between_sessions); from the last sign of life of a session that never recorded its stop to the start of the next (recorder_died); since the last sign of life of a session that is still open but no longer reports (recorder_silent, gap_end NULL: ongoing); intervals in which the kernel or the interface dropped packets (packet_drops). Replay sessions are not considered.';
COMMENT ON COLUMN audit.coverage_gaps.sensor IS 'Name of the recorder.';
COMMENT ON COLUMN audit.coverage_gaps.kind IS 'between_sessions, recorder_died, recorder_silent or packet_drops (see the view comment).';
COMMENT ON COLUMN audit.coverage_gaps.gap_start IS 'Start of the gap: stop of the session, its last sign of life, or start of the interval with drops.';
COMMENT ON COLUMN audit.coverage_gaps.gap_end IS 'End of the gap: start of the next session, or end of the interval with drops; NULL while the gap lasts (recorder_silent).';
COMMENT ON COLUMN audit.coverage_gaps.length IS 'gap_end - gap_start; NULL while the gap lasts.';
COMMENT ON COLUMN audit.coverage_gaps.session_uuid IS 'The session before the gap, or the session in which packets were dropped.';
COMMENT ON COLUMN audit.coverage_gaps.next_session_uuid IS 'The session that ended the gap (between_sessions, recorder_died).';
COMMENT ON COLUMN audit.coverage_gaps.kernel_drops IS 'packet_drops: packets dropped by the kernel in the interval; NULL for the other kinds (nothing was captured).';
COMMENT ON COLUMN audit.coverage_gaps.interface_drops IS 'packet_drops: packets dropped by the interface in the interval; NULL for the other kinds.';
COMMENT ON COLUMN audit.coverage_gaps.stop_reason IS 'between_sessions: why the session before the gap stopped.';

-- ---------------------------------------------------------------------------
-- Calls needing attention
-- ---------------------------------------------------------------------------
CREATE VIEW audit.calls_without_media AS
SELECT c.call_uuid AS uuid,
       c.sensor,
       c.session_uuid,
       c.sip_call_id,
       c.start_time,
       c.answer_time,
       c.end_time,
       c.caller,
       c.callee,
       c.direction,
       c.answered,
       c.joined_mid_call,
       c.final_status,
       c.end_reason,
       c.duration_s,
       c.answered AS media_expected
  FROM callvault.calls c
 WHERE c.stream_count = 0;

COMMENT ON VIEW audit.calls_without_media IS
  'Calls of which no RTP was captured (stream_count = 0, R1). Normal for calls rejected or cancelled before any early media; for answered calls (media_expected) the media was not seen: it took a path the mirror port does not copy, or capture dropped it.';
COMMENT ON COLUMN audit.calls_without_media.uuid IS 'Recording id (audit.calls.uuid).';
COMMENT ON COLUMN audit.calls_without_media.sensor IS 'Name of the recorder.';
COMMENT ON COLUMN audit.calls_without_media.session_uuid IS 'Capture session of the call.';
COMMENT ON COLUMN audit.calls_without_media.sip_call_id IS 'SIP Call-ID; NULL after expiry.';
COMMENT ON COLUMN audit.calls_without_media.start_time IS 'Capture time of the first INVITE. Indexed.';
COMMENT ON COLUMN audit.calls_without_media.answer_time IS 'Capture time of the answering 2xx; NULL if never answered.';
COMMENT ON COLUMN audit.calls_without_media.end_time IS 'When the call ended.';
COMMENT ON COLUMN audit.calls_without_media.caller IS 'Calling number (From user part); NULL after expiry.';
COMMENT ON COLUMN audit.calls_without_media.callee IS 'Called number (To user part); NULL after expiry.';
COMMENT ON COLUMN audit.calls_without_media.direction IS 'incoming, outgoing, internal or unknown.';
COMMENT ON COLUMN audit.calls_without_media.answered IS 'True when a 2xx answered the INVITE.';
COMMENT ON COLUMN audit.calls_without_media.joined_mid_call IS 'True when the INVITE was not captured.';
COMMENT ON COLUMN audit.calls_without_media.final_status IS 'Final SIP status of the INVITE; 0 when none was seen.';
COMMENT ON COLUMN audit.calls_without_media.end_reason IS 'bye, cancel, rejected, timeout, capture_end or evicted.';
COMMENT ON COLUMN audit.calls_without_media.duration_s IS 'end_time - start_time in seconds (there is no audio).';
COMMENT ON COLUMN audit.calls_without_media.media_expected IS 'True when the call was answered, so audio should exist: these are the calls an auditor must explain.';

CREATE VIEW audit.one_sided_calls AS
SELECT c.call_uuid AS uuid,
       c.sensor,
       c.sip_call_id,
       c.start_time,
       c.end_time,
       c.caller,
       c.callee,
       c.direction,
       c.duration_s,
       c.audio_path,
       CASE WHEN c.caller_audio THEN 'caller' ELSE 'callee' END AS heard_channel,
       CASE WHEN c.caller_audio THEN 'callee' ELSE 'caller' END AS silent_channel,
       a.streams AS silent_channel_streams,
       a.codecs AS silent_channel_codecs
  FROM callvault.calls c
 CROSS JOIN LATERAL (
         SELECT count(*) AS streams,
                coalesce(array_agg(DISTINCT s.codec), '{}') AS codecs
           FROM callvault.streams s
          WHERE s.call_uuid = c.call_uuid
            AND s.channel = CASE WHEN c.caller_audio THEN 'callee' ELSE 'caller' END
            AND NOT s.decoded) a  -- always so on the silent side; index streams_undecoded
 -- caller_audio, callee_audio: whether some stream of that party was decoded
 -- (written with the call; index calls_one_sided).
 WHERE c.stream_count > 0
   AND c.caller_audio <> c.callee_audio;

COMMENT ON VIEW audit.one_sided_calls IS
  'Calls with audio in which only one party''s channel has decoded audio: the other party''s RTP was not captured (asymmetric routing, mirror port copying one direction only) or used a codec the recorder cannot decode. Filter by start_time.';
COMMENT ON COLUMN audit.one_sided_calls.uuid IS 'Recording id (audit.calls.uuid).';
COMMENT ON COLUMN audit.one_sided_calls.sensor IS 'Name of the recorder.';
COMMENT ON COLUMN audit.one_sided_calls.sip_call_id IS 'SIP Call-ID; NULL after expiry.';
COMMENT ON COLUMN audit.one_sided_calls.start_time IS 'Capture time of the first INVITE. Indexed.';
COMMENT ON COLUMN audit.one_sided_calls.end_time IS 'When the call ended.';
COMMENT ON COLUMN audit.one_sided_calls.caller IS 'Calling number; NULL after expiry.';
COMMENT ON COLUMN audit.one_sided_calls.callee IS 'Called number; NULL after expiry.';
COMMENT ON COLUMN audit.one_sided_calls.direction IS 'incoming, outgoing, internal or unknown.';
COMMENT ON COLUMN audit.one_sided_calls.duration_s IS 'Length of the audio in seconds.';
COMMENT ON COLUMN audit.one_sided_calls.audio_path IS 'The WAV file (relative path); NULL if it could not be written or was deleted.';
COMMENT ON COLUMN audit.one_sided_calls.heard_channel IS 'The party whose audio is in the file: caller (left channel) or callee (right).';
COMMENT ON COLUMN audit.one_sided_calls.silent_channel IS 'The party whose audio is missing (its channel is silence).';
COMMENT ON COLUMN audit.one_sided_calls.silent_channel_streams IS 'RTP streams captured from the silent party: 0 means its media was never seen; more means it could not be decoded (see silent_channel_codecs).';
COMMENT ON COLUMN audit.one_sided_calls.silent_channel_codecs IS 'Codecs of the silent party''s streams (e.g. {G729}); empty when none was captured.';

-- ---------------------------------------------------------------------------
-- Privileges: the auditors read the views and nothing else.
-- ---------------------------------------------------------------------------
GRANT USAGE ON SCHEMA audit TO callvault_auditor, callvault_retention;
GRANT SELECT ON audit.calls, audit.streams, audit.dtmf, audit.capture_sessions,
  audit.coverage_intervals, audit.coverage_gaps, audit.calls_without_media,
  audit.one_sided_calls TO callvault_auditor, callvault_retention;

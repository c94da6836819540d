-- callvault index, version 6: audit.retention_blocked reads the protections,
-- not the expired calls. Applied by `callvault db migrate` inside one
-- transaction; depends only on 0001-0005.
--
-- 0005's view asked callvault.retention_block() of every expired call that
-- retention had not deleted yet: with 100,000 calls and no hold at all the
-- example query took 490 ms (the benchmark's calls span 40 days and retention
-- never runs there; a recorder whose retention stopped is in the same state,
-- and that is when an auditor asks). What keeps a recording is always a row
-- of held_calls, restrictions or disclosure_calls, and those are few: the
-- view now starts from them and looks each call up by its primary key.
-- Same columns, same rows, same `why` (the function still words it, and
-- still decides which protection is named first); comments and grants stay
-- with the view.

CREATE OR REPLACE VIEW audit.retention_blocked AS
SELECT c.call_uuid AS uuid, c.start_time, c.expires_at, callvault.retention_block(c.call_uuid) AS why
  FROM callvault.calls c
 WHERE c.call_uuid IN (
         SELECT hc.call_uuid
           FROM callvault.held_calls hc JOIN callvault.legal_holds h ON h.hold_id = hc.hold_id
          WHERE h.released_at IS NULL
         UNION ALL
         SELECT r.call_uuid FROM callvault.restrictions r WHERE r.lifted_at IS NULL
         UNION ALL
         SELECT dc.call_uuid
           FROM callvault.disclosure_calls dc JOIN callvault.disclosures d ON d.disclosure_id = dc.disclosure_id
          WHERE d.decision IS NULL OR (d.decision = 'approved' AND d.exported_at IS NULL))
   AND c.deleted_at IS NULL
   AND c.expires_at <= now();

-- audit.audit_trail recomputed each entry's hash through two PL/pgSQL
-- functions (about 18 µs an entry: 36 ms for 2,000 entries, the benchmark's
-- access entries for 100,000 calls). The same canonical text (0003's
-- callvault.audit_canonical: a header line, then each field as
-- "<bytes>:<text>\n", or "-\n" when NULL) is now one SQL expression of
-- built-in functions, evaluated in the view itself. callvault.audit_hash
-- stays for audit_append and `callvault audit verify`; test_audit_trail checks
-- that both give the same hashes.
CREATE OR REPLACE VIEW audit.audit_trail AS
SELECT l.seq,
       l.at,
       l.actor,
       l.action,
       l.subject,
       l.details,
       l.prev_hash,
       l.hash,
       l.hash = encode(sha256(convert_to(
           E'callvault-audit-v1\n'
           || (octet_length(convert_to(l.seq::text, 'UTF8')) || ':' || l.seq::text || E'\n')
           || (octet_length(convert_to(((extract(epoch FROM l.at) * 1000000)::bigint)::text, 'UTF8')) || ':'
               || ((extract(epoch FROM l.at) * 1000000)::bigint)::text || E'\n')
           || CASE WHEN l.actor IS NULL THEN E'-\n'
                   ELSE octet_length(convert_to(l.actor, 'UTF8')) || ':' || l.actor || E'\n' END
           || CASE WHEN l.action IS NULL THEN E'-\n'
                   ELSE octet_length(convert_to(l.action, 'UTF8')) || ':' || l.action || E'\n' END
           || CASE WHEN l.subject IS NULL THEN E'-\n'
                   ELSE octet_length(convert_to(l.subject, 'UTF8')) || ':' || l.subject || E'\n' END
           || CASE WHEN l.details IS NULL THEN E'-\n'
                   ELSE octet_length(convert_to(l.details::text, 'UTF8')) || ':' || l.details::text || E'\n' END
           || CASE WHEN l.prev_hash IS NULL THEN E'-\n'
                   ELSE octet_length(convert_to(l.prev_hash, 'UTF8')) || ':' || l.prev_hash || E'\n' END,
           'UTF8')), 'hex') AS hash_ok,
       CASE WHEN l.seq = 1 THEN l.prev_hash = repeat('0', 64)
            ELSE coalesce(p.hash = l.prev_hash, false) END AS linked
  FROM callvault.audit_log l
  LEFT JOIN callvault.audit_log p ON p.seq = l.seq - 1;

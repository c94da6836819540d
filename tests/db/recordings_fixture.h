// Tests of what happens to recordings after they are indexed (retention,
// holds, access): a migrated scratch database and a store of real audio
// files, with calls inserted as the superuser at chosen moments in the past
// (the database refuses to delete before expiry by its own clock, so tests
// cannot move into the future; --now evaluates earlier moments).
#pragma once

#include <fmt/core.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <pqxx/connection>
#include <pqxx/transaction>
#include <string>

#include "storage/db/audit_trail.h"
#include "storage/db/case_records.h"
#include "storage/db/database.h"
#include "storage/db/retention.h"
#include "storage/recording_id.h"
#include "storage/vault/encrypted_sink.h"
#include "tests/db/db_test_support.h"

namespace cv::dbtest {

namespace fs = std::filesystem;

inline std::string uuid_of(int i) { return fmt::format("00000000-0000-4000-8000-{:012d}", i); }

// A small valid stereo 8 kHz PCM WAV whose samples depend on `seed`.
inline std::string wav_bytes(int seed, int frames = 400) {
  auto le32 = [](std::string& s, uint32_t v) {
    for (int i = 0; i < 4; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
  };
  auto le16 = [](std::string& s, uint16_t v) {
    s += static_cast<char>(v & 0xFF);
    s += static_cast<char>(v >> 8);
  };
  const uint32_t data = static_cast<uint32_t>(frames) * 4;
  std::string s = "RIFF";
  le32(s, 36 + data);
  s += "WAVEfmt ";
  le32(s, 16);
  le16(s, 1);
  le16(s, 2);
  le32(s, 8000);
  le32(s, 32000);
  le16(s, 4);
  le16(s, 16);
  s += "data";
  le32(s, data);
  for (int i = 0; i < frames; ++i) {
    le16(s, static_cast<uint16_t>((i * 37 + seed * 101) & 0x7FFF));
    le16(s, static_cast<uint16_t>((i * 53 + seed * 7) & 0x7FFF));
  }
  return s;
}

class RecordingsDb : public dbtest::ScratchDatabaseTest {
 protected:
  explicit RecordingsDb(std::string prefix) : ScratchDatabaseTest(std::move(prefix)) {}

  void SetUp() override {
    ScratchDatabaseTest::SetUp();
    if (!created_) return;
    migrate_to_current();
    audio_ = store_.path() + "/audio";
    fs::create_directories(audio_);
  }

  struct CallSpec {
    int n = 0;
    int start_days_ago = 60;  // start = now() - this many days (and n seconds)
    int expires_days = 30;    // expires_at = start + this many days
    bool audio = true;
    // As the recorder's store holds it (R12): <uuid>.wav.enc under the day's key in
    // <store>/keys, decrypting to wav_bytes(n). false: a plain <uuid>.wav of an older store.
    bool encrypted = true;
    std::string caller = "48601234567";
    std::string callee = "100";
  };

  // Inserts a call with one stream and one DTMF event, and its audio file.
  void add_call(const CallSpec& s) {
    const std::string uuid = uuid_of(s.n);
    std::string path, sha;
    if (s.audio) {
      path = fmt::format("2026/01/{:02d}/{}.wav", 1 + s.n % 28, uuid);
      const std::string bytes = wav_bytes(s.n);
      sha = sha256_hex(bytes);
      if (s.encrypted) {
        path += kEncryptedSuffix;
        KeyStore keys(store_.path() + "/keys");
        std::string error;
        auto sink = EncryptedWavSink::create(keys, audio_, path, 8000, error);
        ASSERT_TRUE(sink) << error;
        std::vector<int16_t> pcm((bytes.size() - 44) / 2);
        std::memcpy(pcm.data(), bytes.data() + 44, pcm.size() * 2);
        ASSERT_TRUE(sink->write(pcm.data(), pcm.size() / 2));
        const FinishedAudio fin = sink->finish();
        ASSERT_TRUE(fin.ok) << fin.error;
        ASSERT_EQ(fin.sha256, sha);
      } else {
        fs::create_directories(fs::path(audio_ + "/" + path).parent_path());
        std::ofstream(audio_ + "/" + path, std::ios::binary) << bytes;
      }
    }
    const std::string start = fmt::format("now() - interval '{} days {} seconds'", s.start_days_ago, s.n);
    sql(fmt::format(
        "INSERT INTO callvault.calls (call_uuid, sensor, sip_call_id, caller, callee, start_time, end_time, "
        "direction, codecs, duration_s, answered, joined_mid_call, final_status, end_reason, stream_count, "
        "audio_path, audio_bytes, audio_sha256, sample_rate, caller_audio, callee_audio, expires_at) VALUES "
        "('{0}', 'test', 'call-{1}@pbx', '{2}', '{3}', {4}, {4} + interval '60 s', 'incoming', '{{PCMU}}', "
        "60, "
        "true, false, 200, 'bye', 1, {5}, {6}, {7}, 8000, true, true, {4} + interval '{8} days');"
        "INSERT INTO callvault.streams (call_uuid, ordinal, ssrc, src_ip, src_port, dst_ip, dst_port, codec, "
        "payload_types, packets, lost, duplicates, late, channel, decoded, first_packet, offset_samples, "
        "call_start_time) VALUES ('{0}', 0, 1234, '192.0.2.1', 4000, '192.0.2.2', 5000, 'PCMU', '{{0}}', "
        "3000, "
        "0, 0, 0, 'caller', true, {4}, 0, {4});"
        "INSERT INTO callvault.dtmf_events (call_uuid, ordinal, digit, at, duration_ms, channel, source) "
        "VALUES ('{0}', 0, '5', {4}, 100, 'caller', 'rfc4733')",
        uuid, s.n, s.caller, s.callee, start, s.audio ? "'" + path + "'" : "NULL",
        s.audio ? std::to_string(wav_bytes(s.n).size()) : "NULL", s.audio ? "'" + sha + "'" : "NULL",
        s.expires_days));
    paths_[uuid] = path;
  }

  RetentionReport sweep(const std::string& now = "", bool dry_run = false, size_t batch = 200) {
    pqxx::connection c(conninfo("callvault_retention"));
    RetentionSettings s;
    s.audio_dir = audio_;
    s.period = "1 month";
    s.time_zone = "UTC";
    s.now = now;
    s.dry_run = dry_run;
    s.batch = batch;
    s.os_user = "test";
    s.key_dir = store_.path() + "/keys";
    return run_retention_sweep(c, s);
  }

  bool deleted(const std::string& uuid) {
    return value(fmt::format("SELECT deleted_at IS NOT NULL FROM callvault.calls WHERE call_uuid = '{}'",
                             uuid)) == "t";
  }
  bool file_exists(const std::string& uuid) {
    return !paths_[uuid].empty() && fs::exists(audio_ + "/" + paths_[uuid]);
  }

  CaseResult hold(const std::vector<std::string>& uuids, const std::string& case_ref = "II K 1/26") {
    pqxx::connection c(conninfo("callvault_operator"));
    pqxx::work tx(c);
    CallSelection sel;
    sel.uuids = uuids;
    CaseResult r = place_hold(tx, case_ref, "art. 218 k.p.k.", sel, "Anna Nowak", {{"os_user", "test"}});
    if (r.ok) tx.commit();
    return r;
  }
  CaseResult release(int64_t id) {
    pqxx::connection c(conninfo("callvault_operator"));
    pqxx::work tx(c);
    CaseResult r = release_hold(tx, id, "proceedings concluded", "Anna Nowak", {{"os_user", "test"}});
    if (r.ok) tx.commit();
    return r;
  }

  AuditVerification verify() {
    pqxx::connection c(conninfo("callvault_operator"));
    return verify_audit_chain(c);
  }

  TempDir store_;
  std::string audio_;
  std::map<std::string, std::string> paths_;  // uuid -> relative audio path ("" without audio)
};

}  // namespace cv::dbtest

// copy_recording (play, export, evidence packages): encrypted recordings are
// decrypted and checked against the index's SHA-256; plain WAVs of stores
// written before encryption are copied as before.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "app/config.h"
#include "app/index_setup.h"
#include "app/recording_copy.h"
#include "storage/vault/encrypted_sink.h"

namespace cv {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class RecordingCopy : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/callvault-copy-XXXXXX";
    dir_ = ::mkdtemp(name);
    config_.database.data_dir = dir_ + "/data";
    for (size_t i = 0; i < audio_.size(); ++i) audio_[i] = static_cast<int16_t>(i * 31);
    // The reference: the same audio as a plain WAV.
    std::string error;
    auto plain = WavFileSink::create(dir_ + "/plain", kRel, 8000, error);
    ASSERT_TRUE(plain) << error;
    plain->write(audio_.data(), audio_.size() / 2);
    plain_ = plain->finish();
    ASSERT_TRUE(plain_.ok);
    KeyStore keys(key_dir(config_));
    auto sink = EncryptedWavSink::create(keys, audio_dir(config_), kRel + ".enc", 8000, error);
    ASSERT_TRUE(sink) << error;
    sink->write(audio_.data(), audio_.size() / 2);
    enc_ = sink->finish();
    ASSERT_TRUE(enc_.ok) << enc_.error;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Copies into a fresh file; returns its content ("" when the copy failed).
  std::string copy(const std::string& stored, const std::string& sha, std::string& error) {
    const std::string out = dir_ + "/out-" + std::to_string(++n_) + ".wav";
    UniqueFd fd(::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600));
    CopiedRecording copied;
    if (!copy_recording(config_, stored, sha, fd.get(), copied, error)) return "";
    EXPECT_EQ(copied.sha256, sha);
    EXPECT_EQ(copied.bytes, fs::file_size(out));
    return slurp(out);
  }

  const std::string kRel = "2024/03/01/0b7e1c2a-3d4f-5a6b-8c9d-0e1f2a3b4c5d.wav";
  std::string dir_;
  Config config_;
  std::vector<int16_t> audio_ = std::vector<int16_t>(2 * 20'000);
  FinishedAudio plain_, enc_;
  int n_ = 0;
};

TEST_F(RecordingCopy, EncryptedRecordingIsDecryptedAndChecked) {
  EXPECT_EQ(enc_.sha256, plain_.sha256);
  std::string error;
  const std::string got = copy(enc_.relative_path, enc_.sha256, error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(got, slurp(dir_ + "/plain/" + kRel));
  // Another hash in the index: refused, naming both.
  const std::string other(64, 'a');
  EXPECT_EQ(copy(enc_.relative_path, other, error), "");
  EXPECT_NE(error.find("does not match the index"), std::string::npos) << error;
  EXPECT_NE(error.find(other), std::string::npos) << error;
}

TEST_F(RecordingCopy, AlteredOrKeylessRecordingIsRefused) {
  const std::string path = audio_dir(config_) + "/" + enc_.relative_path;
  std::string error;
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1000);
    f.put('\x55');
  }
  EXPECT_EQ(copy(enc_.relative_path, enc_.sha256, error), "");
  EXPECT_NE(error.find("fails authentication"), std::string::npos) << error;
  KeyStore keys(key_dir(config_));
  ASSERT_EQ(keys.destroy_day(*vault_day_of_path(kRel), error), 1) << error;
  EXPECT_EQ(copy(enc_.relative_path, enc_.sha256, error), "");
  EXPECT_NE(error.find("destroyed"), std::string::npos) << error;
}

TEST_F(RecordingCopy, PlainWavOfAnOlderStoreIsStillCopied) {
  fs::create_directories(fs::path(audio_dir(config_) + "/" + kRel).parent_path());
  fs::copy_file(dir_ + "/plain/" + kRel, audio_dir(config_) + "/" + kRel);
  std::string error;
  EXPECT_EQ(copy(kRel, plain_.sha256, error), slurp(dir_ + "/plain/" + kRel)) << error;
  EXPECT_EQ(copy("../plain/" + kRel, plain_.sha256, error), "");
  EXPECT_NE(error.find("outside the store"), std::string::npos) << error;
}

}  // namespace
}  // namespace cv

// The recorder's store: each call's stereo WAV encrypted as it is written
// (R12). Same life cycle as WavFileSink: a hidden temporary file beside the
// final name, bounded buffers, fsync, atomic rename; the finished file is
// YYYY/MM/DD/<uuid>.wav.enc, mode 0600, in directories of mode 0750.
// Nothing of the plain audio ever reaches the disk.
#pragma once

#include <memory>
#include <string>

#include "decode/audio_sink.h"
#include "storage/vault/key_store.h"
#include "storage/vault/vault_format.h"
#include "storage/wav_writer.h"

namespace cv {

class EncryptedWavSink final : public AudioSink {
 public:
  // `relative_path` is "YYYY/MM/DD/<uuid>.wav.enc"; its day chooses the key.
  static std::unique_ptr<EncryptedWavSink> create(KeyStore& keys, const std::string& root,
                                                  const std::string& relative_path, uint32_t sample_rate,
                                                  std::string& error);
  ~EncryptedWavSink() override;

  bool write(const int16_t* interleaved, size_t frames) override;
  bool change_rate(uint32_t from_rate, uint32_t to_rate) override;
  // FinishedAudio: sha256 and bytes of the plain WAV (what play/export give
  // out and check), relative_path of the encrypted file.
  FinishedAudio finish() override;
  void abandon() override;

  [[nodiscard]] const std::string& error() const { return error_; }

 private:
  EncryptedWavSink() = default;
  bool fail(const std::string& what, int err);
  VaultKeyLookup own_key() const;

  DayKey key_;
  UniqueFd fd_;
  VaultWriter writer_;
  std::string relative_, final_path_, temp_path_;
  uint32_t rate_ = 8000;
  bool failed_ = false;
  bool done_ = false;
  std::string error_;
};

class EncryptedSinkFactory final : public AudioSinkFactory {
 public:
  EncryptedSinkFactory(std::string root, std::string sensor, KeyStore& keys)
      : root_(std::move(root)), sensor_(std::move(sensor)), keys_(keys) {}
  std::unique_ptr<AudioSink> open(const CallInfo& call, uint32_t sample_rate, std::string& error) override;

 private:
  std::string root_;
  std::string sensor_;
  KeyStore& keys_;
};

}  // namespace cv

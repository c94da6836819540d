// Per-day recording keys (R12).
//
// Every recording is encrypted with the key of the UTC day in its path
// (YYYY/MM/DD/<uuid>.wav.enc). Keys live in their own directory, kept out of
// the audio backups: destroying a day's key makes that day's recordings
// unreadable everywhere, backups included.
//
//   <key_dir>/                       mode 0700
//     2024-01-02.1.key               32 random bytes, mode 0600 (generation 1)
//     2024-01-02.1.destroyed         tombstone: generation 1 was destroyed
//     2024-01-02.2.key               a late recording after the destruction
//
// A key is created once: written to a temporary file, fsynced, then link()ed
// to its name, which fails when another process got there first (that key is
// then used), and the directory is fsynced. A destroyed key leaves a tombstone
// that is written before the key is overwritten and unlinked, so a destroyed
// generation is never created again: recordings made after the destruction get
// the next generation. Loaded keys are cached (bounded) and wiped from memory
// when the last user drops them.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_io.h"  // make_directories
#include "common/time.h"

namespace cv {

// A UTC calendar day, as days since 1970-01-01.
struct VaultDay {
  int32_t days = 0;
  friend bool operator==(VaultDay a, VaultDay b) { return a.days == b.days; }
};

VaultDay vault_day_of(Timestamp t);
// "YYYY-MM-DD".
std::string vault_day_name(VaultDay day);
// "YYYY-MM-DD" (a real date, years 1970-9999); nullopt otherwise.
std::optional<VaultDay> parse_vault_day(std::string_view text);
// The day of a store path "YYYY/MM/DD/..."; nullopt when it does not start so.
std::optional<VaultDay> vault_day_of_path(std::string_view relative_path);

inline constexpr size_t kVaultKeyBytes = 32;

// Key material; wiped (sodium_memzero) when destroyed.
struct SecretKey {
  std::array<unsigned char, kVaultKeyBytes> bytes{};
  SecretKey() = default;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;
  ~SecretKey();
};
using KeyHandle = std::shared_ptr<const SecretKey>;

struct DayKey {
  VaultDay day;
  uint32_t generation = 0;
  KeyHandle key;
};

class KeyStore {
 public:
  static constexpr uint32_t kMaxGenerations = 1000;

  explicit KeyStore(std::string dir, size_t cache_capacity = 16);
  ~KeyStore();
  KeyStore(const KeyStore&) = delete;
  KeyStore& operator=(const KeyStore&) = delete;

  // The key new recordings of `day` are encrypted with: the lowest generation
  // not destroyed, created when it does not exist yet (the directory too).
  // nullopt with `error` when it cannot be read or created.
  std::optional<DayKey> key_for_writing(VaultDay day, std::string& error);
  // The key of (day, generation) for decryption. nullptr with `error` saying
  // whether it was destroyed, is missing or unreadable.
  KeyHandle key_for_reading(VaultDay day, uint32_t generation, std::string& error);
  // Destroys every generation of `day`: tombstone first, then the key file is
  // overwritten, fsynced and unlinked. Returns the number of keys destroyed
  // (0 when the day had none), or nullopt with `error`.
  std::optional<int> destroy_day(VaultDay day, std::string& error);
  // The days that still have a key file (any generation), oldest first; for
  // retention, which destroys a day's keys once none of its recordings is
  // left. Empty when the directory does not exist; nullopt with `error` when
  // it cannot be read.
  std::optional<std::vector<VaultDay>> days_with_keys(std::string& error) const;
  // Creates the key directory (0700) when missing, and checks it: so that a
  // recorder that could not keep its keys stops before recording anything.
  bool prepare(std::string& error);

  [[nodiscard]] const std::string& dir() const { return dir_; }
  [[nodiscard]] size_t cached_keys() const;

 private:
  struct Cached {
    VaultDay day;
    uint32_t generation;
    KeyHandle key;
    uint64_t used;
  };
  bool ensure_dir(std::string& error);
  std::string key_path(VaultDay day, uint32_t gen) const;
  std::string tombstone_path(VaultDay day, uint32_t gen) const;
  KeyHandle cached(VaultDay day, uint32_t gen);
  void remember(VaultDay day, uint32_t gen, KeyHandle key);
  void forget(VaultDay day);

  std::string dir_;
  size_t capacity_;
  mutable std::mutex mu_;
  std::vector<Cached> cache_;
  uint64_t clock_ = 0;
  bool dir_ready_ = false;
};

}  // namespace cv

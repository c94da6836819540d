#include "storage/vault/key_store.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "storage/wav_writer.h"

namespace cv {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

enum class LoadResult { kLoaded, kMissing, kError };

// Reads a key file: a regular file of exactly 32 bytes.
LoadResult load_key(const std::string& path, SecretKey& key, std::string& error) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return LoadResult::kMissing;
    error = "cannot read key file " + path + ": " + errno_text(errno);
    return LoadResult::kError;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != kVaultKeyBytes) {
    error = "key file " + path + " is not a 32-byte regular file (damaged?)";
    return LoadResult::kError;
  }
  size_t got = 0;
  while (got < kVaultKeyBytes) {
    const ssize_t n = ::read(fd.get(), key.bytes.data() + got, kVaultKeyBytes - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = "cannot read key file " + path + ": " + (n < 0 ? errno_text(errno) : "short file");
      sodium_memzero(key.bytes.data(), key.bytes.size());
      return LoadResult::kError;
    }
    got += static_cast<size_t>(n);
  }
  return LoadResult::kLoaded;
}

std::string now_iso() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

SecretKey::~SecretKey() { sodium_memzero(bytes.data(), bytes.size()); }

VaultDay vault_day_of(Timestamp t) {
  using namespace std::chrono;
  const auto d = floor<days>(sys_seconds{seconds{t.seconds()}});
  return VaultDay{static_cast<int32_t>(d.time_since_epoch().count())};
}

std::string vault_day_name(VaultDay day) {
  using namespace std::chrono;
  const year_month_day ymd{sys_days{days{day.days}}};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

namespace {
std::optional<VaultDay> parse_ymd(std::string_view s, char sep) {
  if (s.size() != 10 || s[4] != sep || s[7] != sep) return std::nullopt;
  auto num = [&](size_t at, size_t n) {
    int v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  const int y = num(0, 4), m = num(5, 2), d = num(8, 2);
  if (y < 1970 || m < 1 || d < 1) return std::nullopt;
  using namespace std::chrono;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(m)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  return VaultDay{static_cast<int32_t>(sys_days{ymd}.time_since_epoch().count())};
}
}  // namespace

std::optional<VaultDay> parse_vault_day(std::string_view text) { return parse_ymd(text, '-'); }

std::optional<VaultDay> vault_day_of_path(std::string_view relative_path) {
  if (relative_path.size() < 11 || relative_path[10] != '/') return std::nullopt;
  return parse_ymd(relative_path.substr(0, 10), '/');
}

KeyStore::KeyStore(std::string dir, size_t cache_capacity)
    : dir_(std::move(dir)), capacity_(std::max<size_t>(cache_capacity, 1)) {
  if (sodium_init() < 0) std::abort();  // no usable random source: nothing can be encrypted safely
}

KeyStore::~KeyStore() = default;

std::string KeyStore::key_path(VaultDay day, uint32_t gen) const {
  return dir_ + "/" + vault_day_name(day) + "." + std::to_string(gen) + ".key";
}
std::string KeyStore::tombstone_path(VaultDay day, uint32_t gen) const {
  return dir_ + "/" + vault_day_name(day) + "." + std::to_string(gen) + ".destroyed";
}

bool KeyStore::ensure_dir(std::string& error) {
  if (dir_ready_) return true;
  const std::string parent = std::filesystem::path(dir_).parent_path().string();
  if (!parent.empty() && !make_directories(parent, 0750, error)) return false;
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    error = "cannot create the key directory " + dir_ + ": " + errno_text(errno);
    return false;
  }
  struct stat st {};
  if (::stat(dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    error = "the key directory " + dir_ + " is not a directory";
    return false;
  }
  // Keys are for the recorder's account only.
  if ((st.st_mode & 077) != 0 && ::chmod(dir_.c_str(), 0700) != 0) {
    error = "the key directory " + dir_ +
            " is accessible to others and cannot be restricted: " + errno_text(errno);
    return false;
  }
  dir_ready_ = true;
  return true;
}

bool KeyStore::prepare(std::string& error) {
  std::lock_guard lock(mu_);
  if (!ensure_dir(error)) return false;
  // Writable? A key cannot be created otherwise.
  if (::access(dir_.c_str(), W_OK | X_OK) != 0) {
    error = "the key directory " + dir_ + " is not writable: " + errno_text(errno);
    return false;
  }
  return true;
}

KeyHandle KeyStore::cached(VaultDay day, uint32_t gen) {
  for (auto& c : cache_)
    if (c.day == day && c.generation == gen) {
      c.used = ++clock_;
      return c.key;
    }
  return nullptr;
}

void KeyStore::remember(VaultDay day, uint32_t gen, KeyHandle key) {
  if (cached(day, gen)) return;
  if (cache_.size() >= capacity_) {
    auto oldest = std::min_element(cache_.begin(), cache_.end(),
                                   [](const Cached& a, const Cached& b) { return a.used < b.used; });
    cache_.erase(oldest);  // the key is wiped when its last user drops it
  }
  cache_.push_back(Cached{day, gen, std::move(key), ++clock_});
}

void KeyStore::forget(VaultDay day) {
  std::erase_if(cache_, [&](const Cached& c) { return c.day == day; });
}

size_t KeyStore::cached_keys() const {
  std::lock_guard lock(mu_);
  return cache_.size();
}

std::optional<DayKey> KeyStore::key_for_writing(VaultDay day, std::string& error) {
  std::lock_guard lock(mu_);
  if (!ensure_dir(error)) return std::nullopt;
  for (uint32_t gen = 1; gen <= kMaxGenerations; ++gen) {
    // Checked on every call, cached or not: another process may have destroyed it.
    if (exists(tombstone_path(day, gen))) {
      std::erase_if(cache_, [&](const Cached& c) { return c.day == day && c.generation == gen; });
      continue;
    }
    if (auto k = cached(day, gen)) return DayKey{day, gen, k};
    auto key = std::make_shared<SecretKey>();
    const std::string path = key_path(day, gen);
    switch (load_key(path, *key, error)) {
      case LoadResult::kLoaded:
        remember(day, gen, key);
        return DayKey{day, gen, key};
      case LoadResult::kError:
        return std::nullopt;
      case LoadResult::kMissing:
        break;
    }
    // Create it: temporary file, fsync, link() (atomic, refuses an existing name).
    const std::string temp = dir_ + "/." + vault_day_name(day) + "." + std::to_string(gen) + ".key." +
                             std::to_string(::getpid()) + "." + std::to_string(randombytes_random()) + ".tmp";
    randombytes_buf(key->bytes.data(), key->bytes.size());
    {
      UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (fd.get() < 0 || !write_all(fd.get(), key->bytes.data(), key->bytes.size()) ||
          ::fsync(fd.get()) != 0) {
        error = "cannot create key file " + temp + ": " + errno_text(errno);
        ::unlink(temp.c_str());
        return std::nullopt;
      }
    }
    const bool linked = ::link(temp.c_str(), path.c_str()) == 0;
    const int link_err = errno;
    ::unlink(temp.c_str());
    if (!linked && link_err != EEXIST) {
      error = "cannot create key file " + path + ": " + errno_text(link_err);
      return std::nullopt;
    }
    if (!fsync_dir(dir_)) {
      error = "cannot fsync the key directory " + dir_ + ": " + errno_text(errno);
      return std::nullopt;
    }
    if (!linked) {  // another process created it first: use that one
      if (load_key(path, *key, error) != LoadResult::kLoaded) {
        if (error.empty()) error = "key file " + path + " vanished while being created";
        return std::nullopt;
      }
    }
    // Destroyed meanwhile by another process? Then the next generation.
    if (exists(tombstone_path(day, gen))) continue;
    remember(day, gen, key);
    return DayKey{day, gen, key};
  }
  error = "more than " + std::to_string(kMaxGenerations) + " key generations destroyed for " +
          vault_day_name(day) + ": refusing to create another";
  return std::nullopt;
}

KeyHandle KeyStore::key_for_reading(VaultDay day, uint32_t generation, std::string& error) {
  std::lock_guard lock(mu_);
  const std::string name = vault_day_name(day) + " (generation " + std::to_string(generation) + ")";
  if (generation == 0 || generation > kMaxGenerations) {
    error = "no key can exist for " + name;
    return nullptr;
  }
  if (exists(tombstone_path(day, generation))) {
    std::erase_if(cache_, [&](const Cached& c) { return c.day == day && c.generation == generation; });
    error = "the key for " + name + " was destroyed: the recording can no longer be decrypted";
    return nullptr;
  }
  if (auto k = cached(day, generation)) return k;
  auto key = std::make_shared<SecretKey>();
  switch (load_key(key_path(day, generation), *key, error)) {
    case LoadResult::kLoaded:
      remember(day, generation, key);
      return key;
    case LoadResult::kMissing:
      error = "the key for " + name + " is missing from " + dir_ +
              " (wrong key directory, or a store restored without its keys)";
      return nullptr;
    case LoadResult::kError:
      return nullptr;
  }
  return nullptr;
}

std::optional<std::vector<VaultDay>> KeyStore::days_with_keys(std::string& error) const {
  std::vector<VaultDay> days;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir_, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return days;
    error = "cannot read the key directory " + dir_ + ": " + ec.message();
    return std::nullopt;
  }
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    // "YYYY-MM-DD.<generation>.key"
    if (name.size() < 16 || !name.ends_with(".key") || name[10] != '.') continue;
    const auto day = parse_vault_day(std::string_view(name).substr(0, 10));
    if (day && std::find(days.begin(), days.end(), *day) == days.end()) days.push_back(*day);
  }
  std::sort(days.begin(), days.end(), [](VaultDay a, VaultDay b) { return a.days < b.days; });
  return days;
}

std::optional<int> KeyStore::destroy_day(VaultDay day, std::string& error) {
  std::lock_guard lock(mu_);
  forget(day);
  int destroyed = 0;
  bool any = false;
  for (uint32_t gen = 1; gen <= kMaxGenerations; ++gen) {
    const std::string key = key_path(day, gen), tomb = tombstone_path(day, gen);
    const bool has_key = exists(key), has_tomb = exists(tomb);
    if (!has_key && !has_tomb) break;  // generations are consecutive
    any = true;
    if (!has_tomb) {
      UniqueFd t(::open(tomb.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      const std::string line = "destroyed " + now_iso() + "\n";
      if ((t.get() < 0 && errno != EEXIST) ||
          (t.get() >= 0 && (!write_all(t.get(), line.data(), line.size()) || ::fsync(t.get()) != 0))) {
        error = "cannot write the tombstone " + tomb + ": " + errno_text(errno);
        return std::nullopt;
      }
      // The tombstone must be durable before the key disappears.
      if (!fsync_dir(dir_)) {
        error = "cannot fsync the key directory " + dir_ + ": " + errno_text(errno);
        return std::nullopt;
      }
    }
    if (has_key) {
      UniqueFd k(::open(key.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
      if (k.get() >= 0) {
        const std::array<unsigned char, kVaultKeyBytes> zeros{};
        if (::pwrite(k.get(), zeros.data(), zeros.size(), 0) != static_cast<ssize_t>(zeros.size()) ||
            ::fsync(k.get()) != 0) {
          error = "cannot overwrite key file " + key + ": " + errno_text(errno);
          return std::nullopt;
        }
      }
      if (::unlink(key.c_str()) != 0 && errno != ENOENT) {
        error = "cannot remove key file " + key + ": " + errno_text(errno);
        return std::nullopt;
      }
      ++destroyed;
    }
  }
  if (any && !fsync_dir(dir_)) {
    error = "cannot fsync the key directory " + dir_ + ": " + errno_text(errno);
    return std::nullopt;
  }
  return destroyed;
}

}  // namespace cv

#include "storage/wav_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "decode/resampler.h"
#include "storage/recording_id.h"

namespace cv {
namespace {

constexpr size_t kHeaderBytes = 44;
constexpr size_t kBufferFrames = 4096;  // 16 KiB of stereo audio per open call
// RIFF sizes are 32-bit; stop before they overflow (about 9 hours at 16 kHz).
constexpr uint64_t kMaxDataBytes = 0xFFFFFFFFull - kHeaderBytes;

void put_le32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}
void put_le16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}

bool pwrite_all(int fd, const void* data, size_t n, off_t at) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, at);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
    at += w;
  }
  return true;
}

}  // namespace

std::array<uint8_t, 44> wav_header(uint32_t sample_rate, uint64_t data_bytes) {
  std::array<uint8_t, 44> h{};
  const uint16_t channels = 2, bits = 16;
  const uint32_t data = static_cast<uint32_t>(std::min<uint64_t>(data_bytes, kMaxDataBytes));
  std::memcpy(h.data(), "RIFF", 4);
  put_le32(h.data() + 4, 36 + data);
  std::memcpy(h.data() + 8, "WAVEfmt ", 8);
  put_le32(h.data() + 16, 16);
  put_le16(h.data() + 20, 1);  // PCM
  put_le16(h.data() + 22, channels);
  put_le32(h.data() + 24, sample_rate);
  put_le32(h.data() + 28, sample_rate * channels * bits / 8);
  put_le16(h.data() + 32, channels * bits / 8);
  put_le16(h.data() + 34, bits);
  std::memcpy(h.data() + 36, "data", 4);
  put_le32(h.data() + 40, data);
  return h;
}

bool create_hidden_temp(const std::string& root, const std::string& relative_path, unsigned dir_mode,
                        unsigned file_mode, HiddenTempFile& out, std::string& error) {
  out.final_path = root + "/" + relative_path;
  const std::filesystem::path final_path(out.final_path);
  out.temp_path = (final_path.parent_path() / ("." + final_path.filename().string() + ".tmp")).string();
  if (!make_directories(final_path.parent_path().string(), dir_mode, error)) return false;
  out.fd.reset(::open(out.temp_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, file_mode));
  if (out.fd.get() < 0) {
    error = "cannot create " + out.temp_path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

std::unique_ptr<WavFileSink> WavFileSink::create(const std::string& root, const std::string& relative_path,
                                                 uint32_t sample_rate, std::string& error) {
  std::unique_ptr<WavFileSink> s(new WavFileSink());
  s->root_ = root;
  s->relative_ = relative_path;
  // Read and write: change_rate() reads the audio back.
  HiddenTempFile file;
  if (!create_hidden_temp(root, relative_path, 0755, 0640, file, error)) return nullptr;
  s->final_path_ = std::move(file.final_path);
  s->temp_path_ = std::move(file.temp_path);
  s->fd_ = std::move(file.fd);
  s->rate_ = sample_rate;
  auto header = wav_header(sample_rate, 0);
  if (!write_all(s->fd_.get(), header.data(), header.size())) {
    error = "cannot write " + s->temp_path_ + ": " + std::strerror(errno);
    ::unlink(s->temp_path_.c_str());
    return nullptr;
  }
  s->buffer_.reserve(2 * kBufferFrames);
  return s;
}

WavFileSink::~WavFileSink() {
  if (!done_) abandon();
}

bool WavFileSink::fail(const std::string& what, int err) {
  if (!failed_) error_ = what + " " + temp_path_ + ": " + std::strerror(err);
  failed_ = true;
  return false;
}

bool WavFileSink::flush_buffer() {
  if (buffer_.empty() || failed_) {
    buffer_.clear();
    return !failed_;
  }
  size_t bytes = buffer_.size() * sizeof(int16_t);
  if (data_bytes_ + bytes > kMaxDataBytes) {
    buffer_.clear();
    failed_ = true;
    error_ = "recording exceeds the WAV size limit of 4 GiB; the rest of the call was not written";
    return false;
  }
  // WAV is little endian, as is every platform callvault builds on.
  size_t done = 0;
  if (!write_all(fd_.get(), buffer_.data(), bytes, &done)) {
    const int err = errno;
    // Keep the whole frames that reached the disk; finish() cuts the rest.
    data_bytes_ += done / 4 * 4;
    buffer_.clear();
    return fail("writing", err);
  }
  data_bytes_ += bytes;
  buffer_.clear();
  return true;
}

bool WavFileSink::write(const int16_t* interleaved, size_t frames) {
  if (failed_) return false;
  while (frames > 0) {
    size_t room = 2 * kBufferFrames - buffer_.size();
    size_t take = std::min(room / 2, frames);
    buffer_.insert(buffer_.end(), interleaved, interleaved + 2 * take);
    interleaved += 2 * take;
    frames -= take;
    if (buffer_.size() >= 2 * kBufferFrames && !flush_buffer()) return false;
  }
  return true;
}

bool WavFileSink::change_rate(uint32_t from_rate, uint32_t to_rate) {
  if (failed_ || !flush_buffer()) return false;
  // Rewrite the audio written so far at the new rate into a second temporary
  // file, then put it in place of the first. Happens at most once per call.
  const std::string converted = temp_path_ + ".rate";
  UniqueFd out(::open(converted.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (out.get() < 0) return fail("creating", errno);
  auto header = wav_header(to_rate, 0);
  if (!write_all(out.get(), header.data(), header.size())) return fail("writing", errno);
  Resampler left(static_cast<int>(from_rate), static_cast<int>(to_rate));
  Resampler right(static_cast<int>(from_rate), static_cast<int>(to_rate));
  std::vector<int16_t> in(2 * kBufferFrames), l, r, lo, ro, inter;
  uint64_t done = 0, written = 0;
  auto emit = [&](bool final) {
    if (final) {
      left.flush(lo);
      right.flush(ro);
    }
    size_t n = std::min(lo.size(), ro.size());
    inter.resize(2 * n);
    for (size_t i = 0; i < n; ++i) {
      inter[2 * i] = lo[i];
      inter[2 * i + 1] = ro[i];
    }
    lo.erase(lo.begin(), lo.begin() + static_cast<std::ptrdiff_t>(n));
    ro.erase(ro.begin(), ro.begin() + static_cast<std::ptrdiff_t>(n));
    written += inter.size() * sizeof(int16_t);
    return write_all(out.get(), inter.data(), inter.size() * sizeof(int16_t));
  };
  while (done < data_bytes_) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(in.size() * sizeof(int16_t), data_bytes_ - done));
    ssize_t got = ::pread(fd_.get(), in.data(), want, static_cast<off_t>(kHeaderBytes + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return fail("reading back", got < 0 ? errno : EIO);
    size_t frames = static_cast<size_t>(got) / 4;
    l.resize(frames);
    r.resize(frames);
    for (size_t i = 0; i < frames; ++i) {
      l[i] = in[2 * i];
      r[i] = in[2 * i + 1];
    }
    left.process(l.data(), frames, lo);
    right.process(r.data(), frames, ro);
    if (!emit(false)) return fail("writing", errno);
    done += frames * 4;
  }
  if (!emit(true)) return fail("writing", errno);
  if (::rename(converted.c_str(), temp_path_.c_str()) != 0) return fail("replacing", errno);
  // The converted file's descriptor, at its end (not O_APPEND: finish() pwrites the header at 0).
  fd_ = std::move(out);
  rate_ = to_rate;
  data_bytes_ = written;
  return true;
}

FinishedAudio WavFileSink::finish() {
  FinishedAudio result;
  done_ = true;
  flush_buffer();
  // Even after a write error (disk full) what reached the disk is kept as a
  // valid, shorter file: it is evidence, and the error is reported beside it.
  auto header = wav_header(rate_, data_bytes_);
  // After a failed write the file may hold a partial frame beyond the data
  // the header declares: cut it, so the file is exactly a valid WAV.
  if (failed_ && ::ftruncate(fd_.get(), static_cast<off_t>(kHeaderBytes + data_bytes_)) != 0) {
    fail("truncating", errno);
  }
  if (!pwrite_all(fd_.get(), header.data(), header.size(), 0) || ::fsync(fd_.get()) != 0) {
    fail("finishing", errno);
    result.error = error_;
    ::unlink(temp_path_.c_str());
    return result;
  }
  fd_.reset();
  if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    fail("renaming", errno);
    result.error = error_;
    ::unlink(temp_path_.c_str());
    return result;
  }
  fsync_dir(std::filesystem::path(final_path_).parent_path().string());
  std::string hash_error;
  result.sha256 = sha256_file(final_path_, hash_error);
  result.ok = !result.sha256.empty();
  result.relative_path = relative_;
  result.bytes = kHeaderBytes + data_bytes_;
  result.error = failed_ ? error_ : hash_error;
  return result;
}

void WavFileSink::abandon() {
  done_ = true;
  fd_.reset();
  ::unlink(temp_path_.c_str());
}

std::unique_ptr<AudioSink> WavSinkFactory::open(const CallInfo& call, uint32_t sample_rate,
                                                std::string& error) {
  std::string uuid = recording_uuid(sensor_, call.call_id, call.invite_time);
  return WavFileSink::create(root_, recording_relative_path(uuid, call.invite_time), sample_rate, error);
}

}  // namespace cv

#include "storage/index/index_record_json.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/utf8.h"

namespace cv {
namespace {

using nlohmann::json;

constexpr int kVersion = 1;

// --- strings: valid UTF-8 as is, anything else as base64 -------------------

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t group = 0;
    for (size_t k = 0; k < 3; ++k) group = (group << 8) | (k < n ? static_cast<uint8_t>(bytes[i + k]) : 0u);
    for (size_t k = 0; k < 4; ++k)
      out.push_back(k <= n ? kBase64Alphabet[(group >> (18 - 6 * k)) & 0x3F] : '=');
  }
  return out;
}

// Strict: padded to a multiple of 4, '=' only at the end.
bool base64_decode(std::string_view text, std::string& out) {
  if (text.size() % 4 != 0) return false;
  out.clear();
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    uint32_t group = 0;
    size_t padding = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      uint32_t value = 0;
      if (c == '=' && last && k >= 2) {
        ++padding;
      } else {
        const size_t pos = kBase64Alphabet.find(c);
        if (pos == std::string_view::npos || padding > 0) return false;
        value = static_cast<uint32_t>(pos);
      }
      group = (group << 6) | value;
    }
    for (size_t k = 0; k < 3 - padding; ++k) out.push_back(static_cast<char>((group >> (16 - 8 * k)) & 0xFF));
  }
  return true;
}

// --- the field lists: one per struct, used to write and to read ------------

// S is the struct or its const form, so that one list serves both directions.
template <class S, class T>
concept Is = std::same_as<std::remove_const_t<S>, T>;

template <Is<IndexedStream> S, class Visit>
void visit_fields(S& s, Visit& v) {
  v("ssrc", s.ssrc);
  v("src_ip", s.src_ip);
  v("src_port", s.src_port);
  v("dst_ip", s.dst_ip);
  v("dst_port", s.dst_port);
  v("codec", s.codec);
  v("payload_types", s.payload_types);
  v("packets", s.packets);
  v("lost", s.lost);
  v("duplicates", s.duplicates);
  v("late", s.late);
  v("channel", s.channel);
  v("decoded", s.decoded);
  v("first_packet_ns", s.first_packet_ns);
  v("offset_samples", s.offset_samples);
}

template <Is<IndexedDtmf> S, class Visit>
void visit_fields(S& d, Visit& v) {
  v("digit", d.digit);
  v("at_ns", d.at_ns);
  v("duration_ms", d.duration_ms);
  v("channel", d.channel);
  v("source", d.source);
}

template <Is<IndexedCall> S, class Visit>
void visit_fields(S& c, Visit& v) {
  v("uuid", c.uuid);
  v("sensor", c.sensor);
  v("session", c.session);
  v("sip_call_id", c.sip_call_id);
  v("start_ns", c.start_ns);
  v("answer_ns", c.answer_ns);
  v("end_ns", c.end_ns);
  v("caller", c.caller);
  v("callee", c.callee);
  v("direction", c.direction);
  v("codecs", c.codecs);
  v("duration_s", c.duration_s);
  v("answered", c.answered);
  v("joined_mid_call", c.joined_mid_call);
  v("final_status", c.final_status);
  v("end_reason", c.end_reason);
  v("audio_path", c.audio_path);
  v("audio_bytes", c.audio_bytes);
  v("audio_sha256", c.audio_sha256);
  v("sample_rate", c.sample_rate);
  v("audio_start_ns", c.audio_start_ns);
  v("audio_error", c.audio_error);
  v("streams", c.streams);
  v("dtmf", c.dtmf);
}

template <Is<CaptureSessionRecord> S, class Visit>
void visit_fields(S& s, Visit& v) {
  v("uuid", s.uuid);
  v("sensor", s.sensor);
  v("kind", s.kind);
  v("source", s.source);
  v("started_ns", s.started_ns);
  v("stopped_ns", s.stopped_ns);
  v("packets", s.packets);
  v("bytes", s.bytes);
  v("kernel_drops", s.kernel_drops);
  v("interface_drops", s.interface_drops);
  v("rtp_unmatched", s.rtp_unmatched);
  v("calls", s.calls);
  v("calls_without_media", s.calls_without_media);
  v("index_records_lost", s.index_records_lost);
  v("stop_reason", s.stop_reason);
}

template <Is<CoverageInterval> S, class Visit>
void visit_fields(S& c, Visit& v) {
  v("session", c.session);
  v("start_ns", c.start_ns);
  v("end_ns", c.end_ns);
  v("packets", c.packets);
  v("bytes", c.bytes);
  v("kernel_drops", c.kernel_drops);
  v("interface_drops", c.interface_drops);
  v("rtp_unmatched", c.rtp_unmatched);
  v("sip_messages", c.sip_messages);
  v("calls_started", c.calls_started);
  v("calls_without_media", c.calls_without_media);
  v("malformed", c.malformed);
}

// Tripwire: a structured binding must name every field, so a field added to
// index_record.h stops the build here until it is added to the list above
// too. A forgotten field would silently vanish from the journal.
[[maybe_unused]] void every_field_is_listed(const IndexedStream& s, const IndexedDtmf& d,
                                            const IndexedCall& c, const CaptureSessionRecord& r,
                                            const CoverageInterval& i) {
  [[maybe_unused]] const auto& [s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15] = s;
  [[maybe_unused]] const auto& [d1, d2, d3, d4, d5] = d;
  [[maybe_unused]] const auto& [c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17,
                                c18, c19, c20, c21, c22, c23, c24] = c;
  [[maybe_unused]] const auto& [r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13, r14, r15] = r;
  [[maybe_unused]] const auto& [i1, i2, i3, i4, i5, i6, i7, i8, i9, i10, i11, i12] = i;
}

template <class T>
concept FieldStruct =
    std::same_as<T, IndexedStream> || std::same_as<T, IndexedDtmf> || std::same_as<T, IndexedCall> ||
    std::same_as<T, CaptureSessionRecord> || std::same_as<T, CoverageInterval>;

// bool and char have their own overloads; every other integer is a number.
template <class T>
concept Integer = std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, char>;

// --- writing ----------------------------------------------------------------

json encode(const std::string& s);
json encode(bool b);
json encode(char c);
json encode(double d);
template <Integer T>
json encode(T i);
template <class T>
json encode(const std::vector<T>& items);
template <FieldStruct S>
json encode(const S& s);

class FieldWriter {
 public:
  explicit FieldWriter(json& object) : object_(object) {}
  template <class T>
  void operator()(const char* name, const T& value) {
    object_[name] = encode(value);
  }

 private:
  json& object_;
};

json encode(const std::string& s) {
  if (is_valid_utf8(s)) return s;
  json wrapped = json::object();
  wrapped["b64"] = base64_encode(s);
  return wrapped;
}
json encode(bool b) { return b; }
json encode(char c) { return encode(std::string(1, c)); }
json encode(double d) {
  if (std::isfinite(d)) return d;
  return std::isnan(d) ? "nan" : (d > 0 ? "inf" : "-inf");
}
template <Integer T>
json encode(T i) {
  return i;
}
template <class T>
json encode(const std::vector<T>& items) {
  json array = json::array();
  for (const auto& item : items) array.push_back(encode(item));
  return array;
}
template <FieldStruct S>
json encode(const S& s) {
  json object = json::object();
  FieldWriter writer(object);
  visit_fields(s, writer);
  return object;
}

// --- writing a line directly ------------------------------------------------
// The same JSON as encode() + dump(), without building a json object first
// (which costs several times more than the text). Members come in the order
// of the field lists; readers do not care about order.

void put(std::string& out, const std::string& s);
void put(std::string& out, bool b);
void put(std::string& out, char c);
void put(std::string& out, double d);
template <Integer T>
void put(std::string& out, T i);
template <class T>
void put(std::string& out, const std::vector<T>& items);
template <FieldStruct S>
void put(std::string& out, const S& s);

class LineWriter {
 public:
  explicit LineWriter(std::string& out, bool first = true) : out_(out), first_(first) {}
  template <class T>
  void operator()(const char* name, const T& value) {
    if (!first_) out_ += ',';
    first_ = false;
    out_ += '"';
    out_ += name;  // field names are plain ASCII
    out_ += "\":";
    put(out_, value);
  }

 private:
  std::string& out_;
  bool first_;
};

// A JSON string as nlohmann writes it: quote, backslash and control characters escaped,
// everything else (valid UTF-8) as is.
void put_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<uint8_t>(ch);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

void put(std::string& out, const std::string& s) {
  if (is_valid_utf8(s)) return put_json_string(out, s);
  out += "{\"b64\":";
  put_json_string(out, base64_encode(s));
  out += '}';
}
void put(std::string& out, bool b) { out += b ? "true" : "false"; }
void put(std::string& out, char c) { put(out, std::string(1, c)); }
void put(std::string& out, double d) {
  if (!std::isfinite(d)) return put_json_string(out, std::isnan(d) ? "nan" : (d > 0 ? "inf" : "-inf"));
  char b[32];
  const auto end = std::to_chars(b, b + sizeof b, d).ptr;
  out.append(b, end);
  // Shortest form that reads back exactly; keep it a float as dump() does.
  if (std::string_view(b, end - b).find_first_of(".e") == std::string_view::npos) out += ".0";
}
template <Integer T>
void put(std::string& out, T i) {
  char b[24];
  out.append(b, std::to_chars(b, b + sizeof b, i).ptr);
}
template <class T>
void put(std::string& out, const std::vector<T>& items) {
  out += '[';
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    put(out, items[i]);
  }
  out += ']';
}
template <FieldStruct S>
void put(std::string& out, const S& s) {
  out += '{';
  LineWriter writer(out);
  visit_fields(s, writer);
  out += '}';
}

// --- reading ----------------------------------------------------------------
// Each decode returns "" when `out` was set, otherwise the problem as
// "<path below this value>: <what was expected>", e.g. "[2].ssrc: ...".

std::string below(std::string_view path, const std::string& problem) {
  if (problem.empty()) return problem;
  const bool attached = problem[0] == ':' || problem[0] == '[';
  return std::string(path) + (attached ? "" : ".") + problem;
}

std::string decode(const json& j, std::string& out);
std::string decode(const json& j, bool& out);
std::string decode(const json& j, char& out);
std::string decode(const json& j, double& out);
template <Integer T>
std::string decode(const json& j, T& out);
template <class T>
std::string decode(const json& j, std::vector<T>& out);
template <FieldStruct S>
std::string decode(const json& j, S& out);

class FieldReader {
 public:
  explicit FieldReader(const json& object) : object_(object) {}
  template <class T>
  void operator()(const char* name, T& out) {
    if (!problem_.empty()) return;  // report the first problem only
    const auto it = object_.find(name);
    problem_ = it == object_.end() ? std::string(name) + ": missing" : below(name, decode(*it, out));
  }
  [[nodiscard]] const std::string& problem() const { return problem_; }

 private:
  const json& object_;
  std::string problem_;
};

std::string decode(const json& j, std::string& out) {
  if (j.is_string()) {
    out = j.get<std::string>();
    return {};
  }
  if (j.is_object() && j.size() == 1) {
    const auto it = j.find("b64");
    if (it != j.end() && it->is_string() && base64_decode(it->get_ref<const std::string&>(), out)) return {};
  }
  return ": expected a string or {\"b64\": base64}";
}

std::string decode(const json& j, bool& out) {
  if (!j.is_boolean()) return ": expected true or false";
  out = j.get<bool>();
  return {};
}

std::string decode(const json& j, char& out) {
  std::string s;
  if (!decode(j, s).empty() || s.size() != 1) return ": expected a one-character string";
  out = s[0];
  return {};
}

std::string decode(const json& j, double& out) {
  if (j.is_number()) {
    out = j.get<double>();
    return {};
  }
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    constexpr double kInf = std::numeric_limits<double>::infinity();
    if (s == "nan") out = std::numeric_limits<double>::quiet_NaN();
    if (s == "inf") out = kInf;
    if (s == "-inf") out = -kInf;
    if (s == "nan" || s == "inf" || s == "-inf") return {};
  }
  return ": expected a number, \"nan\", \"inf\" or \"-inf\"";
}

template <Integer T>
std::string decode(const json& j, T& out) {
  // Positive numbers parse as unsigned, negative ones as signed.
  if (j.is_number_unsigned()) {
    const auto u = j.get<uint64_t>();
    if (std::in_range<T>(u)) {
      out = static_cast<T>(u);
      return {};
    }
  } else if (j.is_number_integer()) {
    const auto i = j.get<int64_t>();
    if (std::in_range<T>(i)) {
      out = static_cast<T>(i);
      return {};
    }
  }
  return fmt::format(": expected an integer in {}..{}", +std::numeric_limits<T>::min(),
                     +std::numeric_limits<T>::max());
}

template <class T>
std::string decode(const json& j, std::vector<T>& out) {
  if (!j.is_array()) return ": expected an array";
  out.clear();
  out.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    T item{};
    if (auto problem = decode(j[i], item); !problem.empty()) return below(fmt::format("[{}]", i), problem);
    out.push_back(std::move(item));
  }
  return {};
}

template <FieldStruct S>
std::string decode(const json& j, S& out) {
  if (!j.is_object()) return ": expected an object";
  FieldReader reader(j);
  visit_fields(out, reader);
  return reader.problem();
}

// For error messages: a value built in memory may hold invalid UTF-8, and the
// message must not throw.
std::string printable(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

const char* type_name(const IndexedCall&) { return "call"; }
const char* type_name(const CaptureSessionRecord&) { return "session"; }
const char* type_name(const CoverageInterval&) { return "coverage"; }

template <class R>
std::optional<IndexRecord> decode_record(const json& j, std::string& error) {
  R record;
  error = decode(j, record);
  if (!error.empty()) return std::nullopt;
  return IndexRecord(std::move(record));
}

}  // namespace

json to_json(const IndexRecord& record) {
  return std::visit(
      [](const auto& r) {
        json object = encode(r);
        object["type"] = type_name(r);
        object["v"] = kVersion;
        return object;
      },
      record);
}

void append_json_line(std::string& out, const IndexRecord& record) {
  std::visit(
      [&](const auto& r) {
        out += "{\"type\":";
        put_json_string(out, type_name(r));
        out += ",\"v\":";
        put(out, kVersion);
        LineWriter writer(out, false);
        visit_fields(r, writer);
        out += "}\n";
      },
      record);
}

std::optional<IndexRecord> index_record_from_json(const json& j, std::string& error) {
  error.clear();
  if (!j.is_object()) {
    error = "expected a JSON object";
    return std::nullopt;
  }
  const auto version = j.find("v");
  if (version == j.end()) {
    error = "v: missing";
    return std::nullopt;
  }
  if (*version != kVersion) {
    error = fmt::format("v: unsupported version {} (this build reads {})", printable(*version), kVersion);
    return std::nullopt;
  }
  const auto type = j.find("type");
  if (type == j.end() || !type->is_string()) {
    error = type == j.end() ? "type: missing" : "type: expected a string";
    return std::nullopt;
  }
  const auto& name = type->get_ref<const std::string&>();
  if (name == "call") return decode_record<IndexedCall>(j, error);
  if (name == "session") return decode_record<CaptureSessionRecord>(j, error);
  if (name == "coverage") return decode_record<CoverageInterval>(j, error);
  error = fmt::format("type: unknown record type {}", printable(*type));
  return std::nullopt;
}

}  // namespace cv

#include "capture/packet/ip_reassembler.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <span>

namespace cv {
namespace {

// Neither IPv4's total length nor IPv6's payload length can say more.
constexpr size_t kMaxIpLength = 65535;
// Buffers kept for reuse: enough for the datagrams a SIP trunk has in flight
// at once, and small enough that the pool itself stays under 256 KiB.
constexpr size_t kMaxSpareBuffers = 16;
constexpr size_t kMaxSpareCapacity = 16 * 1024;
// A first allocation that holds a typical fragmented SIP message (INVITE with
// SDP, 2-4 KiB) without growing again.
constexpr size_t kMinBufferCapacity = 4096;
// Keeps the index (twice the slots) well within memory even for absurd limits.
constexpr size_t kMaxDatagramsLimit = size_t{1} << 20;

DecodeResult result(DecodeStatus status, Anomaly anomaly = Anomaly::kNone) { return {status, anomaly}; }

// True when `now` is at least `age` nanoseconds after `then`, without signed
// overflow for timestamps anywhere in int64 (broken captures have those).
bool at_least_older(Timestamp then, Timestamp now, int64_t age) {
  if (now.ns < then.ns) return false;
  if (age <= 0) return true;
  const uint64_t diff = static_cast<uint64_t>(now.ns) - static_cast<uint64_t>(then.ns);
  return diff >= static_cast<uint64_t>(age);
}

}  // namespace

IpReassembler::IpReassembler(const FragmentLimits& limits)
    : limits_(limits), seed_(mix64(reinterpret_cast<uintptr_t>(this))) {
  limits_.max_datagrams = std::clamp<size_t>(limits_.max_datagrams, 1, kMaxDatagramsLimit);
  limits_.max_pieces = std::max<size_t>(limits_.max_pieces, 1);
  // At most half full, so probes stay short and an empty cell always exists.
  const size_t cells = std::bit_ceil(std::max<size_t>(16, limits_.max_datagrams * 2));
  index_.assign(cells, kNoSlot);
  index_mask_ = cells - 1;
  spare_.reserve(kMaxSpareBuffers);
}

uint64_t IpReassembler::hash_key(const FragmentKey& key) const {
  uint64_t words[4];
  std::memcpy(&words[0], key.src.bytes.data(), 16);
  std::memcpy(&words[2], key.dst.bytes.data(), 16);
  uint64_t h = mix64(seed_ ^ key.id ^ (uint64_t{key.protocol} << 32) ^ (uint64_t{key.src.family} << 40));
  for (uint64_t w : words) h = mix64(h ^ w);
  return h;
}

uint32_t IpReassembler::find(const FragmentKey& key, uint64_t hash) const {
  for (size_t i = hash & index_mask_; index_[i] != kNoSlot; i = (i + 1) & index_mask_) {
    const Datagram& d = slots_[index_[i]];
    if (d.hash == hash && d.key == key) return index_[i];
  }
  return kNoSlot;
}

void IpReassembler::index_insert(uint32_t slot) {
  size_t i = slots_[slot].hash & index_mask_;
  while (index_[i] != kNoSlot) i = (i + 1) & index_mask_;
  index_[i] = slot;
}

// Backward-shift deletion: later entries of the probe run move into the hole
// unless their home cell lies cyclically after it, so lookups never need
// tombstones.
void IpReassembler::index_erase(uint32_t slot) {
  size_t hole = slots_[slot].hash & index_mask_;
  while (index_[hole] != slot) hole = (hole + 1) & index_mask_;
  index_[hole] = kNoSlot;
  for (size_t j = (hole + 1) & index_mask_; index_[j] != kNoSlot; j = (j + 1) & index_mask_) {
    const size_t home = slots_[index_[j]].hash & index_mask_;
    const bool home_in_gap = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (home_in_gap) continue;
    index_[hole] = index_[j];
    index_[j] = kNoSlot;
    hole = j;
  }
}

uint32_t IpReassembler::create(const FragmentKey& key, uint64_t hash, Timestamp ts) {
  if (stats_.datagrams_held >= limits_.max_datagrams) evict(slots_.oldest());
  const uint32_t slot = slots_.acquire();
  Datagram& d = slots_[slot];
  d.key = key;
  d.hash = hash;
  d.first_seen = ts;
  d.total = 0;
  d.total_known = false;
  d.protocol = 0;
  d.live = true;
  d.pieces.clear();
  index_insert(slot);
  ++stats_.datagrams_held;
  return slot;
}

void IpReassembler::put_spare(std::vector<std::byte>& buffer) {
  std::vector<std::byte> taken;
  taken.swap(buffer);
  const bool keep =
      taken.capacity() > 0 && taken.capacity() <= kMaxSpareCapacity && spare_.size() < kMaxSpareBuffers;
  if (!keep) return;  // freed here
  taken.clear();
  spare_.push_back(std::move(taken));
}

void IpReassembler::release(uint32_t slot) {
  Datagram& d = slots_[slot];
  index_erase(slot);
  stats_.bytes_held -= d.data.capacity();
  put_spare(d.data);
  d.pieces.clear();
  d.live = false;
  slots_.release(slot);
  --stats_.datagrams_held;
}

void IpReassembler::evict(uint32_t slot) {
  ++stats_.evicted;
  background_.add(Anomaly::kFragmentTableFull);
  release(slot);
}

void IpReassembler::drop(uint32_t slot) {
  ++stats_.dropped;
  release(slot);
}

// Makes room for bytes [0, end) in the datagram's buffer, evicting older
// datagrams while the capacity limit would be exceeded. False when even an
// empty table could not hold it.
bool IpReassembler::grow(uint32_t slot, size_t end) {
  const size_t capacity = slots_[slot].data.capacity();
  if (end <= capacity) {
    if (slots_[slot].data.size() < end) slots_[slot].data.resize(end);
    return true;
  }
  // Best fit among the spare buffers, else a fresh one that at least doubles.
  size_t spare = spare_.size();
  for (size_t i = 0; i < spare_.size(); ++i) {
    const size_t c = spare_[i].capacity();
    if (c >= end && (spare == spare_.size() || c < spare_[spare].capacity())) spare = i;
  }
  const size_t new_capacity =
      spare < spare_.size()
          ? spare_[spare].capacity()
          : std::max(end, std::min(std::max(2 * capacity, kMinBufferCapacity), kMaxIpLength));
  while (stats_.bytes_held - capacity + new_capacity > limits_.max_bytes) {
    const uint32_t victim = slots_.oldest() != slot ? slots_.oldest() : slots_[slot].newer;
    if (victim == kNoSlot) return false;
    evict(victim);  // only appends to spare_, so `spare` still names the same buffer
  }
  std::vector<std::byte> buffer;
  if (spare < spare_.size()) {
    buffer.swap(spare_[spare]);
    spare_[spare].swap(spare_.back());
    spare_.pop_back();
  } else {
    buffer.reserve(new_capacity);
  }
  Datagram& d = slots_[slot];
  buffer.assign(d.data.begin(), d.data.end());
  buffer.resize(end);
  buffer.swap(d.data);
  stats_.bytes_held = stats_.bytes_held - capacity + d.data.capacity();
  put_spare(buffer);
  return true;
}

DecodeResult IpReassembler::add(Timestamp ts, const Fragment& fragment, Reassembled& done) {
  ++stats_.fragments;
  const size_t begin = fragment.offset;
  const size_t length = fragment.data.size();
  const size_t end = begin + length;
  const uint64_t hash = hash_key(fragment.key);
  uint32_t slot = find(fragment.key, hash);

  // Ping-of-death style: the rebuilt datagram could not be described by its
  // own length field. The whole datagram goes, as with overlaps.
  if (fragment.header_length + end > kMaxIpLength) {
    if (slot != kNoSlot) drop(slot);
    return result(DecodeStatus::kMalformed, Anomaly::kFragmentTooLarge);
  }
  // Every fragment but the last carries a multiple of 8 bytes (RFC 791,
  // RFC 8200 section 4.5), else the next offset could not follow it.
  if (fragment.more && (length == 0 || length % 8 != 0)) {
    return result(DecodeStatus::kMalformed, Anomaly::kFragmentBad);
  }

  if (slot == kNoSlot) slot = create(fragment.key, hash, ts);

  {
    Datagram& d = slots_[slot];
    // Fragments must agree on where the datagram ends.
    const bool bad_end = fragment.more ? (d.total_known && end > d.total)
                                       : (d.total_known ? d.total != end : d.data.size() > end);
    if (bad_end) {
      drop(slot);
      return result(DecodeStatus::kMalformed, Anomaly::kFragmentBad);
    }
    if (!fragment.more) {
      d.total = static_cast<uint32_t>(end);
      d.total_known = true;
    }
  }

  if (length > 0) {
    // Pieces that overlap or touch [begin, end) merge with it. Overlapping
    // bytes must be identical: a retransmitted fragment is harmless, but two
    // versions of the same bytes are an evasion attempt (RFC 5722 drops the
    // datagram for IPv6, Linux does the same for IPv4 since FragmentSmack).
    std::vector<Piece>& pieces = slots_[slot].pieces;
    auto first = std::lower_bound(pieces.begin(), pieces.end(), begin,
                                  [](const Piece& p, size_t b) { return p.end < b; });
    auto last = first;
    const Bytes held(slots_[slot].data);
    for (; last != pieces.end() && last->begin <= end; ++last) {
      const size_t lo = std::max<size_t>(last->begin, begin);
      const size_t hi = std::min<size_t>(last->end, end);
      if (lo >= hi) continue;
      const Bytes old_bytes = held.subspan(lo, hi - lo);
      const Bytes new_bytes = fragment.data.subspan(lo - begin, hi - lo);
      if (!std::equal(old_bytes.begin(), old_bytes.end(), new_bytes.begin())) {
        drop(slot);
        return result(DecodeStatus::kMalformed, Anomaly::kFragmentOverlap);
      }
    }
    const size_t merged = static_cast<size_t>(last - first);
    if (pieces.size() - merged + 1 > limits_.max_pieces) {
      drop(slot);
      return result(DecodeStatus::kMalformed, Anomaly::kFragmentTooManyPieces);
    }
    Piece piece{static_cast<uint32_t>(begin), static_cast<uint32_t>(end)};
    if (merged > 0) {
      piece.begin = std::min(piece.begin, first->begin);
      piece.end = std::max(piece.end, (last - 1)->end);
    }
    const auto at = static_cast<size_t>(first - pieces.begin());

    if (!grow(slot, end)) {
      // Larger than the whole memory limit: nothing older can make room.
      ++stats_.evicted;
      release(slot);
      return result(DecodeStatus::kMalformed, Anomaly::kFragmentTableFull);
    }
    // grow() may have evicted other datagrams, but never this one, and
    // slots_ does not move: `at` and `merged` still describe `pieces`.
    Datagram& d = slots_[slot];
    std::copy(fragment.data.begin(), fragment.data.end(), std::span(d.data).subspan(begin, length).begin());
    if (merged == 0) {
      d.pieces.insert(d.pieces.begin() + static_cast<ptrdiff_t>(at), piece);
    } else {
      d.pieces[at] = piece;
      d.pieces.erase(d.pieces.begin() + static_cast<ptrdiff_t>(at + 1),
                     d.pieces.begin() + static_cast<ptrdiff_t>(at + merged));
    }
  }

  Datagram& d = slots_[slot];
  if (begin == 0) d.protocol = fragment.next_protocol;
  const bool complete = d.total_known && d.total > 0 && d.pieces.size() == 1 && d.pieces[0].begin == 0 &&
                        d.pieces[0].end == d.total;
  if (!complete) return result(DecodeStatus::kFragmentHeld);

  if (delivered_count_ == delivered_.size()) {
    // Only reachable with tunnels nested deeper than the decoder follows.
    drop(slot);
    return result(DecodeStatus::kMalformed, Anomaly::kFragmentBad);
  }
  std::vector<std::byte>& out = delivered_[delivered_count_++];
  stats_.bytes_held -= d.data.capacity();
  out.swap(d.data);
  out.resize(d.total);
  done.protocol = d.protocol;
  done.data = Bytes(out);
  ++stats_.reassembled;
  release(slot);
  return result(DecodeStatus::kOk);
}

void IpReassembler::expire(Timestamp now) {
  while (slots_.oldest() != kNoSlot &&
         at_least_older(slots_[slots_.oldest()].first_seen, now, limits_.timeout_ns)) {
    ++stats_.timed_out;
    background_.add(Anomaly::kFragmentTimeout);
    release(slots_.oldest());
  }
}

void IpReassembler::release_delivered() {
  for (size_t i = 0; i < delivered_count_; ++i) put_spare(delivered_[i]);
  delivered_count_ = 0;
}

}  // namespace cv

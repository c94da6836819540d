#include "capture/tcp/tcp_reassembler.h"

#include <algorithm>
#include <cstring>

namespace cv {
namespace {

constexpr uint8_t kFin = 0x01;
constexpr uint8_t kSyn = 0x02;
constexpr uint8_t kRst = 0x04;
constexpr uint8_t kAck = 0x10;

// Buffers kept for reuse: enough for the SIP connections busy at once, small
// enough that the pool itself stays under 1 MiB.
constexpr size_t kMaxSpareBuffers = 64;
constexpr size_t kMaxSpareCapacity = 16 * 1024;
// A first allocation that holds a typical segment or a SIP message tail.
constexpr size_t kMinBufferCapacity = 2048;
// An acknowledgement further ahead than this is not believed (a broken or
// foreign segment), so one bogus ACK cannot skip a whole stream.
constexpr int64_t kMaxAckAhead = int64_t{1} << 30;

// Sequence arithmetic modulo 2^32 (RFC 793, RFC 1982): how far `a` is after `b`.
int64_t seq_diff(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b); }

// True when `now` is at least `age` after `then`, without signed overflow.
bool at_least_older(Timestamp then, Timestamp now, int64_t age) {
  if (now.ns < then.ns) return false;
  const uint64_t diff = static_cast<uint64_t>(now.ns) - static_cast<uint64_t>(then.ns);
  return age <= 0 || diff >= static_cast<uint64_t>(age);
}

}  // namespace

TcpStreamReassembler::TcpStreamReassembler(const TcpLimits& limits, TcpStreamConsumer& consumer)
    : limits_(limits), consumer_(consumer) {
  limits_.max_connections = std::clamp<size_t>(limits_.max_connections, 1, size_t{1} << 22);
  limits_.max_bytes = std::max<size_t>(limits_.max_bytes, 1);
  // One connection can never need more than the whole budget, so making
  // room for it by evicting others always ends.
  limits_.max_connection_bytes = std::clamp<size_t>(limits_.max_connection_bytes, 1, limits_.max_bytes);
  limits_.max_connection_segments = std::max<size_t>(limits_.max_connection_segments, 1);
  spare_.reserve(kMaxSpareBuffers);
}

TcpStreamReassembler::~TcpStreamReassembler() = default;

std::vector<std::byte> TcpStreamReassembler::take_buffer(size_t at_least) {
  size_t best = spare_.size();
  for (size_t i = 0; i < spare_.size(); ++i) {
    const size_t c = spare_[i].capacity();
    if (c >= at_least && (best == spare_.size() || c < spare_[best].capacity())) best = i;
  }
  std::vector<std::byte> out;
  if (best < spare_.size()) {
    out.swap(spare_[best]);
    spare_[best].swap(spare_.back());
    spare_.pop_back();
  } else {
    out.reserve(std::max(at_least, kMinBufferCapacity));
  }
  out.clear();
  return out;
}

void TcpStreamReassembler::put_spare(std::vector<std::byte>& buffer) {
  std::vector<std::byte> taken;
  taken.swap(buffer);
  if (taken.capacity() == 0 || taken.capacity() > kMaxSpareCapacity || spare_.size() >= kMaxSpareBuffers)
    return;  // freed here
  taken.clear();
  spare_.push_back(std::move(taken));
}

void TcpStreamReassembler::account(Connection& c, ptrdiff_t bytes) {
  c.bytes = static_cast<size_t>(static_cast<ptrdiff_t>(c.bytes) + bytes);
  stats_.bytes_held = static_cast<uint64_t>(static_cast<int64_t>(stats_.bytes_held) + bytes);
}

uint32_t TcpStreamReassembler::create(const ConnKey& key, Timestamp ts, AnomalyCounters& anomalies) {
  if (stats_.connections_held >= limits_.max_connections && slots_.oldest() != kNoSlot)
    evict(slots_.oldest(), Anomaly::kTcpTableFull, anomalies);
  const uint32_t slot = slots_.acquire();
  Connection& c = slots_[slot];
  c.key = key;
  c.last_seen = ts;
  c.bytes = 0;
  c.segments = 0;
  c.live = true;
  for (Direction& d : c.dir) reset_direction(c, d);
  index_.insert(key, slot);
  ++stats_.connections;
  ++stats_.connections_held;
  return slot;
}

// Forgets a direction's state; its bytes are counted as dropped.
void TcpStreamReassembler::reset_direction(Connection& c, Direction& d) {
  const size_t held_bytes = d.buffered() + [&] {
    size_t n = 0;
    for (const Held& h : d.held) n += h.data.size();
    return n;
  }();
  stats_.bytes_dropped += held_bytes;
  account(c, -static_cast<ptrdiff_t>(held_bytes));
  c.segments -= d.held.size();
  for (Held& h : d.held) put_spare(h.data);
  d.held.clear();
  put_spare(d.buffer);
  d.head = 0;
  d.seq_known = d.synchronized = d.syn_seen = d.fin_seen = d.done = false;
  d.isn = d.next_seq = d.fin_seq = 0;
}

void TcpStreamReassembler::release(uint32_t slot) {
  Connection& c = slots_[slot];
  for (Direction& d : c.dir) reset_direction(c, d);
  std::vector<Held>().swap(c.dir[0].held);  // a long-gone connection keeps no vector
  std::vector<Held>().swap(c.dir[1].held);
  index_.erase(c.key);
  c.live = false;
  slots_.release(slot);
  --stats_.connections_held;
}

void TcpStreamReassembler::evict(uint32_t slot, Anomaly why, AnomalyCounters& anomalies) {
  ++stats_.connections_evicted;
  anomalies.add(why);
  const Connection& c = slots_[slot];
  for (int d = 0; d < 2; ++d) flush(Context{slot, d, c.last_seen, 0, &anomalies});
  release(slot);
}

bool TcpStreamReassembler::on_segment(const DecodedPacket& packet, bool may_create,
                                      AnomalyCounters& anomalies) {
  const uint8_t flags = packet.tcp.flags;
  const bool forward = packet.src < packet.dst || packet.src == packet.dst;
  const ConnKey key = forward ? ConnKey{packet.src, packet.dst} : ConnKey{packet.dst, packet.src};
  uint32_t slot;
  if (const uint32_t* found = index_.find(key)) {
    slot = *found;
  } else {
    if (!may_create || (flags & kRst) || (packet.payload.empty() && !(flags & kSyn))) return false;
    slot = create(key, packet.ts, anomalies);
  }
  ++stats_.segments;
  {
    Connection& c = slots_[slot];
    c.last_seen = std::max(c.last_seen, packet.ts);
    slots_.touch(slot);
  }
  const Context ctx{slot, forward ? 0 : 1, packet.ts, packet.frame, &anomalies};

  if (flags & kRst) {
    for (int d = 0; d < 2; ++d) flush(Context{slot, d, packet.ts, packet.frame, &anomalies});
    ++stats_.connections_closed;
    release(slot);
    return true;
  }

  uint32_t seq = packet.tcp.seq;
  Bytes payload = packet.payload;
  bool take_data = true;
  {
    Connection& c = slots_[slot];
    Direction& d = c.dir[ctx.d];
    if (flags & kSyn) {
      if (d.syn_seen && seq == d.isn) {
        take_data = false;  // a retransmitted SYN or SYN-ACK
        ++stats_.retransmitted;
      } else {
        if (d.seq_known) {
          // A new connection on the same addresses and ports: what the old
          // one held is delivered, then both directions start over.
          for (int i = 0; i < 2; ++i) flush(Context{slot, i, packet.ts, packet.frame, &anomalies});
          for (Direction& x : c.dir) reset_direction(c, x);
        }
        d.syn_seen = true;
        d.isn = seq;
        d.seq_known = true;
        d.synchronized = true;
        d.next_seq = seq + 1;
        seq += 1;  // data on a SYN (TCP Fast Open) starts after it
      }
    }
    if (take_data && !d.seq_known && (!payload.empty() || (flags & kFin))) {
      // Capture started during the connection: the consumer looks for the
      // next message start.
      d.seq_known = true;
      d.synchronized = false;
      d.next_seq = seq;
      ++stats_.mid_stream_pickups;
    }
    if (take_data && d.seq_known && (flags & kFin) && !d.fin_seen) {
      d.fin_seen = true;
      d.fin_seq = seq + static_cast<uint32_t>(payload.size());
    }
  }
  if (take_data && !payload.empty()) add_data(ctx, seq, payload);
  drain(ctx);  // also notices a FIN that is now in order

  // The peer acknowledging bytes of the other direction that were never
  // captured, while later bytes wait: the hole is a capture loss, skip it.
  if (flags & kAck) {
    Direction& r = slots_[slot].dir[1 - ctx.d];
    if (r.seq_known && !r.done && !r.held.empty()) {
      const int64_t ahead = seq_diff(packet.tcp.ack, r.next_seq);
      if (ahead > 0 && ahead <= kMaxAckAhead) {
        const uint32_t first = r.held.front().seq;
        const uint32_t to = seq_diff(packet.tcp.ack, first) >= 0 ? first : packet.tcp.ack;
        skip_gap(Context{slot, 1 - ctx.d, packet.ts, packet.frame, &anomalies}, to);
      }
    }
  }

  enforce_connection_limits(ctx);
  Connection& c = slots_[slot];
  if (c.dir[0].done && c.dir[1].done) {
    ++stats_.connections_closed;
    release(slot);
    return true;
  }
  enforce_total_limit(slot, anomalies);
  return true;
}

void TcpStreamReassembler::add_data(const Context& ctx, uint32_t seq, Bytes payload) {
  Direction& d = slots_[ctx.slot].dir[ctx.d];
  if (d.done) {
    ++stats_.retransmitted;
    return;
  }
  int64_t offset = seq_diff(seq, d.next_seq);
  if (offset < 0) {
    const auto seen = static_cast<uint64_t>(-offset);
    if (seen >= payload.size()) {
      ++stats_.retransmitted;
      return;
    }
    payload = payload.subspan(static_cast<size_t>(seen));
    seq = d.next_seq;
    offset = 0;
    ++stats_.overlaps_trimmed;
  }
  if (d.fin_seen) {  // nothing exists beyond the FIN
    const int64_t room = seq_diff(d.fin_seq, seq);
    if (room <= 0) return;
    if (static_cast<uint64_t>(room) < payload.size()) payload = payload.first(static_cast<size_t>(room));
  }
  if (offset > 0) {
    hold(ctx, seq, payload);
    return;
  }
  deliver(ctx, payload);
}

void TcpStreamReassembler::hold(const Context& ctx, uint32_t seq, Bytes payload) {
  Connection& c = slots_[ctx.slot];
  Direction& d = c.dir[ctx.d];
  const int64_t offset = seq_diff(seq, d.next_seq);
  const int64_t end = offset + static_cast<int64_t>(payload.size());
  auto at = d.held.begin();
  for (; at != d.held.end(); ++at) {
    const int64_t h_begin = seq_diff(at->seq, d.next_seq);
    const int64_t h_end = h_begin + static_cast<int64_t>(at->data.size());
    if (h_begin <= offset && end <= h_end) {  // already held whole
      ++stats_.retransmitted;
      return;
    }
    if (h_begin > offset) break;
  }
  Held h;
  h.seq = seq;
  h.data = take_buffer(payload.size());
  h.data.assign(payload.begin(), payload.end());
  d.held.insert(at, std::move(h));
  ++c.segments;
  account(c, static_cast<ptrdiff_t>(payload.size()));
  ++stats_.out_of_order;
}

void TcpStreamReassembler::deliver(const Context& ctx, Bytes payload) {
  Connection& c = slots_[ctx.slot];
  Direction& d = c.dir[ctx.d];
  d.next_seq += static_cast<uint32_t>(payload.size());
  stats_.bytes_delivered += payload.size();
  TcpDelivery delivery;
  delivery.src = ctx.d == 0 ? c.key.a : c.key.b;
  delivery.dst = ctx.d == 0 ? c.key.b : c.key.a;
  delivery.ts = ctx.ts;
  delivery.frame = ctx.frame;
  delivery.synchronized = d.synchronized;
  if (d.buffered() == 0) {
    // The fast path: the consumer reads the segment where it lies.
    delivery.data = payload;
    const TcpConsumed r = consumer_.on_stream_data(delivery, *ctx.anomalies);
    const size_t used = std::min(r.bytes, payload.size());
    d.synchronized = r.synchronized;
    const Bytes rest = payload.subspan(used);
    if (rest.empty()) return;
    if (d.buffer.capacity() == 0) d.buffer = take_buffer(rest.size());
    d.buffer.assign(rest.begin(), rest.end());
    d.head = 0;
    account(c, static_cast<ptrdiff_t>(rest.size()));
    stats_.copied_bytes += rest.size();
    return;
  }
  if (d.head > 0 && d.buffer.size() + payload.size() > d.buffer.capacity()) {
    d.buffer.erase(d.buffer.begin(), d.buffer.begin() + static_cast<ptrdiff_t>(d.head));
    d.head = 0;
  }
  d.buffer.insert(d.buffer.end(), payload.begin(), payload.end());
  account(c, static_cast<ptrdiff_t>(payload.size()));
  stats_.copied_bytes += payload.size();
  delivery.data = Bytes(d.buffer).subspan(d.head);
  const TcpConsumed r = consumer_.on_stream_data(delivery, *ctx.anomalies);
  const size_t used = std::min(r.bytes, d.buffered());
  d.synchronized = r.synchronized;
  d.head += used;
  account(c, -static_cast<ptrdiff_t>(used));
  if (d.buffered() == 0) {
    d.head = 0;
    put_spare(d.buffer);
  }
}

void TcpStreamReassembler::drain(const Context& ctx) {
  Connection& c = slots_[ctx.slot];
  Direction& d = c.dir[ctx.d];
  while (!d.held.empty() && !d.done) {
    const int64_t offset = seq_diff(d.held.front().seq, d.next_seq);
    if (offset > 0) break;
    Held h = std::move(d.held.front());
    d.held.erase(d.held.begin());
    --c.segments;
    account(c, -static_cast<ptrdiff_t>(h.data.size()));
    const auto seen = static_cast<uint64_t>(-offset);
    if (seen < h.data.size()) {
      if (seen > 0) ++stats_.overlaps_trimmed;
      Bytes rest = Bytes(h.data).subspan(static_cast<size_t>(seen));
      if (d.fin_seen) {
        const int64_t room = seq_diff(d.fin_seq, d.next_seq);
        rest =
            rest.first(static_cast<size_t>(std::clamp<int64_t>(room, 0, static_cast<int64_t>(rest.size()))));
      }
      if (!rest.empty()) deliver(ctx, rest);
    } else {
      ++stats_.retransmitted;
    }
    put_spare(h.data);
  }
  if (d.fin_seen && !d.done && d.seq_known && seq_diff(d.next_seq, d.fin_seq) >= 0) {
    // Everything before the FIN is delivered: a partial message left now
    // can never complete.
    d.done = true;
    stats_.bytes_dropped += d.buffered();
    account(c, -static_cast<ptrdiff_t>(d.buffered()));
    d.head = 0;
    put_spare(d.buffer);
    for (Held& h : d.held) {
      stats_.bytes_dropped += h.data.size();
      account(c, -static_cast<ptrdiff_t>(h.data.size()));
      put_spare(h.data);
    }
    c.segments -= d.held.size();
    d.held.clear();
  }
}

void TcpStreamReassembler::skip_gap(const Context& ctx, uint32_t to) {
  Connection& c = slots_[ctx.slot];
  Direction& d = c.dir[ctx.d];
  const int64_t missing = seq_diff(to, d.next_seq);
  if (missing <= 0 || d.done) return;
  ++stats_.gaps;
  stats_.gap_bytes += static_cast<uint64_t>(missing);
  ctx.anomalies->add(Anomaly::kTcpGap);
  // Unconsumed bytes before the hole are an unfinished message that cannot
  // be completed any more.
  stats_.bytes_dropped += d.buffered();
  account(c, -static_cast<ptrdiff_t>(d.buffered()));
  d.head = 0;
  put_spare(d.buffer);
  d.next_seq = to;
  d.synchronized = false;
  drain(ctx);
}

void TcpStreamReassembler::flush(const Context& ctx) {
  Direction& d = slots_[ctx.slot].dir[ctx.d];
  while (!d.held.empty() && !d.done) {
    skip_gap(ctx, d.held.front().seq);
    drain(ctx);
  }
}

void TcpStreamReassembler::enforce_connection_limits(const Context& ctx) {
  Connection& c = slots_[ctx.slot];
  const int order[2] = {ctx.d, 1 - ctx.d};
  bool counted = false;
  while (c.segments > limits_.max_connection_segments) {
    if (!counted) ctx.anomalies->add(Anomaly::kTcpSegmentOverflow);
    counted = true;
    const size_t before = c.segments;
    for (int i : order) {
      if (c.dir[i].held.empty()) continue;
      skip_gap(Context{ctx.slot, i, ctx.ts, ctx.frame, ctx.anomalies}, c.dir[i].held.front().seq);
      break;
    }
    if (c.segments >= before) break;  // unreachable: skipping a hole delivers a held segment
  }
  counted = false;
  while (c.bytes > limits_.max_connection_bytes) {
    if (!counted) ctx.anomalies->add(Anomaly::kTcpConnectionOverflow);
    counted = true;
    // Oldest first: unconsumed bytes come before anything held after a hole.
    bool progressed = false;
    for (int i : order) {
      Direction& d = c.dir[i];
      if (d.buffered() == 0) continue;
      stats_.bytes_dropped += d.buffered();
      account(c, -static_cast<ptrdiff_t>(d.buffered()));
      d.head = 0;
      put_spare(d.buffer);
      d.synchronized = false;
      progressed = true;
      break;
    }
    if (progressed) continue;
    for (int i : order) {
      if (c.dir[i].held.empty()) continue;
      skip_gap(Context{ctx.slot, i, ctx.ts, ctx.frame, ctx.anomalies}, c.dir[i].held.front().seq);
      progressed = true;
      break;
    }
    if (!progressed) break;  // unreachable: bytes are buffered or held
  }
}

void TcpStreamReassembler::enforce_total_limit(uint32_t keep, AnomalyCounters& anomalies) {
  while (stats_.bytes_held > limits_.max_bytes) {
    uint32_t victim = slots_.oldest();
    if (victim == keep) victim = slots_[keep].newer;
    if (victim == kNoSlot) return;  // only `keep` holds bytes, within its own limit
    evict(victim, Anomaly::kTcpMemoryFull, anomalies);
  }
}

void TcpStreamReassembler::expire(Timestamp now) {
  while (slots_.oldest() != kNoSlot &&
         at_least_older(slots_[slots_.oldest()].last_seen, now, limits_.idle_timeout_ns)) {
    const uint32_t slot = slots_.oldest();
    for (int d = 0; d < 2; ++d) flush(Context{slot, d, slots_[slot].last_seen, 0, &background_});
    ++stats_.connections_expired;
    release(slot);
  }
}

void TcpStreamReassembler::finish() {
  while (slots_.oldest() != kNoSlot) {
    const uint32_t slot = slots_.oldest();
    for (int d = 0; d < 2; ++d) flush(Context{slot, d, slots_[slot].last_seen, 0, &background_});
    release(slot);
  }
}

}  // namespace cv

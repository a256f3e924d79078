// cuda/select/block_select.cuh — exact block-wide top-k (smallest keys) over a stream of
// candidates, for any k up to kMaxSelectK, in shared memory.
//
// The block keeps its best k (key, index) pairs plus a candidate buffer. Candidates are
// filtered against the current k-th key (tau) and appended with warp-aggregated atomics.
// When the buffer could overflow, flush() finds the exact k-th smallest key of
// (kept ∪ candidates) by a 4-pass, 8-bit MSB radix select over shared memory and compacts the
// k best into place, tightening tau. Once tau settles, a candidate costs one compare.
//
// Usage (every thread of the block, uniform control flow):
//   BlockSelect sel(smem, k, cand_cap); sel.init();
//   per round: sel.begin_round(max_offers_this_round); sel.offer(valid, key, index) ...
//   sel.finish();  then sel.sort() for ordered output, and read sel.count() / sel.key(i) / sel.index(i).
#pragma once

#include <cstdint>

#include "cuda/select/block_select_limits.hpp"
#include "cuda/select/radix_key.cuh"

namespace knnx::cuda {

// kMaxSelectK (block_select_limits.hpp) bounds k.
inline constexpr int kSelectThreads = 256;

// Candidate-buffer capacity for k when each round offers at most `round` candidates: a full
// round on top of max(k, round) pending candidates, so every flush (O(k + capacity) work) is
// paid for by at least max(k, round) new candidates, and room for the final bitonic sort.
__host__ __device__ inline int select_cand_capacity(int k, int round) {
  int p = 1;
  while (p < k) p <<= 1;
  return (p < round ? round : p) + round;
}

__host__ __device__ inline std::size_t select_smem_bytes(int k, int round) {
  const std::size_t cap = static_cast<std::size_t>(select_cand_capacity(k, round));
  return (static_cast<std::size_t>(k) + cap) * 8 + static_cast<std::size_t>(k) * 8 + 256 * 4 +
         16 * 4;
}

class BlockSelect {
 public:
  // smem must hold select_smem_bytes(k, round) bytes, 8-byte aligned; no round may offer more
  // than `round` candidates.
  __device__ BlockSelect(unsigned char* smem, int k, int round)
      : k_(k), cap_(select_cand_capacity(k, round)) {
    keys_ = reinterpret_cast<std::uint32_t*>(smem);
    idx_ = reinterpret_cast<std::int32_t*>(keys_ + (k + cap_));
    tmp_keys_ = reinterpret_cast<std::uint32_t*>(idx_ + (k + cap_));
    tmp_idx_ = reinterpret_cast<std::int32_t*>(tmp_keys_ + k);
    hist_ = reinterpret_cast<std::uint32_t*>(tmp_idx_ + k);
    vars_ = reinterpret_cast<int*>(hist_ + 256);
  }

  __device__ void init() {
    if (threadIdx.x == 0) {
      vars_[kTop] = 0;
      vars_[kCand] = 0;
      vars_[kTau] = static_cast<int>(kKeyMax);
    }
    __syncthreads();
  }

  // Before a round in which the block offers at most max_offers candidates.
  __device__ void begin_round(int max_offers) {
    __syncthreads();
    const int n_cand = vars_[kCand];
    tau_ = static_cast<std::uint32_t>(vars_[kTau]);
    __syncthreads();  // every thread has read n_cand before any offer of this round adds to it
    if (n_cand > cap_ - max_offers) {
      flush();
      tau_ = static_cast<std::uint32_t>(vars_[kTau]);
    }
  }

  __device__ void offer(bool valid, std::uint32_t key, std::int32_t index) {
    const bool pass = valid && key < tau_;
    const unsigned mask = __ballot_sync(0xFFFFFFFFu, pass);
    if (mask == 0) return;
    const int lane = threadIdx.x & 31;
    int base = 0;
    if (lane == 0) base = atomicAdd(&vars_[kCand], __popc(mask));
    base = __shfl_sync(0xFFFFFFFFu, base, 0);
    if (pass) {
      const int pos = k_ + base + __popc(mask & ((1u << lane) - 1u));
      keys_[pos] = key;
      idx_[pos] = index;
    }
  }

  // After the last round: merges the remaining candidates.
  __device__ void finish() {
    __syncthreads();
    flush();
  }

  // Sorts the kept entries ascending by (key, index). Call after finish().
  __device__ void sort() {
    const int n = vars_[kTop];
    int p = 1;
    while (p < n) p <<= 1;
    for (int i = n + static_cast<int>(threadIdx.x); i < p; i += blockDim.x) {
      keys_[i] = kKeyMax;
      idx_[i] = 0x7FFFFFFF;
    }
    __syncthreads();
    for (int size = 2; size <= p; size <<= 1) {
      for (int stride = size >> 1; stride > 0; stride >>= 1) {
        for (int i = threadIdx.x; i < p; i += blockDim.x) {
          const int j = i ^ stride;
          if (j > i) {
            const bool up = (i & size) == 0;
            const std::uint32_t ki = keys_[i], kj = keys_[j];
            const std::int32_t ii = idx_[i], ij = idx_[j];
            const bool greater = ki > kj || (ki == kj && ii > ij);
            if (greater == up) {
              keys_[i] = kj;
              keys_[j] = ki;
              idx_[i] = ij;
              idx_[j] = ii;
            }
          }
        }
        __syncthreads();
      }
    }
  }

  __device__ int count() const { return vars_[kTop]; }
  __device__ std::uint32_t key(int i) const { return keys_[i]; }
  __device__ std::int32_t index(int i) const { return idx_[i]; }

 private:
  enum { kTop = 0, kCand = 1, kTau = 2, kDigit = 3, kBelow = 4, kLess = 5, kEq = 6 };

  // Calls f(slot, live) for every live entry (kept slots [0, n_top), candidate slots
  // [k, k + n_cand)) with live = true, and with live = false to pad the last pass, so every
  // lane of every warp takes the same number of iterations (warp intrinsics in f are safe).
  template <typename F>
  __device__ void for_each_live(int n_top, int n_cand, F&& f) {
    for (int b = 0; b < n_top; b += blockDim.x) {
      const int i = b + threadIdx.x;
      f(i < n_top ? i : 0, i < n_top);
    }
    for (int b = 0; b < n_cand; b += blockDim.x) {
      const int i = b + threadIdx.x;
      f(i < n_cand ? k_ + i : 0, i < n_cand);
    }
  }

  // Block-wide; entered and left with all threads synchronised.
  __device__ void flush() {
    const int n_top = vars_[kTop];
    const int n_cand = vars_[kCand];
    if (n_cand == 0) return;
    if (n_top + n_cand <= k_) {
      for (int i = threadIdx.x; i < n_cand; i += blockDim.x) {
        keys_[n_top + i] = keys_[k_ + i];
        idx_[n_top + i] = idx_[k_ + i];
      }
      __syncthreads();
      if (threadIdx.x == 0) {
        vars_[kTop] = n_top + n_cand;
        vars_[kCand] = 0;
      }
      __syncthreads();
      return;
    }

    // Radix select of the k-th smallest key among n_top + n_cand entries.
    std::uint32_t prefix = 0, mask = 0;
    int remaining = k_;
    for (int shift = 24; shift >= 0; shift -= 8) {
      for (int i = threadIdx.x; i < 256; i += blockDim.x) hist_[i] = 0;
      __syncthreads();
      for_each_live(n_top, n_cand, [&](int i, bool live) {
        const std::uint32_t key = keys_[i];
        const bool counted = live && (key & mask) == prefix;
        const unsigned digit = counted ? (key >> shift) & 0xFFu : 256u;
        // Lanes with equal digits add once: near-equal distances share their top bytes, and
        // one shared-memory atomic per lane on the same bin would serialise the warp.
        const unsigned peers = __match_any_sync(0xFFFFFFFFu, digit);
        if (counted && (threadIdx.x & 31) == __ffs(peers) - 1) atomicAdd(&hist_[digit], __popc(peers));
      });
      __syncthreads();
      if (threadIdx.x < 32) {
        const int lane = threadIdx.x;
        unsigned local = 0;
        for (int b = 0; b < 8; ++b) local += hist_[lane * 8 + b];
        unsigned incl = local;
        for (int off = 1; off < 32; off <<= 1) {
          const unsigned v = __shfl_up_sync(0xFFFFFFFFu, incl, off);
          if (lane >= off) incl += v;
        }
        const unsigned excl = incl - local;
        if (excl < static_cast<unsigned>(remaining) && static_cast<unsigned>(remaining) <= incl) {
          unsigned below = excl;
          int digit = lane * 8;
          for (int b = 0; b < 8; ++b) {
            const unsigned h = hist_[lane * 8 + b];
            if (below + h >= static_cast<unsigned>(remaining)) {
              digit = lane * 8 + b;
              break;
            }
            below += h;
          }
          vars_[kDigit] = digit;
          vars_[kBelow] = static_cast<int>(below);
        }
      }
      __syncthreads();
      remaining -= vars_[kBelow];
      prefix |= static_cast<std::uint32_t>(vars_[kDigit]) << shift;
      mask |= 0xFFu << shift;
    }
    const std::uint32_t kth = prefix;  // the k-th smallest key; `remaining` copies of it are kept
    if (threadIdx.x == 0) {
      vars_[kLess] = 0;
      vars_[kEq] = 0;
    }
    __syncthreads();
    const int n_less = k_ - remaining;
    for_each_live(n_top, n_cand, [&](int i, bool live) {
      const std::uint32_t key = live ? keys_[i] : kKeyMax;
      if (!live) return;
      if (key < kth) {
        const int pos = atomicAdd(&vars_[kLess], 1);
        tmp_keys_[pos] = key;
        tmp_idx_[pos] = idx_[i];
      } else if (key == kth) {
        const int pos = atomicAdd(&vars_[kEq], 1);
        if (pos < remaining) {
          tmp_keys_[n_less + pos] = key;
          tmp_idx_[n_less + pos] = idx_[i];
        }
      }
    });
    __syncthreads();
    for (int i = threadIdx.x; i < k_; i += blockDim.x) {
      keys_[i] = tmp_keys_[i];
      idx_[i] = tmp_idx_[i];
    }
    if (threadIdx.x == 0) {
      vars_[kTop] = k_;
      vars_[kCand] = 0;
      vars_[kTau] = static_cast<int>(kth);
    }
    __syncthreads();
  }

  int k_;
  int cap_;
  std::uint32_t tau_ = kKeyMax;
  std::uint32_t* keys_;
  std::int32_t* idx_;
  std::uint32_t* tmp_keys_;
  std::int32_t* tmp_idx_;
  std::uint32_t* hist_;
  int* vars_;
};

}  // namespace knnx::cuda

// cpu/topk.hpp — exact top-k selection for one query over a stream of (distance, label) pairs.
//
// Scores are minimised (callers negate inner products). Candidates below the current k-th best
// go into a buffer of 2k; when it fills, nth_element keeps the best k and tightens the
// threshold. Blocks of scores are screened against the threshold with SIMD (scan_kernels), so
// once the threshold settles a candidate costs a fraction of a cycle, and an accepted one O(k)
// amortised work, for any k.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "cpu/scan_kernels.hpp"
#include "knnx/types.hpp"

namespace knnx::cpu {

struct Scored {
  float score;
  idx_t label;
};

// Strict weak order: smaller score first; equal scores by smaller label (deterministic ties).
inline bool scored_less(const Scored& a, const Scored& b) {
  return a.score < b.score || (a.score == b.score && a.label < b.label);
}

class TopK {
 public:
  TopK() = default;
  explicit TopK(int k) { reset(k); }

  void reset(int k) {
    k_ = k;
    buf_.clear();
    buf_.reserve(static_cast<std::size_t>(2 * k));
    threshold_ = std::numeric_limits<float>::infinity();
  }

  // Candidates must beat this to matter.
  float threshold() const { return threshold_; }

  void push(float score, idx_t label) {
    if (!(score < threshold_)) return;
    buf_.push_back({score, label});
    if (buf_.size() == 2 * static_cast<std::size_t>(k_)) compact();
  }

  // Pushes scores[0..n) labelled first_label + j.
  void push_block(const float* scores, idx_t n, idx_t first_label) {
    push_tile_row(scores, nullptr, 0.0f, n, first_label);
  }

  // Pushes the scores of one query's tile row t[0..n) (see scan_kernels.hpp: score_of), labelled
  // first_label + j. base_norms (null for inner product) and query_norm complete L2 scores.
  void push_tile_row(const float* t, const float* base_norms, float query_norm, idx_t n,
                     idx_t first_label) {
    const bool l2 = base_norms != nullptr;
    std::uint32_t hits[kCollectChunk];
    for (idx_t j0 = 0; j0 < n; j0 += kCollectChunk) {
      const int len = static_cast<int>(std::min<idx_t>(kCollectChunk, n - j0));
      // Screened against the threshold as it stands; push() re-checks as it tightens.
      const int count = collect_below(t + j0, l2 ? base_norms + j0 : nullptr, query_norm, len,
                                      threshold_, hits);
      for (int h = 0; h < count; ++h) {
        const idx_t j = j0 + hits[h];
        push(score_of(t[j], l2, l2 ? base_norms[j] : 0.0f, query_norm), first_label + j);
      }
    }
  }

  // Merges another collector's candidates into this one.
  void merge(const TopK& other) {
    for (const Scored& s : other.buf_) push(s.score, s.label);
  }

  // Writes the best min(k, seen) results, best first; pads the rest with (pad_score, -1).
  // With negate, scores are written negated (inner-product callers).
  void write(float* scores_out, idx_t* labels_out, bool negate, float pad_score) {
    const std::size_t kk = static_cast<std::size_t>(k_);
    const std::size_t m = std::min(kk, buf_.size());
    std::partial_sort(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(m), buf_.end(),
                      scored_less);
    for (std::size_t i = 0; i < m; ++i) {
      scores_out[i] = negate ? -buf_[i].score : buf_[i].score;
      labels_out[i] = buf_[i].label;
    }
    for (std::size_t i = m; i < kk; ++i) {
      scores_out[i] = pad_score;
      labels_out[i] = kNoLabel;
    }
  }

 private:
  void compact() {
    const auto kth = buf_.begin() + (k_ - 1);
    std::nth_element(buf_.begin(), kth, buf_.end(), scored_less);
    buf_.resize(static_cast<std::size_t>(k_));
    threshold_ = kth->score;
  }

  int k_ = 0;
  float threshold_ = std::numeric_limits<float>::infinity();
  std::vector<Scored> buf_;
};

}  // namespace knnx::cpu

// cpu/topk.hpp — exact top-k selection for one query over a stream of (distance, label) pairs.
//
// Scores are minimised (callers negate inner products). The result is exactly the k smallest
// pairs in (score, label) order: equal scores are decided by the smaller label, whatever order
// the pairs arrive in, so collectors filled in any order and merged give the same answer.
//
// Blocks of scores are screened against a threshold with SIMD (scan_kernels), so once the
// threshold settles a candidate costs a fraction of a cycle. What happens to the few that pass
// depends on k:
//  - k <= kInsertMaxK: a sorted array of the best k; the threshold is always the k-th best.
//  - larger k: an unsorted buffer of up to about 2k. When it fills, a pivot p is picked from a
//    small sorted sample such that between k and 1.5k entries score below p (a count, not a
//    selection: branch-free passes over contiguous floats), the rest are dropped, and p becomes
//    the threshold. Everything dropped has at least k strictly better entries, so nothing of
//    the answer is lost; only write() orders the survivors exactly. When ties defeat every
//    pivot, an exact selection by (score, label) runs instead.
//
// Memory: the buffer grows with the candidates that actually pass the screen, up to 2k + 16
// entries (12 bytes each), so a collector for a large k over few candidates stays small;
// collector_bytes(k) is the most one can hold, for callers sizing blocks of collectors.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "cpu/scan_kernels.hpp"
#include "knnx/id_selector.hpp"
#include "knnx/types.hpp"

namespace knnx::cpu {

struct Scored {
  float score;
  idx_t label;
};

// Strict weak order: smaller score first; equal scores by smaller label.
inline bool scored_less(const Scored& a, const Scored& b) {
  return a.score < b.score || (a.score == b.score && a.label < b.label);
}

// Bound on the memory of the top-k collectors one search holds at a time, all threads together;
// searches with many queries or a large k work through their queries in blocks that fit it.
inline constexpr std::size_t kCollectorBudgetBytes = std::size_t{256} << 20;

class TopK {
 public:
  // Up to this k the best entries are kept sorted as they arrive.
  static constexpr int kInsertMaxK = 16;

  TopK() = default;
  explicit TopK(int k) { reset(k); }

  void reset(int k) {
    k_ = k;
    cap_ = capacity_for(k);
    if (k <= kInsertMaxK) {
      scores_.resize(cap_);
      labels_.resize(cap_);
    }
    size_ = 0;
    set_threshold(kInf, kNoTie);
  }

  // Most bytes one collector for k holds (its buffer when full).
  static std::size_t collector_bytes(int k) {
    return capacity_for(k) * (sizeof(float) + sizeof(idx_t));
  }

  // Candidates scoring at or above this cannot enter the result.
  float threshold() const { return screen_; }

  void push(float score, idx_t label) {
    if (!(score < bound_ || (score == bound_ && label < bound_label_))) return;
    if (k_ <= kInsertMaxK) {
      insert_sorted(score, label);
    } else {
      if (size_ == scores_.size()) grow();
      scores_[size_] = score;
      labels_[size_] = label;
      if (++size_ == cap_) shrink();
    }
  }

  // Pushes scores[0..n) labelled first_label + j (with a selector, as push_tile_row).
  void push_block(const float* scores, idx_t n, idx_t first_label, const IDSelector* sel = nullptr,
                  const idx_t* row_ids = nullptr) {
    // Inner-product tile entries are their own scores.
    push_tile_row<Metric::InnerProduct>(scores, nullptr, 0.0f, n, first_label, sel, row_ids);
  }

  // Pushes the scores of one query's tile row t[0..n) under metric M (see scan_kernels.hpp:
  // score_of), labelled first_label + j. For L2, base_norms and query_norm complete the scores
  // (base_norms is not read for inner product). With a selector, only rows j with
  // sel->is_member(row_ids[j]) are pushed; it is asked only about rows that pass the threshold
  // screen.
  template <Metric M>
  void push_tile_row(const float* t, const float* base_norms, float query_norm, idx_t n,
                     idx_t first_label, const IDSelector* sel = nullptr,
                     const idx_t* row_ids = nullptr) {
    std::uint32_t hits[kCollectChunk];
    for (idx_t j0 = 0; j0 < n; j0 += kCollectChunk) {
      const int len = static_cast<int>(std::min<idx_t>(kCollectChunk, n - j0));
      // Screened against the threshold as it stands; push() re-checks as it tightens. When the
      // k-th entry's label is below every label of this row, no tie can get in: screen strictly,
      // so rows full of equal scores (duplicate vectors) stay on the SIMD path.
      const float screen = bound_label_ < first_label + j0 ? bound_ : screen_;
      const int count = collect_below<M>(t + j0, detail::kIsL2<M> ? base_norms + j0 : nullptr,
                                         query_norm, len, screen, hits);
      for (int h = 0; h < count; ++h) {
        const idx_t j = j0 + hits[h];
        if (sel && !sel->is_member(row_ids[j])) continue;
        push(score_of<M>(t[j], detail::kIsL2<M> ? base_norms[j] : 0.0f, query_norm),
             first_label + j);
      }
    }
  }

  // Merges another collector's candidates into this one.
  void merge(const TopK& other) {
    for (std::size_t i = 0; i < other.size_; ++i) push(other.scores_[i], other.labels_[i]);
  }

  // Writes the best min(k, seen) results, best first; pads the rest with (pad_score, -1).
  // With negate, scores are written negated (inner-product callers).
  void write(float* scores_out, idx_t* labels_out, bool negate, float pad_score) {
    const std::size_t kk = static_cast<std::size_t>(k_);
    std::size_t m = size_;
    if (k_ > kInsertMaxK) {
      // Scratch of the call only: a member would keep 16 bytes per entry alive per collector.
      std::vector<Scored> sorted = entries();
      m = std::min(kk, size_);
      if (size_ > kk)
        std::nth_element(sorted.begin(), sorted.begin() + (k_ - 1), sorted.end(), scored_less);
      std::sort(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(m), scored_less);
      for (std::size_t i = 0; i < m; ++i) {
        scores_out[i] = negate ? -sorted[i].score : sorted[i].score;
        labels_out[i] = sorted[i].label;
      }
    } else {
      for (std::size_t i = 0; i < m; ++i) {
        scores_out[i] = negate ? -scores_[i] : scores_[i];
        labels_out[i] = labels_[i];
      }
    }
    for (std::size_t i = m; i < kk; ++i) {
      scores_out[i] = pad_score;
      labels_out[i] = kNoLabel;
    }
  }

 private:
  static constexpr float kInf = std::numeric_limits<float>::infinity();
  // "No entry at the bound score is accepted": every real label is larger.
  static constexpr idx_t kNoTie = std::numeric_limits<idx_t>::min();
  static constexpr int kSample = 16;
  // Entries the buffer of a collector for k holds at most.
  static std::size_t capacity_for(int k) {
    return k <= kInsertMaxK ? static_cast<std::size_t>(k)
                            : 2 * static_cast<std::size_t>(k) + kSample;
  }

  // Room for more entries (k > kInsertMaxK): doubles the buffer, up to cap_.
  void grow() {
    const std::size_t next = std::min(cap_, std::max<std::size_t>(256, 2 * scores_.size()));
    scores_.resize(next);
    labels_.resize(next);
  }

  std::vector<Scored> entries() const {
    std::vector<Scored> out(size_);
    for (std::size_t i = 0; i < size_; ++i) out[i] = {scores_[i], labels_[i]};
    return out;
  }

  // Accepts (score, label) strictly below (bound, bound_label) from now on.
  void set_threshold(float bound, idx_t bound_label) {
    bound_ = bound;
    bound_label_ = bound_label;
    // The SIMD screen compares scores only: let equal scores through when a smaller label could
    // still get in, and push() decides.
    screen_ = bound_label == kNoTie ? bound : std::nextafter(bound, kInf);
  }

  void insert_sorted(float score, idx_t label) {
    std::size_t pos = size_ < static_cast<std::size_t>(k_) ? size_++ : size_ - 1;
    // Shift worse entries one place right (the last falls off when full).
    while (pos > 0 && scored_less({score, label}, {scores_[pos - 1], labels_[pos - 1]})) {
      scores_[pos] = scores_[pos - 1];
      labels_[pos] = labels_[pos - 1];
      --pos;
    }
    scores_[pos] = score;
    labels_[pos] = label;
    if (size_ == static_cast<std::size_t>(k_)) set_threshold(scores_[size_ - 1], labels_[size_ - 1]);
  }

  std::size_t count_below(float p) const {
    std::size_t c = 0;
    for (std::size_t i = 0; i < size_; ++i) c += scores_[i] < p;
    return c;
  }

  // Keeps the entries scoring below p, in order, without branches.
  void keep_below(float p) {
    std::size_t out = 0;
    for (std::size_t i = 0; i < size_; ++i) {
      const float s = scores_[i];
      scores_[out] = s;
      labels_[out] = labels_[i];
      out += s < p;
    }
    size_ = out;
  }

  // The buffer is full: drop to between k and 1.5k entries.
  void shrink() {
    const std::size_t lo = static_cast<std::size_t>(k_);
    const std::size_t hi = lo + lo / 2;
    float sample[kSample];
    for (int i = 0; i < kSample; ++i) {
      sample[i] = scores_[(2 * static_cast<std::size_t>(i) + 1) * size_ / (2 * kSample)];
    }
    std::sort(sample, sample + kSample);
    // Binary search over the sample for a pivot leaving between lo and hi entries below it,
    // starting where the sample predicts (1.25k of the 2k + kSample entries).
    int first = 0, last = kSample - 1;
    int at = static_cast<int>((lo + hi) / 2 * kSample / size_);
    while (first <= last) {
      at = std::clamp(at, first, last);
      const float p = sample[at];
      const std::size_t c = count_below(p);
      if (c >= lo && c <= hi) {
        keep_below(p);
        set_threshold(p, kNoTie);
        return;
      }
      if (c < lo) {
        first = at + 1;
      } else {
        last = at - 1;
      }
      at = (first + last) / 2;
    }
    // Ties straddle every pivot: select the k best by (score, label) exactly.
    std::vector<Scored> sorted = entries();
    std::nth_element(sorted.begin(), sorted.begin() + (k_ - 1), sorted.end(), scored_less);
    for (std::size_t i = 0; i < lo; ++i) {
      scores_[i] = sorted[i].score;
      labels_[i] = sorted[i].label;
    }
    size_ = lo;
    set_threshold(sorted[lo - 1].score, sorted[lo - 1].label);
  }

  int k_ = 0;
  std::size_t cap_ = 0;  // capacity_for(k_): a full buffer shrinks
  std::size_t size_ = 0;
  float bound_ = kInf;
  idx_t bound_label_ = kNoTie;
  float screen_ = kInf;
  // Entries held: sorted for k <= kInsertMaxK, otherwise in arrival order (the first size_ of
  // buffers that grow as entries arrive).
  std::vector<float> scores_;
  std::vector<idx_t> labels_;
};

}  // namespace knnx::cpu

// CPU backend of IndexPQ: every code in one array, scanned in full for each query.
#include "cpu/pq_cpu.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <new>
#include <vector>

#include "core/parallel_errors.hpp"
#include "cpu/blas.hpp"
#include "cpu/pq_scan.hpp"
#include "cpu/topk.hpp"
#include "knnx/error.hpp"

namespace knnx::cpu {
namespace {

class PqCpu final : public detail::PqBackend {
 public:
  PqCpu(int dim, int code_size, Metric metric)
      : dim_(dim), code_size_(code_size), metric_(metric) {}

  idx_t size() const override { return static_cast<idx_t>(codes_.size()) / code_size_; }

  void add(idx_t n, const std::uint8_t* codes) override {
    const std::size_t bytes = static_cast<std::size_t>(n) * static_cast<std::size_t>(code_size_);
    try {
      if (codes_.size() + bytes > codes_.capacity()) {
        codes_.reserve(std::max(codes_.size() + bytes, 2 * codes_.capacity()));
      }
    } catch (const std::bad_alloc&) {
      throw OutOfMemory(
          fmt::format("cannot grow the CPU PQ index by {} codes of {} bytes", n, code_size_));
    }
    codes_.insert(codes_.end(), codes, codes + bytes);
  }

  void search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
              const ProductQuantizer& pq, const detail::IdMap& ids,
              const detail::SearchKnobs& knobs) const override {
    const int m = code_size_;
    const idx_t n = size();
    const bool ip = metric_ != Metric::L2;
    const float pad = empty_distance(metric_);
    const int threads = blas_threads_within_limits(knobs.num_threads > 0 ? knobs.num_threads
                                                                         : omp_get_max_threads());
    detail::ParallelErrors errors;
#pragma omp parallel num_threads(threads) if (nq > 1)
    {
      std::vector<float> table, scratch;
      TopK topk;
#pragma omp for schedule(dynamic)
      for (idx_t q = 0; q < nq; ++q)
        errors.run([&] {
          table.resize(static_cast<std::size_t>(m) * kPqKsub);
          scratch.resize(kCollectChunk);
          pq.compute_distance_tables(1, queries + q * dim_, metric_, table.data());
          if (ip) {
            for (float& v : table) v = -v;
          }
          topk.reset(k);
          pq_scan_into(topk, table.data(), m, 0.0f, codes_.data(), n, 0, knobs.sel, ids.data(),
                       scratch.data());
          topk.write(distances + q * k, labels + q * k, ip, pad);
        });
    }
    errors.rethrow("CPU PQ search");
    ids.rows_to_ids(static_cast<std::size_t>(nq) * static_cast<std::size_t>(k), labels);
  }

  void remove_rows(const std::vector<std::uint8_t>& remove) override {
    const std::size_t cs = static_cast<std::size_t>(code_size_);
    std::size_t out = 0;
    for (std::size_t r = 0; r < remove.size(); ++r) {
      if (remove[r] != 0) continue;
      if (out != r) std::copy_n(codes_.data() + r * cs, cs, codes_.data() + out * cs);
      ++out;
    }
    codes_.resize(out * cs);
  }

  std::vector<std::uint8_t> codes(idx_t row0, idx_t n) const override {
    const auto* first = codes_.data() + row0 * code_size_;
    return std::vector<std::uint8_t>(first, first + n * code_size_);
  }

  void reset() override { codes_ = std::vector<std::uint8_t>{}; }

 private:
  int dim_;
  int code_size_;
  Metric metric_;
  std::vector<std::uint8_t> codes_;  // size() x code_size_, row order
};

}  // namespace

std::unique_ptr<detail::PqBackend> make_pq_backend(int dim, int code_size, Metric metric) {
  return std::make_unique<PqCpu>(dim, code_size, metric);
}

}  // namespace knnx::cpu

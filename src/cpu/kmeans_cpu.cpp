// CPU k-means: k-means++ or random seeding, Lloyd iterations with blocked BLAS assignment, a
// parallel centroid update in a fixed summation order, and FAISS-style splits of empty clusters.
#include "cpu/kmeans_cpu.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <queue>
#include <utility>
#include <vector>

#include "core/metric_dispatch.hpp"
#include "core/parallel_errors.hpp"
#include "core/random.hpp"
#include "core/sampling.hpp"
#include "cpu/blas.hpp"
#include "cpu/flat_search.hpp"
#include "cpu/scan_kernels.hpp"
#include "knnx/config.hpp"

namespace knnx::cpu {
namespace {

using detail::KMeansResult;

// Rows per work block. Fixed, so how the work is cut, and with it every result, is the same for
// any number of threads.
constexpr idx_t kBlockRows = 512;
// Floats of rows one k-means++ pass must cover before its seeding runs on several threads.
constexpr idx_t kMinParallelSeedingFloats = idx_t{1} << 22;
// Relative perturbation of the two copies of a split centroid (the value FAISS uses).
constexpr float kSplitEps = 1.0f / 1024.0f;

int thread_count() { return cpu_threads(config().num_threads); }

// Multiply-adds of one assignment pass per thread, at the least: small problems (OPQ's
// sub-space k-means, tiny training sets) run on fewer threads, since every pass forks and joins
// several parallel regions, which costs more than the work when the machine is oversubscribed.
// Results do not depend on the thread count (fixed blocks), so this changes only the speed.
constexpr double kMinFmaPerThread = double(1 << 22);

int thread_count_for(idx_t n, int d, int k) {
  const double work = double(n) * double(d) * double(k);
  const int useful = static_cast<int>(std::max(1.0, std::min(4096.0, work / kMinFmaPerThread)));
  return std::min(thread_count(), useful);
}

idx_t block_count(idx_t n) { return (n + kBlockRows - 1) / kBlockRows; }

float l2_sq(const float* a, const float* b, int d) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int j = 0; j < d; ++j) {
    const float t = a[j] - b[j];
    s += t * t;
  }
  return s;
}

float dot(const float* a, const float* b, int d) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int j = 0; j < d; ++j) s += a[j] * b[j];
  return s;
}

// Whether v is nearer to a than to b under metric M (a strictly smaller distance, or a strictly
// larger inner product).
template <Metric M>
bool nearer(const float* v, const float* a, const float* b, int d) {
  if constexpr (detail::kIsL2<M>) {
    return l2_sq(v, a, d) < l2_sq(v, b, d);
  } else {
    return dot(v, a, d) > dot(v, b, d);
  }
}

// Scales each of the k centroids to unit L2 norm (a zero centroid stays zero).
void normalise_rows(idx_t k, int d, float* c) {
  for (idx_t i = 0; i < k; ++i) {
    float* row = c + i * d;
    double s = 0.0;
    for (int j = 0; j < d; ++j) s += static_cast<double>(row[j]) * row[j];
    if (s > 0.0) {
      const double inv = 1.0 / std::sqrt(s);
      for (int j = 0; j < d; ++j) row[j] = static_cast<float>(row[j] * inv);
    }
  }
}

// k distinct sample rows, uniformly.
void seed_random(idx_t n, const float* x, int d, int k, std::uint64_t seed, float* centroids) {
  detail::Rng rng(
      detail::derive_seed(detail::kKMeansSeedDomain, seed, detail::kKMeansInitStream, 0));
  const std::vector<idx_t> rows = detail::sample_without_replacement(n, k, rng);
  for (int c = 0; c < k; ++c)
    std::copy_n(x + rows[static_cast<std::size_t>(c)] * d, d, centroids + c * d);
}

// k-means++ (Arthur and Vassilvitskii, 2007): the first seed uniformly, each next one with
// probability proportional to its squared distance D to the nearest seed so far. A row whose
// nearest seed a has ||c_new - c_a||^2 >= 4 D cannot be closer to c_new (triangle inequality),
// so its distance is not computed; the others get theirs from the SIMD products kernel as
// ||x||^2 + ||c||^2 - 2 x.c, a run of consecutive rows per call.
void seed_kmeans_pp(idx_t n, const float* x, int d, int k, std::uint64_t seed, float* centroids,
                    int threads) {
  std::vector<float> dmin(static_cast<std::size_t>(n), std::numeric_limits<float>::infinity());
  std::vector<int> owner(static_cast<std::size_t>(n), -1);
  std::vector<float> row_norms(static_cast<std::size_t>(n));
  row_norms_sq(n, d, x, row_norms.data());
  const idx_t n_blocks = block_count(n);
  std::vector<double> block_sum(static_cast<std::size_t>(n_blocks), 0.0);
  std::vector<float> seed_dist(static_cast<std::size_t>(k), 0.0f);  // new seed to earlier seeds
  std::vector<std::vector<float>> products(
      static_cast<std::size_t>(threads), std::vector<float>(static_cast<std::size_t>(kBlockRows)));
  detail::Rng rng(
      detail::derive_seed(detail::kKMeansSeedDomain, seed, detail::kKMeansInitStream, 0));
  // Every seed needs a pass over the rows and a synchronisation; threads pay off only when a
  // pass is long enough to dwarf the fork and join.
  const bool parallel = threads > 1 && n * d >= kMinParallelSeedingFloats;

  idx_t pick = static_cast<idx_t>(rng.bounded(static_cast<std::uint64_t>(n)));
  for (int s = 0; s < k; ++s) {
    float* c = centroids + static_cast<idx_t>(s) * d;
    std::copy_n(x + pick * d, d, c);
    if (s == k - 1) break;
    const float c_norm = row_norms[static_cast<std::size_t>(pick)];
    // The seed's own row is exactly at distance 0 (the expanded form could leave a residue).
    dmin[static_cast<std::size_t>(pick)] = 0.0f;
    owner[static_cast<std::size_t>(pick)] = s;
    seed_dist[static_cast<std::size_t>(s)] = 0.0f;
    for (int j = 0; j < s; ++j)
      seed_dist[static_cast<std::size_t>(j)] = l2_sq(c, centroids + static_cast<idx_t>(j) * d, d);

#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (parallel)
    for (idx_t b = 0; b < n_blocks; ++b) {
      float* prod = products[static_cast<std::size_t>(omp_get_thread_num())].data();
      const idx_t i0 = b * kBlockRows;
      const idx_t end = std::min(n, i0 + kBlockRows);
      auto needs = [&](idx_t i) {
        const int a = owner[static_cast<std::size_t>(i)];
        return a < 0 ||
               seed_dist[static_cast<std::size_t>(a)] < 4.0f * dmin[static_cast<std::size_t>(i)];
      };
      for (idx_t i = i0; i < end;) {
        if (!needs(i)) {
          ++i;
          continue;
        }
        idx_t run = i + 1;
        while (run < end && needs(run)) ++run;
        small_batch_products(c, 1, x + i * d, run - i, d, -2.0f, prod, run - i);
        for (idx_t r = i; r < run; ++r) {
          const std::size_t ur = static_cast<std::size_t>(r);
          const float dist = score_of<Metric::L2>(prod[r - i], row_norms[ur], c_norm);
          if (dist < dmin[ur]) {
            dmin[ur] = dist;
            owner[ur] = s;
          }
        }
        i = run;
      }
      double sum = 0.0;
      for (idx_t i = i0; i < end; ++i) sum += dmin[static_cast<std::size_t>(i)];
      block_sum[static_cast<std::size_t>(b)] = sum;
    }

    double total = 0.0;
    for (double v : block_sum) total += v;
    if (!(total > 0.0)) {
      // Every row coincides with a seed (the data has fewer than k distinct rows).
      pick = static_cast<idx_t>(rng.bounded(static_cast<std::uint64_t>(n)));
      continue;
    }
    const double target = rng.uniform() * total;
    // The block holding the target (or, should rounding overshoot, the last block with weight).
    idx_t chosen = -1;
    double before_chosen = 0.0, before = 0.0;
    for (idx_t b = 0; b < n_blocks; ++b) {
      const double w = block_sum[static_cast<std::size_t>(b)];
      if (w > 0.0) {
        chosen = b;
        before_chosen = before;
        if (before + w > target) break;
      }
      before += w;
    }
    double cum = before_chosen;
    idx_t last = -1;
    pick = -1;
    for (idx_t i = chosen * kBlockRows, end = std::min(n, (chosen + 1) * kBlockRows); i < end;
         ++i) {
      const float w = dmin[static_cast<std::size_t>(i)];
      if (!(w > 0.0f)) continue;
      last = i;
      cum += w;
      if (cum > target) {
        pick = i;
        break;
      }
    }
    if (pick < 0) pick = last;
  }
}

// Nearest centroid of every row, over fixed blocks of rows each searched by one thread.
void assign_blocked(idx_t n, const float* x, int d, const float* centroids, const float* norms,
                    int k, Metric metric, idx_t* labels, float* distances, int threads) {
  const FlatSearchParams params = flat_search_params(1);
  const idx_t n_blocks = block_count(n);
  detail::ParallelErrors errors;
#pragma omp parallel num_threads(threads)
  {
    // BLAS runs on the calling thread alone here, also in a team of one (which OpenMP does not
    // count as parallel, so the OpenMP build of OpenBLAS would otherwise start its own threads
    // and, splitting the product differently, round differently).
    omp_set_num_threads(1);
#pragma omp for schedule(dynamic, 1)
    for (idx_t b = 0; b < n_blocks; ++b) {
      errors.run([&] {
        const idx_t i0 = b * kBlockRows;
        const idx_t len = std::min(kBlockRows, n - i0);
        flat_search(centroids, norms, k, d, metric, x + i0 * d, len, 1, distances + i0, labels + i0,
                    params);
      });
    }
  }
  errors.rethrow("k-means assignment");
}

// Sum of v[0..n) in double, in a fixed order.
double blocked_sum(idx_t n, const float* v, int threads) {
  const idx_t n_blocks = block_count(n);
  std::vector<double> partial(static_cast<std::size_t>(n_blocks));
#pragma omp parallel for schedule(static) num_threads(threads)
  for (idx_t b = 0; b < n_blocks; ++b) {
    double s = 0.0;
    for (idx_t i = b * kBlockRows, end = std::min(n, (b + 1) * kBlockRows); i < end; ++i) s += v[i];
    partial[static_cast<std::size_t>(b)] = s;
  }
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

// The rows of every cluster: cluster c holds rows[begin[c] .. begin[c] + count[c]), ascending
// until a split reorders them.
struct Clusters {
  std::vector<idx_t> rows;
  std::vector<idx_t> begin;
  std::vector<idx_t> count;

  void group(idx_t n, const idx_t* labels, int k) {
    count.assign(static_cast<std::size_t>(k), 0);
    for (idx_t i = 0; i < n; ++i) ++count[static_cast<std::size_t>(labels[i])];
    begin.resize(static_cast<std::size_t>(k));
    idx_t offset = 0;
    for (int c = 0; c < k; ++c) {
      begin[static_cast<std::size_t>(c)] = offset;
      offset += count[static_cast<std::size_t>(c)];
    }
    rows.resize(static_cast<std::size_t>(n));
    std::vector<idx_t> next = begin;
    for (idx_t i = 0; i < n; ++i)
      rows[static_cast<std::size_t>(next[static_cast<std::size_t>(labels[i])]++)] = i;
  }
};

// out = mean of the given rows, summed in double in row order; acc has d entries.
void mean_of(const float* x, int d, const idx_t* rows, idx_t count, double* acc, float* out) {
  std::fill(acc, acc + d, 0.0);
  for (idx_t r = 0; r < count; ++r) {
    const float* v = x + rows[r] * d;
    for (int j = 0; j < d; ++j) acc[j] += v[j];
  }
  const double inv = 1.0 / static_cast<double>(count);
  for (int j = 0; j < d; ++j) out[j] = static_cast<float>(acc[j] * inv);
}

void update_centroids(const float* x, int d, int k, const Clusters& cl, float* centroids,
                      int threads) {
  // Accumulators allocated here, so that a failure throws outside the parallel region.
  std::vector<std::vector<double>> accs(static_cast<std::size_t>(threads),
                                        std::vector<double>(static_cast<std::size_t>(d)));
#pragma omp parallel num_threads(threads)
  {
    double* acc = accs[static_cast<std::size_t>(omp_get_thread_num())].data();
#pragma omp for schedule(dynamic, 8)
    for (int c = 0; c < k; ++c) {
      const idx_t cnt = cl.count[static_cast<std::size_t>(c)];
      if (cnt == 0) continue;  // empty: split_empty_clusters gives it a new centroid
      mean_of(x, d, cl.rows.data() + cl.begin[static_cast<std::size_t>(c)], cnt, acc,
              centroids + static_cast<idx_t>(c) * d);
    }
  }
}

// Every empty cluster takes over part of the largest splittable cluster, as FAISS does: that
// centroid is copied, the two copies are pushed apart by a relative kSplitEps in opposite
// directions, its rows go to the nearer copy, and both copies become the means of their rows
// (which never raises the objective). A cluster whose rows all fall on one side (e.g. identical
// rows) cannot be split; an empty cluster with nothing left to split keeps its centroid.
void split_empty_clusters(const float* x, int d, int k, Metric metric, float* centroids,
                          Clusters& cl) {
  // Largest first; equal sizes by smaller index.
  using Entry = std::pair<idx_t, int>;  // (count, -cluster)
  std::priority_queue<Entry> heap;
  bool any_empty = false;
  for (int c = 0; c < k; ++c) {
    const idx_t cnt = cl.count[static_cast<std::size_t>(c)];
    if (cnt >= 2) heap.emplace(cnt, -c);
    any_empty = any_empty || cnt == 0;
  }
  if (!any_empty) return;

  std::vector<float> old_empty(static_cast<std::size_t>(d)), old_big(static_cast<std::size_t>(d));
  std::vector<double> acc(static_cast<std::size_t>(d));
  for (int ci = 0; ci < k; ++ci) {
    if (cl.count[static_cast<std::size_t>(ci)] != 0) continue;
    float* a = centroids + static_cast<idx_t>(ci) * d;
    std::copy_n(a, d, old_empty.data());
    bool split = false;
    while (!heap.empty() && !split) {
      const int cj = -heap.top().second;
      const idx_t cnt = heap.top().first;
      heap.pop();
      float* b = centroids + static_cast<idx_t>(cj) * d;
      std::copy_n(b, d, old_big.data());
      for (int j = 0; j < d; ++j) {
        const float up = old_big[static_cast<std::size_t>(j)] * (1.0f + kSplitEps);
        const float down = old_big[static_cast<std::size_t>(j)] * (1.0f - kSplitEps);
        a[j] = j % 2 == 0 ? up : down;
        b[j] = j % 2 == 0 ? down : up;
      }
      idx_t* rows = cl.rows.data() + cl.begin[static_cast<std::size_t>(cj)];
      // Rows that stay with cj come first; the order within each part is kept.
      idx_t* mid = detail::dispatch_metric(metric, [&](auto m) {
        return std::stable_partition(rows, rows + cnt, [&](idx_t r) {
          return !nearer<decltype(m)::value>(x + r * d, a, b, d);
        });
      });
      const idx_t stay = mid - rows;
      if (stay == 0 || stay == cnt) {  // nothing moved (or everything): not splittable this way
        std::copy_n(old_big.data(), d, b);
        continue;
      }
      mean_of(x, d, rows, stay, acc.data(), b);
      mean_of(x, d, mid, cnt - stay, acc.data(), a);
      cl.begin[static_cast<std::size_t>(ci)] = cl.begin[static_cast<std::size_t>(cj)] + stay;
      cl.count[static_cast<std::size_t>(ci)] = cnt - stay;
      cl.count[static_cast<std::size_t>(cj)] = stay;
      if (stay >= 2) heap.emplace(stay, -cj);
      if (cnt - stay >= 2) heap.emplace(cnt - stay, -ci);
      split = true;
    }
    if (!split) std::copy_n(old_empty.data(), d, a);
  }
}

class KMeansCpu final : public detail::KMeansBackend {
 public:
  KMeansResult train(idx_t n, const float* x, int d, int k, Metric metric,
                     const KMeansParams& params,
                     const std::function<void(int, double)>& on_iteration) override {
    const int threads = thread_count_for(n, d, k);
    KMeansResult result;
    result.centroids.resize(static_cast<std::size_t>(k) * static_cast<std::size_t>(d));
    float* c = result.centroids.data();
    if (params.init == KMeansParams::Init::Random) {
      seed_random(n, x, d, k, params.seed, c);
    } else {
      const idx_t limit = static_cast<idx_t>(k) * params.init_points_per_centroid;
      if (limit > 0 && n > limit) {
        // D² sampling over a random subset of the rows; the Lloyd iterations then use them all.
        detail::Rng rng(detail::derive_seed(detail::kKMeansSeedDomain, params.seed,
                                            detail::kKMeansInitStream, 1));
        const std::vector<idx_t> rows = detail::sample_without_replacement(n, limit, rng);
        std::vector<float> subset(static_cast<std::size_t>(limit) * static_cast<std::size_t>(d));
        for (std::size_t r = 0; r < rows.size(); ++r) {
          std::copy_n(x + rows[r] * d, d, subset.data() + r * static_cast<std::size_t>(d));
        }
        seed_kmeans_pp(limit, subset.data(), d, k, params.seed, c, threads);
      } else {
        seed_kmeans_pp(n, x, d, k, params.seed, c, threads);
      }
    }
    if (params.spherical) normalise_rows(k, d, c);

    std::vector<idx_t> labels(static_cast<std::size_t>(n));
    std::vector<float> distances(static_cast<std::size_t>(n));
    std::vector<float> norms(static_cast<std::size_t>(k));
    Clusters clusters;
    result.objective.reserve(static_cast<std::size_t>(params.n_iter));
    for (int it = 0; it < params.n_iter; ++it) {
      if (metric == Metric::L2) row_norms_sq(k, d, c, norms.data());
      assign_blocked(n, x, d, c, norms.data(), k, metric, labels.data(), distances.data(), threads);
      const double objective = blocked_sum(n, distances.data(), threads);
      clusters.group(n, labels.data(), k);
      update_centroids(x, d, k, clusters, c, threads);
      split_empty_clusters(x, d, k, metric, c, clusters);
      if (params.spherical) normalise_rows(k, d, c);
      result.objective.push_back(objective);
      if (on_iteration) on_iteration(it, objective);
    }
    return result;
  }

  void assign(idx_t n, const float* x, int d, const float* centroids, int k, Metric metric,
              idx_t* labels, float* distances) const override {
    std::vector<float> norms(static_cast<std::size_t>(k));
    if (metric == Metric::L2) row_norms_sq(k, d, centroids, norms.data());
    nearest_centroids(n, x, d, centroids, norms.data(), k, metric, labels, distances);
  }
};

}  // namespace

void nearest_centroids(idx_t n, const float* x, int dim, const float* centroids,
                       const float* centroid_norms, int k, Metric metric, idx_t* labels,
                       float* distances) {
  std::vector<float> scratch;
  if (distances == nullptr) {
    scratch.resize(static_cast<std::size_t>(n));
    distances = scratch.data();
  }
  flat_search(centroids, centroid_norms, k, dim, metric, x, n, 1, distances, labels,
              flat_search_params(config().num_threads));
}

std::unique_ptr<detail::KMeansBackend> make_kmeans_backend() {
  return std::make_unique<KMeansCpu>();
}

}  // namespace knnx::cpu

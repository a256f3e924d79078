// IndexShards: global ids over sub-indexes on several devices; balanced adds, parallel searches
// and a (distance, label) merge of the shards' top-k lists, on the first device when every shard
// is a GPU one and on the host otherwise.
#include "knnx/index_shards.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/backend.hpp"
#include "core/check.hpp"
#include "core/id_set.hpp"
#include "index/shard_merge_host.hpp"
#include "index/sub_indexes.hpp"
#include "knnx/error.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_ivf_flat.hpp"

namespace knnx {

using detail::require;

struct IndexShards::GpuMerge {
  std::unique_ptr<detail::ShardMerger> merger;
};

IndexShards::IndexShards(int dim, std::string_view spec, std::vector<Device> devices, Metric metric,
                         ShardOptions options)
    : IndexShards(dim, metric, std::move(devices), detail::spec_factory(dim, spec, metric),
                  options) {}

IndexShards::IndexShards(int dim, Metric metric, std::vector<Device> devices,
                         const SubIndexFactory& factory, ShardOptions options)
    : Index(dim, metric),
      subs_(
          std::make_unique<detail::SubIndexes>(dim, metric, std::move(devices), factory, "shard")),
      ids_(std::make_unique<detail::IdSet>()) {
  init_gather(options);
}

IndexShards::IndexShards(const Index& source, std::vector<Device> devices, ShardOptions options)
    : Index(source.dim(), source.metric()), ids_(std::make_unique<detail::IdSet>()) {
  const detail::IndexContents contents = detail::read_contents(source);
  subs_ = std::make_unique<detail::SubIndexes>(dim(), metric(), std::move(devices),
                                               detail::contents_factory(dim(), metric(), contents),
                                               "shard");
  init_gather(options);
  if (!contents.ids.empty()) {
    check_new_ids(static_cast<idx_t>(contents.ids.size()), contents.ids.data());
    do_add(static_cast<idx_t>(contents.ids.size()), contents.vectors.data(), contents.ids.data());
  }
}

IndexShards::~IndexShards() = default;

void IndexShards::init_gather(ShardOptions options) {
  if (options.gather == ShardGather::Nccl && !nccl_compiled()) {
    throw NotSupported("ShardGather::Nccl requested, but this build of knnx has no NCCL");
  }
  if (!subs_->all_cuda()) return;  // mixed or host shards: merged on the host
  std::vector<int> ordinals;
  for (const Device& d : subs_->devices()) ordinals.push_back(d.ordinal);
  const bool nccl = options.gather == ShardGather::Nccl ||
                    (options.gather == ShardGather::Auto && nccl_compiled());
  auto merger =
      detail::backend_for(subs_->devices().front()).make_shard_merger(std::move(ordinals), nccl);
  if (!merger) return;
  gpu_ = std::make_unique<GpuMerge>();
  gpu_->merger = std::move(merger);
}

Device IndexShards::device() const { return subs_->devices().front(); }

idx_t IndexShards::ntotal() const {
  idx_t total = 0;
  for (int i = 0; i < subs_->size(); ++i) total += (*subs_)[i].ntotal();
  return total;
}

bool IndexShards::is_trained() const { return subs_->is_trained(); }

int IndexShards::n_shards() const { return subs_->size(); }

const std::vector<Device>& IndexShards::devices() const { return subs_->devices(); }

Index& IndexShards::shard(int i) { return subs_->at(i); }

const Index& IndexShards::shard(int i) const { return subs_->at(i); }

std::vector<idx_t> IndexShards::shard_sizes() const {
  std::vector<idx_t> sizes;
  for (int i = 0; i < subs_->size(); ++i) sizes.push_back((*subs_)[i].ntotal());
  return sizes;
}

void IndexShards::set_n_probe(int n_probe) { subs_->set_n_probe(n_probe); }

int IndexShards::n_probe() const { return subs_->n_probe(); }

const char* IndexShards::gather_method() const {
  return gpu_ ? gpu_->merger->gather_method() : "host";
}

std::unique_ptr<Index> IndexShards::merged(Device device) const {
  const detail::IndexContents first = detail::read_contents((*subs_)[0]);
  std::unique_ptr<Index> out = detail::contents_factory(dim(), metric(), first)(device);
  for (int i = 0; i < subs_->size(); ++i) {
    const detail::IndexContents c = i == 0 ? first : detail::read_contents((*subs_)[i]);
    if (!c.ids.empty()) {
      out->add_with_ids(static_cast<idx_t>(c.ids.size()), c.vectors.data(), c.ids.data());
    }
  }
  return out;
}

void IndexShards::do_train(idx_t n, const float* x) { subs_->train(n, x); }

void IndexShards::do_add(idx_t n, const float* x, const idx_t* ids) {
  // Contiguous blocks that bring every shard as close as possible to the balanced size of the
  // new total: shard i receives max(0, target_i - size_i), taken greedily in shard order.
  const int s = subs_->size();
  const std::vector<idx_t> sizes = shard_sizes();
  idx_t total = n;
  for (idx_t v : sizes) total += v;
  std::vector<idx_t> first(static_cast<std::size_t>(s) + 1, 0);
  idx_t left = n;
  for (int i = 0; i < s; ++i) {
    const idx_t target = total / s + (i < total % s ? 1 : 0);
    const idx_t take =
        std::min(left, std::max<idx_t>(0, target - sizes[static_cast<std::size_t>(i)]));
    first[static_cast<std::size_t>(i) + 1] = first[static_cast<std::size_t>(i)] + take;
    left -= take;
  }
  first[static_cast<std::size_t>(s)] += left;  // never happens: the deficits add up to >= n

  const detail::IdSet::Mark mark = ids_->mark();
  ids_->insert(n, ids);
  std::vector<int> busy;
  for (int i = 0; i < s; ++i) {
    if (first[static_cast<std::size_t>(i) + 1] > first[static_cast<std::size_t>(i)])
      busy.push_back(i);
  }
  std::vector<char> done(static_cast<std::size_t>(s), 0);
  try {
    subs_->workers().run_on(busy, [&](int i) {
      const idx_t a = first[static_cast<std::size_t>(i)];
      const idx_t count = first[static_cast<std::size_t>(i) + 1] - a;
      (*subs_)[i].add_with_ids(count, x + a * dim(), ids + a);
      done[static_cast<std::size_t>(i)] = 1;
    });
  } catch (...) {
    // Take the blocks that went in out again, so the index is as it was.
    for (int i : busy) {
      if (!done[static_cast<std::size_t>(i)]) continue;
      const idx_t a = first[static_cast<std::size_t>(i)];
      try {
        (*subs_)[i].remove_ids(first[static_cast<std::size_t>(i) + 1] - a, ids + a);
      } catch (...) {
      }
    }
    ids_->revert_insert(n, ids, mark);
    throw;
  }
}

void IndexShards::check_search_params(const SearchParams& params) const {
  for (int i = 0; i < subs_->size(); ++i) (*subs_)[i].validate_search_params(params);
}

void IndexShards::do_search(idx_t nq, const float* queries, int k, float* distances, idx_t* labels,
                            const SearchParams* params) const {
  detail::SubIndexes::require_host(distances, "distances");
  detail::SubIndexes::require_host(labels, "labels");
  const int s = subs_->size();
  if (gpu_) {
    gpu_->merger->search(
        nq, k, metric(),
        [&](const std::function<void(int)>& task) { subs_->workers().run_all(task); },
        [&](int i, idx_t q0, idx_t bq, float* d, std::int64_t* l) {
          (*subs_)[i].search(bq, queries + q0 * dim(), k, d, l, params);
        },
        distances, labels);
    return;
  }
  if (s == 1) {
    (*subs_)[0].search(nq, queries, k, distances, labels, params);
    return;
  }
  const std::size_t slot = detail::checked_elements(nq, k, "labels");
  std::vector<float> all_d(slot * s);
  std::vector<idx_t> all_l(slot * s);
  subs_->workers().run_all([&](int i) {
    (*subs_)[i].search(nq, queries, k, all_d.data() + slot * i, all_l.data() + slot * i, params);
  });
  detail::merge_shard_results(s, nq, k, metric(), all_d.data(), all_l.data(), distances, labels);
}

idx_t IndexShards::do_remove_ids(idx_t n, const idx_t* ids) {
  const std::vector<idx_t> removed = subs_->remove_ids(*ids_, n, ids);
  return std::accumulate(removed.begin(), removed.end(), idx_t{0});
}

void IndexShards::do_reconstruct(idx_t id, float* out) const {
  require(ids_->contains(id), "id {} is not stored in the index", id);
  for (int i = 0; i < subs_->size(); ++i) {
    try {
      (*subs_)[i].reconstruct(id, out);
      return;
    } catch (const InvalidArgument&) {
      // not on this shard
    }
  }
  require(false, "id {} is not stored in the index", id);
}

void IndexShards::do_reset() {
  subs_->workers().run_all([&](int i) { (*subs_)[i].reset(); });
  ids_->clear();
}

void IndexShards::check_new_ids(idx_t n, const idx_t* ids) const { ids_->check_new(n, ids); }

idx_t IndexShards::next_sequential_id() const { return ids_->next_id(); }

std::function<void()> IndexShards::next_id_restorer() {
  std::vector<Index*> held;
  for (int i = 0; i < subs_->size(); ++i) held.push_back(&(*subs_)[i]);
  return next_id_restorer_with(
      [ids = ids_.get(), next = ids_->next_id()] { ids->rewind_next_id(next); }, held);
}

void IndexShards::check_finite(idx_t n, const float* x, const char* what) const {
  detail::SubIndexes::require_host(x, what);
  Index::check_finite(n, x, what);
}

}  // namespace knnx

#include "index/sub_indexes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <typeinfo>

#include "core/backend.hpp"
#include "core/check.hpp"
#include "knnx/error.hpp"
#include "knnx/index_factory.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_ivf_flat.hpp"

namespace knnx::detail {

namespace {
constexpr int kMaxSubIndexes = 1024;
}  // namespace

IndexContents read_contents(const Index& index) {
  IndexContents c;
  if (const auto* flat = dynamic_cast<const IndexFlat*>(&index)) {
    c.vectors = flat->vectors();
    c.ids = flat->ids();
    return c;
  }
  if (const auto* ivf = dynamic_cast<const IndexIVFFlat*>(&index)) {
    c.ivf = true;
    c.n_lists = ivf->n_lists();
    c.n_probe = ivf->n_probe();
    c.trained = ivf->is_trained();
    c.kmeans = ivf->kmeans_params();
    if (c.trained) c.centroids = ivf->centroids();
    const std::size_t total = static_cast<std::size_t>(ivf->ntotal());
    c.ids.reserve(total);
    c.vectors.reserve(total * static_cast<std::size_t>(index.dim()));
    for (int l = 0; l < c.n_lists; ++l) {
      const std::vector<idx_t> ids = ivf->list_ids(l);
      if (ids.empty()) continue;
      const std::vector<float> v = ivf->list_vectors(l);
      c.ids.insert(c.ids.end(), ids.begin(), ids.end());
      c.vectors.insert(c.vectors.end(), v.begin(), v.end());
    }
    return c;
  }
  throw NotSupported(
      "only IndexFlat and IndexIVFFlat can be split over or copied to several devices");
}

SubIndexFactory contents_factory(int dim, Metric metric, const IndexContents& contents) {
  if (!contents.ivf) {
    return
        [dim, metric](Device device) { return std::make_unique<IndexFlat>(dim, metric, device); };
  }
  // The factory outlives this call only as long as the caller keeps `contents` alive.
  const IndexContents* c = &contents;
  return [dim, metric, c](Device device) {
    auto ivf = std::make_unique<IndexIVFFlat>(dim, c->n_lists, metric, device);
    ivf->set_kmeans_params(c->kmeans);
    ivf->set_n_probe(c->n_probe);
    if (c->trained) ivf->set_centroids(c->centroids.data());
    return std::unique_ptr<Index>(std::move(ivf));
  };
}

SubIndexFactory spec_factory(int dim, std::string_view spec, Metric metric) {
  const IndexSpec parsed = parse_index_spec(spec);
  return
      [dim, parsed, metric](Device device) { return index_factory(dim, parsed, metric, device); };
}

SubIndexes::SubIndexes(int dim, Metric metric, std::vector<Device> devices,
                       const SubIndexFactory& factory, const char* role)
    : role_(role), devices_(std::move(devices)) {
  require(!devices_.empty(), "devices must not be empty: a multi-device index needs at least one");
  require(static_cast<int>(devices_.size()) <= kMaxSubIndexes, "devices: at most {} {}s, got {}",
          kMaxSubIndexes, role_, devices_.size());
  require(static_cast<bool>(factory), "factory must not be empty");
  for (const Device& d : devices_) {
    require(d.ordinal >= 0, "device {}: negative ordinal", d.to_string());
  }
  subs_.reserve(devices_.size());
  for (std::size_t i = 0; i < devices_.size(); ++i) {
    std::unique_ptr<Index> sub = factory(devices_[i]);
    require(sub != nullptr, "the factory returned no index for {} {} ({})", role_, i,
            devices_[i].to_string());
    require(sub->dim() == dim, "{} {} has dim {}, expected {}", role_, i, sub->dim(), dim);
    require(sub->metric() == metric, "{} {} has metric {}, expected {}", role_, i,
            to_string(sub->metric()), to_string(metric));
    require(sub->device() == devices_[i], "{} {} is on {}, expected {}", role_, i,
            sub->device().to_string(), devices_[i].to_string());
    require(sub->ntotal() == 0, "{} {} must be empty, but holds {} vectors", role_, i,
            sub->ntotal());
    if (!subs_.empty()) {
      const Index& first = *subs_.front();
      const Index& added = *sub;
      require(typeid(added) == typeid(first), "{} {} is not of the same index type as {} 0", role_,
              i, role_);
    }
    subs_.push_back(std::move(sub));
  }
  ivf_ = dynamic_cast<IndexIVFFlat*>(subs_.front().get()) != nullptr;
  if (ivf_) {
    const auto& first = static_cast<const IndexIVFFlat&>(*subs_.front());
    for (std::size_t i = 1; i < subs_.size(); ++i) {
      const auto& other = static_cast<const IndexIVFFlat&>(*subs_[i]);
      require(other.n_lists() == first.n_lists(), "{} {} has {} lists, {} 0 has {}", role_, i,
              other.n_lists(), role_, first.n_lists());
    }
  }
  workers_ = std::make_unique<DeviceWorkers>(size());
}

Index& SubIndexes::at(int i) {
  require(i >= 0 && i < size(), "{} {} out of range [0, {})", role_, i, size());
  return (*this)[i];
}

const Index& SubIndexes::at(int i) const {
  require(i >= 0 && i < size(), "{} {} out of range [0, {})", role_, i, size());
  return (*this)[i];
}

bool SubIndexes::all_cuda() const {
  for (const Device& d : devices_) {
    if (!d.is_cuda()) return false;
  }
  return true;
}

bool SubIndexes::is_trained() const {
  for (const auto& s : subs_) {
    if (!s->is_trained()) return false;
  }
  return true;
}

void SubIndexes::train(idx_t n, const float* x) {
  if (!ivf_) {
    workers_->run_all([&](int i) { (*this)[i].train(n, x); });
    return;
  }
  for (int i = 0; i < size(); ++i) {
    require((*this)[i].ntotal() == 0,
            "train needs an empty index, but {} {} holds {} vectors; reset() first", role_, i,
            (*this)[i].ntotal());
  }
  subs_.front()->train(n, x);
  const std::vector<float> centroids = static_cast<IndexIVFFlat&>(*subs_.front()).centroids();
  for (int i = 1; i < size(); ++i) {
    static_cast<IndexIVFFlat&>((*this)[i]).set_centroids(centroids.data());
  }
}

std::vector<idx_t> SubIndexes::remove_ids(IdSet& stored, idx_t n, const idx_t* ids) {
  std::vector<idx_t> removed(subs_.size(), 0);
  std::vector<idx_t> present;
  for (idx_t i = 0; i < n; ++i) {
    if (stored.contains(ids[i])) present.push_back(ids[i]);
  }
  std::sort(present.begin(), present.end());
  present.erase(std::unique(present.begin(), present.end()), present.end());
  if (present.empty()) return removed;
  IdSet::Erasure erasure = stored.prepare_erase(present);
  const idx_t count = static_cast<idx_t>(present.size());
  workers_->run_all([&](int i) {
    removed[static_cast<std::size_t>(i)] =
        subs_[static_cast<std::size_t>(i)]->remove_ids(count, present.data());
  });
  stored.commit_erase(erasure);
  return removed;
}

void SubIndexes::set_n_probe(int n_probe) {
  if (!ivf_) throw NotSupported(fmt::format("n_probe applies to IVF {}s only", role_));
  require(n_probe >= 1, "n_probe must be >= 1, got {}", n_probe);
  for (auto& s : subs_) static_cast<IndexIVFFlat&>(*s).set_n_probe(n_probe);
}

int SubIndexes::n_probe() const {
  if (!ivf_) throw NotSupported(fmt::format("n_probe applies to IVF {}s only", role_));
  return static_cast<const IndexIVFFlat&>(*subs_.front()).n_probe();
}

void SubIndexes::require_host(const void* p, const char* what) {
  require(!is_device_pointer(p), "{} is device memory; multi-device indexes take host arrays",
          what);
}

}  // namespace knnx::detail

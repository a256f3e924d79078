// soak — mixed concurrent add / search / remove / reconstruct / save / load on one index from
// many threads for a given time, checked against a model of what the index must hold.
//
// Every vector is a function of its id (vector_of), so any index — the live one or one loaded
// from a file another thread saved — can be checked on its own: its ids must be ids that were
// added, and each must reconstruct to exactly its vector. The live index is also checked
// against the model (the set of ids it must hold), which is changed together with the index
// under one lock: writers (add, remove) take it exclusively, the rest shared. Saves to a
// thread's own file are compared with the model at save time; saves to one shared file race
// each other on purpose (atomic replacement) and loads of it are checked on their own.
//
//   soak --seconds 600 --device cpu        (bench/soak.sh runs it on CPU and, if present, GPU)
//
// Prints one JSON object: operations by kind, errors (wrong or lost results, exceptions).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "knnx/device.hpp"
#include "knnx/error.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_io.hpp"
#include "knnx/index_ivf_flat.hpp"

namespace {

using knnx::idx_t;

constexpr int kDim = 16;
constexpr long long kMaxHeld = 5000;

float value_of(idx_t id, int j) {
  std::uint64_t h =
      static_cast<std::uint64_t>(id) * 0x9E3779B97F4A7C15ull + j * 0xBF58476D1CE4E5B9ull;
  h ^= h >> 31;
  h *= 0x94D049BB133111EBull;
  h ^= h >> 29;
  return static_cast<float>(h % 20001) / 1000.0f - 10.0f;  // exact in float
}

std::vector<float> vector_of(idx_t id) {
  std::vector<float> v(kDim);
  for (int j = 0; j < kDim; ++j) v[static_cast<std::size_t>(j)] = value_of(id, j);
  return v;
}

enum Op { kAdd, kSearch, kRemove, kReconstruct, kSaveOwn, kSaveShared, kLoad, kOps };
const char* const kOpNames[kOps] = {"add",      "search",      "remove", "reconstruct",
                                    "save_own", "save_shared", "load"};

struct Shared {
  std::unique_ptr<knnx::Index> index;
  std::set<idx_t> model;  // ids the index must hold
  std::shared_mutex lock;
  std::atomic<idx_t> next_id{0};
  std::atomic<long long> held{0};  // model.size(), readable without the lock
  std::string dir;
  std::atomic<long long> ops[kOps] = {};
  std::atomic<long long> errors{0};
  std::mutex log_mutex;

  void error(const std::string& what) {
    ++errors;
    std::lock_guard<std::mutex> g(log_mutex);
    if (errors <= 20) std::cerr << "soak: error: " << what << "\n";
  }
};

// Checks a loaded index on its own: ids that were added, each reconstructing to its vector.
// Returns its ids.
// The ids an index holds (IndexFlat, or IndexIVFFlat list by list).
std::vector<idx_t> ids_of(const knnx::Index& index) {
  if (const auto* flat = dynamic_cast<const knnx::IndexFlat*>(&index)) return flat->ids();
  std::vector<idx_t> ids;
  const auto& ivf = dynamic_cast<const knnx::IndexIVFFlat&>(index);
  for (int l = 0; l < ivf.n_lists(); ++l) {
    const std::vector<idx_t> list = ivf.list_ids(l);
    ids.insert(ids.end(), list.begin(), list.end());
  }
  return ids;
}

// Checks an index on its own: ntotal ids, unique, each one that was handed out, each
// reconstructing to exactly its vector. Returns its ids.
std::set<idx_t> check_self_consistent(Shared& s, const knnx::Index& index, const char* what) {
  const std::vector<idx_t> list = ids_of(index);
  const std::set<idx_t> ids(list.begin(), list.end());
  if (ids.size() != list.size() || static_cast<idx_t>(ids.size()) != index.ntotal()) {
    s.error(std::string(what) + ": ntotal " + std::to_string(index.ntotal()) + " but " +
            std::to_string(list.size()) + " ids, " + std::to_string(ids.size()) + " distinct");
  }
  const idx_t bound = s.next_id.load();
  std::vector<float> back(kDim);
  for (idx_t id : ids) {
    if (id < 0 || id >= bound) {
      s.error(std::string(what) + ": id " + std::to_string(id) + " was never added");
      continue;
    }
    index.reconstruct(id, back.data());
    if (back != vector_of(id)) {
      s.error(std::string(what) + ": id " + std::to_string(id) + " reconstructs wrong");
    }
  }
  return ids;
}

void worker(Shared& s, int t, std::chrono::steady_clock::time_point end) {
  std::mt19937_64 rng(1234 + t);
  const std::string own = s.dir + "/own_" + std::to_string(t) + ".knnx";
  const std::string shared = s.dir + "/shared.knnx";
  auto pick_id = [&](const std::set<idx_t>& ids) {
    auto it = ids.begin();
    std::advance(it, static_cast<long>(rng() % ids.size()));
    return *it;
  };
  while (std::chrono::steady_clock::now() < end) {
    const unsigned r = rng() % 100;
    // Weights: search 40, add 20, reconstruct 15, remove 10, saves 5 + 4, load 6.
    Op op = r < 40   ? kSearch
            : r < 60 ? kAdd
            : r < 75 ? kReconstruct
            : r < 85 ? kRemove
            : r < 90 ? kSaveOwn
            : r < 94 ? kSaveShared
                     : kLoad;
    // The index stays near kMaxHeld vectors, so that checks of whole files stay cheap.
    if (op == kAdd && s.held.load() > kMaxHeld) op = kRemove;
    try {
      switch (op) {
        case kAdd: {
          const idx_t n = 1 + static_cast<idx_t>(rng() % 64);
          const idx_t first = s.next_id.fetch_add(n);
          std::vector<idx_t> ids(static_cast<std::size_t>(n));
          std::vector<float> x;
          for (idx_t i = 0; i < n; ++i) {
            ids[static_cast<std::size_t>(i)] = first + i;
            const std::vector<float> v = vector_of(first + i);
            x.insert(x.end(), v.begin(), v.end());
          }
          std::unique_lock g(s.lock);
          s.index->add_with_ids(n, x.data(), ids.data());
          s.model.insert(ids.begin(), ids.end());
          s.held = static_cast<long long>(s.model.size());
          break;
        }
        case kSearch: {
          std::shared_lock g(s.lock);
          if (s.model.empty()) break;
          const idx_t id = pick_id(s.model);
          const std::vector<float> q = vector_of(id);
          std::vector<float> d(4);
          std::vector<idx_t> l(4);
          s.index->search(1, q.data(), 4, d.data(), l.data());
          // L2 through |q|^2 - 2 q.x + |x|^2 leaves a rounding residue at the query itself.
          float norm = 0.0f;
          for (float v : q) norm += v * v;
          if (l[0] != id || d[0] > 1e-5f * norm) {
            s.error("search for id " + std::to_string(id) + " found " + std::to_string(l[0]) +
                    " at " + std::to_string(d[0]));
          }
          for (idx_t label : l) {
            if (label != knnx::kNoLabel && !s.model.count(label)) {
              s.error("search returned id " + std::to_string(label) + ", which is not stored");
            }
          }
          break;
        }
        case kRemove: {
          std::unique_lock g(s.lock);
          if (s.model.empty()) break;
          std::vector<idx_t> ids;
          for (int i = 0; i < 8; ++i) ids.push_back(pick_id(s.model));
          ids.push_back(s.next_id.load() + 1000);  // absent: ignored
          std::sort(ids.begin(), ids.end());
          ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
          const idx_t removed = s.index->remove_ids(static_cast<idx_t>(ids.size()), ids.data());
          if (removed != static_cast<idx_t>(ids.size()) - 1) {
            s.error("remove_ids removed " + std::to_string(removed) + " of " +
                    std::to_string(ids.size() - 1));
          }
          for (idx_t id : ids) s.model.erase(id);
          s.held = static_cast<long long>(s.model.size());
          break;
        }
        case kReconstruct: {
          std::shared_lock g(s.lock);
          if (s.model.empty()) break;
          const idx_t id = pick_id(s.model);
          std::vector<float> back(kDim);
          s.index->reconstruct(id, back.data());
          if (back != vector_of(id)) s.error("reconstruct of id " + std::to_string(id));
          break;
        }
        case kSaveOwn: {
          std::set<idx_t> expected;
          {
            std::shared_lock g(s.lock);
            knnx::write_index(*s.index, own);
            expected = s.model;
          }
          const std::unique_ptr<knnx::Index> loaded = knnx::read_index(own);
          if (check_self_consistent(s, *loaded, "own save") != expected) {
            s.error("own save: the loaded ids differ from the model at save time");
          }
          break;
        }
        case kSaveShared: {
          std::shared_lock g(s.lock);
          knnx::write_index(*s.index, shared);
          break;
        }
        case kLoad: {
          if (!std::filesystem::exists(shared)) break;
          const std::unique_ptr<knnx::Index> loaded = knnx::read_index(shared);
          check_self_consistent(s, *loaded, "shared load");
          break;
        }
        case kOps:
          break;
      }
      ++s.ops[op];
    } catch (const std::exception& e) {
      s.error(std::string(kOpNames[op]) + " threw: " + e.what());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Concurrent add/search/remove/save/load soak test of one knnx index"};
  double seconds = 60;
  int threads = 16;
  std::string device = "cpu";
  std::string kind = "flat";
  std::string dir = std::filesystem::temp_directory_path().string();
  app.add_option("--seconds", seconds, "How long to run")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "Worker threads")->check(CLI::Range(1, 256));
  app.add_option("--device", device, "cpu or cuda[:N]");
  app.add_option("--index", kind, "flat or ivf")->check(CLI::IsMember({"flat", "ivf"}));
  app.add_option("--dir", dir, "Where the saved files go (a fresh folder is made inside)");
  CLI11_PARSE(app, argc, argv);

  Shared s;
  s.dir = dir + "/knnx_soak_" + std::to_string(::getpid());
  std::filesystem::create_directories(s.dir);
  const knnx::Device dev = knnx::Device::parse(device);
  if (kind == "flat") {
    s.index = std::make_unique<knnx::IndexFlat>(kDim, knnx::Metric::L2, dev);
  } else {
    auto ivf = std::make_unique<knnx::IndexIVFFlat>(kDim, 8, knnx::Metric::L2, dev);
    std::vector<float> train;
    for (idx_t i = 0; i < 2000; ++i) {
      const std::vector<float> v = vector_of(-i - 1);
      train.insert(train.end(), v.begin(), v.end());
    }
    ivf->train(2000, train.data());
    ivf->set_n_probe(8);  // every list: searches are exact, so the checks are
    s.index = std::move(ivf);
  }

  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(seconds));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker, std::ref(s), t, end);
  for (std::thread& th : pool) th.join();

  // Final check: the live index holds exactly the model.
  const std::set<idx_t> held = check_self_consistent(s, *s.index, "final");
  if (held != s.model) s.error("final: the index's ids differ from the model");

  nlohmann::json out;
  out["device"] = device;
  out["index"] = kind;
  out["threads"] = threads;
  out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  long long total = 0;
  for (int o = 0; o < kOps; ++o) {
    out["ops"][kOpNames[o]] = s.ops[o].load();
    total += s.ops[o].load();
  }
  out["ops_total"] = total;
  out["final_ntotal"] = s.index->ntotal();
  out["errors"] = s.errors.load();
  std::cout << out.dump() << "\n";
  std::filesystem::remove_all(s.dir);
  return s.errors.load() == 0 ? 0 : 1;
}

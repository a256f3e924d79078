// Tests for src/core: metric names, device specs, config knobs, IdMap and argument checks.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/check.hpp"
#include "core/id_map.hpp"
#include "knnx/config.hpp"
#include "knnx/device.hpp"
#include "knnx/error.hpp"
#include "knnx/metric.hpp"

namespace knnx {
namespace {

::testing::AssertionResult has_substr(const std::string& text, std::string_view part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

// The message of the E that f throws (a failure, and "", when it throws nothing).
template <typename E, typename F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected exception was not thrown";
  return {};
}

// ------------------------------------------------------------------------------------------
// Metric

TEST(Metric, ParsesEverySpellingCaseInsensitively) {
  for (const char* name : {"l2", "L2", "euclidean", "Euclidean", "sqeuclidean", "SQEUCLIDEAN"}) {
    EXPECT_EQ(parse_metric(name), Metric::L2) << name;
  }
  for (const char* name :
       {"ip", "IP", "inner_product", "Inner_Product", "innerproduct", "dot", "DOT"}) {
    EXPECT_EQ(parse_metric(name), Metric::InnerProduct) << name;
  }
}

TEST(Metric, RejectsUnknownNamesNamingThem) {
  for (const char* name : {"", "l1", "cosine", "l2 ", " ip", "inner product", "hamming"}) {
    const std::string msg = message_of<InvalidArgument>([&] { parse_metric(name); });
    EXPECT_TRUE(has_substr(msg, std::string("\"") + name + "\"")) << name;
  }
}

TEST(Metric, ToStringRoundTripsAndEmptyDistances) {
  EXPECT_EQ(to_string(Metric::L2), "l2");
  EXPECT_EQ(to_string(Metric::InnerProduct), "ip");
  for (Metric m : {Metric::L2, Metric::InnerProduct}) EXPECT_EQ(parse_metric(to_string(m)), m);

  EXPECT_EQ(empty_distance(Metric::L2), std::numeric_limits<float>::infinity());
  EXPECT_EQ(empty_distance(Metric::InnerProduct), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(is_better(Metric::L2, 1.0f, 2.0f));
  EXPECT_FALSE(is_better(Metric::L2, 2.0f, 1.0f));
  EXPECT_FALSE(is_better(Metric::L2, 1.0f, 1.0f));
  EXPECT_TRUE(is_better(Metric::InnerProduct, 2.0f, 1.0f));
  EXPECT_FALSE(is_better(Metric::InnerProduct, 1.0f, 2.0f));
  // Every real result beats an empty slot.
  EXPECT_TRUE(is_better(Metric::L2, 1e30f, empty_distance(Metric::L2)));
  EXPECT_TRUE(is_better(Metric::InnerProduct, -1e30f, empty_distance(Metric::InnerProduct)));
}

// ------------------------------------------------------------------------------------------
// Device

TEST(Device, ParsesGoodSpecs) {
  EXPECT_EQ(Device::parse("cpu"), Device::cpu());
  EXPECT_EQ(Device::parse("cuda"), Device::cuda(0));
  EXPECT_EQ(Device::parse("gpu"), Device::cuda(0));
  EXPECT_EQ(Device::parse("cuda:0"), Device::cuda(0));
  EXPECT_EQ(Device::parse("cuda:3"), Device::cuda(3));
  EXPECT_EQ(Device::parse("gpu:7"), Device::cuda(7));
  EXPECT_EQ(Device::parse("cuda:12"), Device::cuda(12));
  EXPECT_TRUE(Device::parse("cpu").is_cpu());
  EXPECT_FALSE(Device::parse("cpu").is_cuda());
  EXPECT_TRUE(Device::parse("gpu:1").is_cuda());
  EXPECT_EQ(Device::parse("gpu:1").ordinal, 1);
}

TEST(Device, RejectsBadSpecsNamingThem) {
  for (const char* spec :
       {"", "CPU", "Cuda", "cuda:", "cuda:-1", "cuda:x", "cuda:1x", "cuda:+1", "cuda0", "gpu1",
        "tpu", "cpu:0", " cuda", "cuda ", "cuda:1:2", "cuda:99999999999", "gpu:"}) {
    const std::string msg = message_of<InvalidArgument>([&] { Device::parse(spec); });
    EXPECT_TRUE(has_substr(msg, std::string("\"") + spec + "\"")) << spec;
  }
}

TEST(Device, ToStringRoundTrips) {
  EXPECT_EQ(Device::cpu().to_string(), "cpu");
  EXPECT_EQ(Device::cuda(2).to_string(), "cuda:2");
  for (const Device& d : {Device::cpu(), Device::cuda(0), Device::cuda(5)}) {
    EXPECT_EQ(Device::parse(d.to_string()), d);
  }
  EXPECT_NE(Device::cpu(), Device::cuda(0));
  EXPECT_NE(Device::cuda(0), Device::cuda(1));
}

TEST(Device, CudaQueriesNeverThrow) {
  int count = -1;
  EXPECT_NO_THROW(count = cuda_device_count());
  EXPECT_GE(count, 0);
  if (!cuda_backend_compiled()) EXPECT_EQ(count, 0);
  // Ordinals that name no device give an empty name.
  EXPECT_EQ(cuda_device_name(count), "");
  EXPECT_EQ(cuda_device_name(-1), "");
  if (count > 0) EXPECT_FALSE(cuda_device_name(0).empty());
}

// ------------------------------------------------------------------------------------------
// Config knobs

// The integer knobs with their defaults and accepted ranges.
struct IntKnob {
  const char* name;
  int Config::*field;
  int default_value;
  int lo;
  int hi;
};
const IntKnob kIntKnobs[] = {
    {"KNNX_NUM_THREADS", &Config::num_threads, 0, 0, 4096},
    {"KNNX_CPU_QUERY_BLOCK", &Config::cpu_query_block, 1024, 1, 1 << 14},
    {"KNNX_CPU_BASE_BLOCK", &Config::cpu_base_block, 1024, 16, 1 << 14},
    {"KNNX_CPU_DIRECT_MAX_NQ", &Config::cpu_direct_max_nq, 0, 0, 64},
    {"KNNX_GPU_WORKSPACE_MB", &Config::gpu_workspace_mb, 0, 0, 1 << 20},
    {"KNNX_FLAT_STREAM_MAX_NQ", &Config::flat_stream_max_nq, 8, 0, 1024},
    {"KNNX_FLAT_STREAM_RING", &Config::flat_stream_ring, -1, -1, 4},
    {"KNNX_FLAT_TILE_ROWS", &Config::flat_tile_rows, 65536, 256, 1 << 24},
    {"KNNX_FLAT_TILE_QUERIES", &Config::flat_tile_queries, 4096, 1, 65535},
    {"KNNX_FLAT_OVERFETCH", &Config::flat_overfetch, 2, 1, 64},
    {"KNNX_FLAT_FAST_MAX_K", &Config::flat_fast_max_k, 256, 0, 2048},
    {"KNNX_FLAT_FUSED_CAP", &Config::flat_fused_cap, 0, 0, 1 << 24},
    {"KNNX_IVF_TPB", &Config::ivf_tpb, 256, 128, 512},
    {"KNNX_IVF_ROWS_PER_CHUNK", &Config::ivf_rows_per_chunk, 8192, 256, 1 << 30},
    {"KNNX_IVF_SHARED", &Config::ivf_shared, -1, -1, 1},
    {"KNNX_QR_WARP_MIN_ROWS", &Config::qr_warp_min_rows, 64, 1, 1 << 30},
    {"KNNX_SVD_BAND", &Config::svd_band, 0, 0, 1 << 30},
    {"KNNX_SVD_STREAMS", &Config::svd_streams, 1, 1, 8},
};

bool same_config(const Config& a, const Config& b) {
  for (const IntKnob& k : kIntKnobs) {
    if (a.*k.field != b.*k.field) return false;
  }
  return a.sync_check == b.sync_check;
}

// The value text of every knob in force, in describe_knobs() order (covers knobs this file
// does not know by name).
std::vector<std::string> knob_values() {
  std::vector<std::string> values;
  for (const KnobInfo& k : describe_knobs()) values.push_back(k.value);
  return values;
}

// Each test starts with no KNNX_* variable set; the variables and the config in force before
// the test are restored after it.
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_config_ = config();
    for (const KnobInfo& k : describe_knobs()) {
      const char* v = std::getenv(k.env_name.c_str());
      saved_env_[k.env_name] = v ? std::optional<std::string>(v) : std::nullopt;
      ::unsetenv(k.env_name.c_str());
    }
  }
  void TearDown() override {
    for (const auto& [name, value] : saved_env_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
    set_config(saved_config_);
  }

  Config saved_config_;
  std::map<std::string, std::optional<std::string>> saved_env_;
};

TEST_F(ConfigTest, EmptyEnvironmentGivesTheDefaults) {
  reload_config_from_env();
  EXPECT_TRUE(same_config(config(), Config{}));
  const Config d{};
  for (const IntKnob& k : kIntKnobs) EXPECT_EQ(d.*k.field, k.default_value) << k.name;
  EXPECT_FALSE(d.sync_check);
}

TEST_F(ConfigTest, SetConfigAcceptsTheRangeEnds) {
  for (const IntKnob& k : kIntKnobs) {
    for (int v : {k.lo, k.hi}) {
      Config c;
      c.*k.field = v;
      EXPECT_NO_THROW(set_config(c)) << k.name << "=" << v;
      EXPECT_EQ(config().*k.field, v) << k.name;
    }
  }
  Config c;
  c.sync_check = true;
  set_config(c);
  EXPECT_TRUE(config().sync_check);
}

TEST_F(ConfigTest, SetConfigValidationNamesTheVariable) {
  Config good;
  good.cpu_query_block = 64;
  set_config(good);
  for (const IntKnob& k : kIntKnobs) {
    for (int v : {k.lo - 1, k.hi + 1, std::numeric_limits<int>::min()}) {
      Config bad = good;
      bad.*k.field = v;
      const std::string msg = message_of<InvalidArgument>([&] { set_config(bad); });
      EXPECT_TRUE(has_substr(msg, k.name));
      EXPECT_TRUE(has_substr(msg, fmt::format("\"{}\"", v)));
      // A rejected config leaves the one in force untouched.
      EXPECT_TRUE(same_config(config(), good)) << k.name;
    }
  }
}

// KNNX_FLAT_STREAM_RING's range has holes: the streaming kernel has instances for rings of 0,
// 3 and 4 units only, so 1 and 2 are refused where the knob is set, not at the first search.
TEST_F(ConfigTest, StreamRingBetweenItsInstancesIsRefused) {
  for (int ring : {1, 2}) {
    Config bad;
    bad.flat_stream_ring = ring;
    const std::string msg = message_of<InvalidArgument>([&] { set_config(bad); });
    EXPECT_TRUE(has_substr(msg, "KNNX_FLAT_STREAM_RING")) << msg;
    EXPECT_TRUE(has_substr(msg, fmt::format("\"{}\"", ring))) << msg;
    ::setenv("KNNX_FLAT_STREAM_RING", std::to_string(ring).c_str(), 1);
    EXPECT_THROW(reload_config_from_env(), InvalidArgument);
  }
  ::unsetenv("KNNX_FLAT_STREAM_RING");
  for (int ring : {-1, 0, 3, 4}) {
    Config good;
    good.flat_stream_ring = ring;
    EXPECT_NO_THROW(set_config(good)) << ring;
  }
}

TEST_F(ConfigTest, ReloadReadsEveryVariable) {
  for (const IntKnob& k : kIntKnobs) ::setenv(k.name, std::to_string(k.hi).c_str(), 1);
  ::setenv("KNNX_SYNC_CHECK", "1", 1);
  reload_config_from_env();
  const Config c = config();
  for (const IntKnob& k : kIntKnobs) EXPECT_EQ(c.*k.field, k.hi) << k.name;
  EXPECT_TRUE(c.sync_check);

  // Unset variables go back to their defaults on reload.
  ::unsetenv("KNNX_CPU_QUERY_BLOCK");
  reload_config_from_env();
  EXPECT_EQ(config().cpu_query_block, Config{}.cpu_query_block);
}

// A choice knob takes each of `words` from the environment and refuses each of `bad` with an
// InvalidArgument naming the variable and listing the accepted value `listed`.
void expect_choice_knob(const char* env, std::string Config::*field,
                        std::initializer_list<const char*> words,
                        std::initializer_list<const char*> bad, const char* listed) {
  for (const char* word : words) {
    ::setenv(env, word, 1);
    reload_config_from_env();
    EXPECT_EQ(config().*field, word);
  }
  for (const char* b : bad) {
    ::setenv(env, b, 1);
    const std::string msg = message_of<InvalidArgument>([] { reload_config_from_env(); });
    EXPECT_TRUE(has_substr(msg, env)) << msg;
    EXPECT_TRUE(has_substr(msg, listed)) << "the message lists the accepted values: " << msg;
  }
  ::unsetenv(env);
}

TEST_F(ConfigTest, FlatGemmTakesItsWordsOnly) {
  EXPECT_EQ(Config{}.flat_gemm, "3xtf32");
  expect_choice_knob("KNNX_FLAT_GEMM", &Config::flat_gemm, {"fp32", "3xtf32"}, {"tf32", "FP32", ""},
                     "3xtf32");
}

TEST_F(ConfigTest, FlatFastKernelTakesItsWordsOnly) {
  EXPECT_EQ(Config{}.flat_fast_kernel, "auto");
  expect_choice_knob("KNNX_FLAT_FAST_KERNEL", &Config::flat_fast_kernel, {"fused", "gemm", "auto"},
                     {"fuse", "GEMM", "Auto", ""}, "fused");
}

TEST_F(ConfigTest, FlatFusedOperandsTakesItsWordsOnly) {
  EXPECT_EQ(Config{}.flat_fused_operands, "fp16");
  expect_choice_knob("KNNX_FLAT_FUSED_OPERANDS", &Config::flat_fused_operands, {"tf32", "fp16"},
                     {"FP16", "bf16", ""}, "tf32");
}

TEST_F(ConfigTest, FlatFusedMmaTakesItsWordsOnly) {
  EXPECT_EQ(Config{}.flat_fused_mma, "auto");
  expect_choice_knob("KNNX_FLAT_FUSED_MMA", &Config::flat_fused_mma, {"wgmma", "auto", "sync"},
                     {"WGMMA", "mma", "hgmma", ""}, "auto");
}

TEST_F(ConfigTest, BooleanSpellings) {
  for (const char* yes : {"1", "true", "on", "yes"}) {
    ::setenv("KNNX_SYNC_CHECK", yes, 1);
    reload_config_from_env();
    EXPECT_TRUE(config().sync_check) << yes;
  }
  for (const char* no : {"0", "false", "off", "no", ""}) {
    ::setenv("KNNX_SYNC_CHECK", no, 1);
    reload_config_from_env();
    EXPECT_FALSE(config().sync_check) << no;
  }
}

TEST_F(ConfigTest, BadEnvironmentValuesThrowNamingTheVariable) {
  Config before;
  before.cpu_query_block = 99;
  set_config(before);
  std::vector<std::pair<std::string, std::string>> cases = {
      {"KNNX_CPU_QUERY_BLOCK", "abc"}, {"KNNX_CPU_QUERY_BLOCK", "12x"},
      {"KNNX_CPU_QUERY_BLOCK", " 5"},  {"KNNX_CPU_QUERY_BLOCK", ""},
      {"KNNX_NUM_THREADS", "1.5"},     {"KNNX_NUM_THREADS", "99999999999"},
      {"KNNX_NUM_THREADS", "0x10"},    {"KNNX_SYNC_CHECK", "maybe"},
      {"KNNX_SYNC_CHECK", "2"},        {"KNNX_SYNC_CHECK", "TRUE "},
  };
  for (const IntKnob& k : kIntKnobs) {
    cases.emplace_back(k.name, std::to_string(k.lo - 1));
    cases.emplace_back(k.name, std::to_string(k.hi + 1));
  }
  for (const auto& [name, value] : cases) {
    ::setenv(name.c_str(), value.c_str(), 1);
    const std::string msg = message_of<InvalidArgument>([] { reload_config_from_env(); });
    EXPECT_TRUE(has_substr(msg, name));
    EXPECT_TRUE(has_substr(msg, "\"" + value + "\""));
    EXPECT_TRUE(same_config(config(), before)) << name << "=" << value;
    ::unsetenv(name.c_str());
  }
}

TEST_F(ConfigTest, DescribeKnobsListsEveryKnobWithItsDefault) {
  set_config(Config{});
  const std::vector<KnobInfo> knobs = describe_knobs();
  // Every knob: a KNNX_ name of its own, a range, a description, a default that is the
  // value a default Config holds.
  std::vector<std::string> names;
  for (const KnobInfo& k : knobs) {
    EXPECT_EQ(k.env_name.rfind("KNNX_", 0), 0u) << k.env_name;
    EXPECT_FALSE(k.range.empty()) << k.env_name;
    EXPECT_FALSE(k.description.empty()) << k.env_name;
    EXPECT_EQ(k.value, k.default_value) << k.env_name;
    EXPECT_EQ(std::count(names.begin(), names.end(), k.env_name), 0) << k.env_name;
    names.push_back(k.env_name);
  }
  // The knobs known here are all listed, in this order, with these defaults.
  std::vector<std::pair<std::string, std::string>> expected = {
      {"KNNX_NUM_THREADS", "0"},       {"KNNX_CPU_QUERY_BLOCK", "1024"},
      {"KNNX_CPU_BASE_BLOCK", "1024"}, {"KNNX_CPU_DIRECT_MAX_NQ", "0"},
      {"KNNX_SYNC_CHECK", "0"},        {"KNNX_GPU_WORKSPACE_MB", "0"}};
  for (const IntKnob& k : kIntKnobs) {
    if (std::none_of(expected.begin(), expected.end(),
                     [&](auto& e) { return e.first == k.name; })) {
      expected.emplace_back(k.name, std::to_string(k.default_value));
    }
  }
  std::size_t at = 0;
  for (const auto& [name, default_value] : expected) {
    auto it = std::find(names.begin() + static_cast<std::ptrdiff_t>(at), names.end(), name);
    ASSERT_NE(it, names.end()) << name << " is missing or out of order";
    at = static_cast<std::size_t>(it - names.begin());
    EXPECT_EQ(knobs[at].default_value, default_value) << name;
  }

  // Values follow the config in force; the order is stable.
  Config c;
  c.num_threads = 7;
  c.sync_check = true;
  set_config(c);
  const std::vector<KnobInfo> after = describe_knobs();
  ASSERT_EQ(after.size(), knobs.size());
  for (std::size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].env_name, knobs[i].env_name);
    EXPECT_EQ(after[i].default_value, knobs[i].default_value);
    const std::string want = after[i].env_name == "KNNX_NUM_THREADS"  ? "7"
                             : after[i].env_name == "KNNX_SYNC_CHECK" ? "1"
                                                                      : knobs[i].value;
    EXPECT_EQ(after[i].value, want) << after[i].env_name;
  }
}

TEST_F(ConfigTest, EveryDescribedKnobIsReadFromTheEnvironment) {
  // Each knob's default text parses back to its default...
  std::vector<std::string> defaults;
  for (const KnobInfo& k : describe_knobs()) {
    ::setenv(k.env_name.c_str(), k.default_value.c_str(), 1);
    defaults.push_back(k.default_value);
  }
  Config other;
  other.num_threads = 5;
  other.sync_check = true;
  set_config(other);
  reload_config_from_env();
  EXPECT_EQ(knob_values(), defaults);
  // ...and each one rejects garbage, naming itself.
  for (const KnobInfo& k : describe_knobs()) {
    ::setenv(k.env_name.c_str(), "not-a-value", 1);
    EXPECT_TRUE(
        has_substr(message_of<InvalidArgument>([] { reload_config_from_env(); }), k.env_name));
    ::setenv(k.env_name.c_str(), k.default_value.c_str(), 1);
  }
}

TEST_F(ConfigTest, ConcurrentReadersSeeWholeConfigs) {
  Config a;
  a.num_threads = 1;
  a.cpu_query_block = 1;
  a.cpu_base_block = 16;
  a.gpu_workspace_mb = 16;
  Config b;
  b.num_threads = 2;
  b.cpu_query_block = 2;
  b.cpu_base_block = 32;
  b.gpu_workspace_mb = 32;
  set_config(a);
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        const Config c = config();
        if (!same_config(c, a) && !same_config(c, b)) torn.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 2000; ++i) set_config(i % 2 ? a : b);
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(torn.load(), 0);
}

// ------------------------------------------------------------------------------------------
// IdMap

using detail::IdMap;

std::vector<idx_t> iota_ids(idx_t first, idx_t n) {
  std::vector<idx_t> ids(static_cast<std::size_t>(n));
  for (idx_t i = 0; i < n; ++i) ids[static_cast<std::size_t>(i)] = first + i;
  return ids;
}

void append(IdMap& map, const std::vector<idx_t>& ids) {
  map.check_new(static_cast<idx_t>(ids.size()), ids.data());
  map.append(static_cast<idx_t>(ids.size()), ids.data());
}

TEST(IdMap, SequentialIdsTakeTheIdentityFastPath) {
  IdMap map;
  EXPECT_TRUE(map.is_identity());
  EXPECT_EQ(map.size(), 0);
  EXPECT_EQ(map.next_id(), 0);
  append(map, iota_ids(0, 5));
  append(map, iota_ids(5, 3));
  EXPECT_TRUE(map.is_identity());
  EXPECT_EQ(map.size(), 8);
  EXPECT_EQ(map.next_id(), 8);
  EXPECT_EQ(map.ids(), iota_ids(0, 8));
  for (idx_t id = 0; id < 8; ++id) {
    EXPECT_EQ(map.row_of_id(id), id);
    EXPECT_EQ(map.id_of_row(id), id);
    EXPECT_TRUE(map.contains(id));
  }
  EXPECT_EQ(map.row_of_id(8), -1);
  EXPECT_EQ(map.row_of_id(-1), -1);
  EXPECT_FALSE(map.contains(100));

  std::vector<idx_t> labels = {3, -1, 0, 7};
  map.rows_to_ids(labels.size(), labels.data());
  EXPECT_EQ(labels, (std::vector<idx_t>{3, -1, 0, 7}));
}

TEST(IdMap, ArbitraryIdsBuildTheTable) {
  IdMap map;
  append(map, {10, 3, 7});
  EXPECT_FALSE(map.is_identity());
  EXPECT_EQ(map.row_of_id(10), 0);
  EXPECT_EQ(map.row_of_id(3), 1);
  EXPECT_EQ(map.row_of_id(7), 2);
  EXPECT_EQ(map.row_of_id(0), -1);
  EXPECT_EQ(map.row_of_id(1), -1);
  EXPECT_EQ(map.next_id(), 11);

  std::vector<idx_t> labels = {2, -1, 0, 1};
  map.rows_to_ids(labels.size(), labels.data());
  EXPECT_EQ(labels, (std::vector<idx_t>{7, -1, 10, 3}));

  append(map, {0, 1 << 20});
  EXPECT_EQ(map.row_of_id(0), 3);
  EXPECT_EQ(map.row_of_id(1 << 20), 4);
  EXPECT_EQ(map.next_id(), (1 << 20) + 1);
}

TEST(IdMap, LeavingTheIdentityKeepsEarlierRows) {
  IdMap map;
  append(map, iota_ids(0, 3));
  append(map, {100, 50});
  EXPECT_FALSE(map.is_identity());
  EXPECT_EQ(map.ids(), (std::vector<idx_t>{0, 1, 2, 100, 50}));
  for (idx_t id : {0, 1, 2}) EXPECT_EQ(map.row_of_id(id), id);
  EXPECT_EQ(map.row_of_id(100), 3);
  EXPECT_EQ(map.row_of_id(50), 4);
  EXPECT_EQ(map.row_of_id(3), -1);
  EXPECT_EQ(map.next_id(), 101);
}

TEST(IdMap, BadIdsAreRejectedWithNothingChanged) {
  for (bool identity : {true, false}) {
    IdMap map;
    append(map, identity ? iota_ids(0, 4) : std::vector<idx_t>{3, 9, 1, 4});
    const std::vector<idx_t> ids_before = map.ids();
    const std::uint64_t version_before = map.version();
    const idx_t next_before = map.next_id();

    const std::vector<idx_t> negative = {20, -4};
    EXPECT_TRUE(has_substr(message_of<InvalidArgument>([&] { append(map, negative); }),
                           "ids[1] = -4 is negative"));
    const std::vector<idx_t> repeated = {20, 21, 20};
    EXPECT_TRUE(has_substr(message_of<InvalidArgument>([&] { append(map, repeated); }),
                           "ids[2] = 20 appears more than once"));
    const std::vector<idx_t> collision = {3, 30};
    EXPECT_TRUE(has_substr(message_of<InvalidArgument>([&] { append(map, collision); }),
                           "ids[0] = 3 is already stored"));
    const std::vector<idx_t> late_collision = {30, 31, 1};
    EXPECT_TRUE(has_substr(message_of<InvalidArgument>([&] { append(map, late_collision); }),
                           "ids[2] = 1 is already stored"));

    EXPECT_EQ(map.ids(), ids_before);
    EXPECT_EQ(map.version(), version_before);
    EXPECT_EQ(map.next_id(), next_before);
    EXPECT_EQ(map.is_identity(), identity);
    EXPECT_EQ(map.row_of_id(20), -1);
    EXPECT_EQ(map.row_of_id(30), -1);
  }
  IdMap empty;
  const idx_t ok[] = {5, 0, 2};
  EXPECT_NO_THROW(empty.check_new(3, ok));
  EXPECT_NO_THROW(empty.check_new(0, nullptr));
}

TEST(IdMap, RowsOfIsAscendingWithoutRepeats) {
  IdMap map;
  append(map, {10, 3, 7, 20});
  const std::vector<idx_t> query = {7, 999, 10, 7, -5, 20};
  EXPECT_EQ(map.rows_of(static_cast<idx_t>(query.size()), query.data()),
            (std::vector<idx_t>{0, 2, 3}));
  const std::vector<idx_t> none = {1, 2};
  EXPECT_TRUE(map.rows_of(2, none.data()).empty());

  IdMap seq;
  append(seq, iota_ids(0, 6));
  const std::vector<idx_t> q2 = {5, 1, 1, 6};
  EXPECT_EQ(seq.rows_of(4, q2.data()), (std::vector<idx_t>{1, 5}));
}

TEST(IdMap, RemoveRowsKeepsTheOrderOfTheRest) {
  IdMap map;
  append(map, {10, 3, 7, 20, 5});
  const std::uint64_t v = map.version();
  map.remove_rows({0, 1, 0, 1, 0});
  EXPECT_EQ(map.ids(), (std::vector<idx_t>{10, 7, 5}));
  EXPECT_FALSE(map.is_identity());
  EXPECT_EQ(map.row_of_id(10), 0);
  EXPECT_EQ(map.row_of_id(7), 1);
  EXPECT_EQ(map.row_of_id(5), 2);
  EXPECT_EQ(map.row_of_id(3), -1);
  EXPECT_EQ(map.row_of_id(20), -1);
  EXPECT_GT(map.version(), v);
  // Removed ids are not handed out again.
  EXPECT_EQ(map.next_id(), 21);
  // A removed id may be added back explicitly.
  append(map, {3});
  EXPECT_EQ(map.row_of_id(3), 3);
}

TEST(IdMap, RemoveRowsFromTheIdentity) {
  IdMap tail;
  append(tail, iota_ids(0, 6));
  tail.remove_rows({0, 0, 0, 0, 1, 1});
  EXPECT_TRUE(tail.is_identity());
  EXPECT_EQ(tail.ids(), iota_ids(0, 4));
  EXPECT_EQ(tail.row_of_id(4), -1);
  EXPECT_EQ(tail.next_id(), 6);

  IdMap head;
  append(head, iota_ids(0, 4));
  head.remove_rows({1, 0, 0, 0});
  EXPECT_FALSE(head.is_identity());
  EXPECT_EQ(head.ids(), (std::vector<idx_t>{1, 2, 3}));
  EXPECT_EQ(head.row_of_id(0), -1);
  EXPECT_EQ(head.row_of_id(1), 0);
  EXPECT_EQ(head.row_of_id(3), 2);
  std::vector<idx_t> labels = {0, 2, -1};
  head.rows_to_ids(labels.size(), labels.data());
  EXPECT_EQ(labels, (std::vector<idx_t>{1, 3, -1}));
  EXPECT_EQ(head.next_id(), 4);

  // Removing the rows that broke the identity restores the fast path.
  IdMap back;
  append(back, {0, 1, 2, 9});
  EXPECT_FALSE(back.is_identity());
  back.remove_rows({0, 0, 0, 1});
  EXPECT_TRUE(back.is_identity());
  EXPECT_EQ(back.row_of_id(9), -1);
  EXPECT_EQ(back.row_of_id(2), 2);
  EXPECT_EQ(back.next_id(), 10);

  IdMap all;
  append(all, {4, 8});
  all.remove_rows({1, 1});
  EXPECT_EQ(all.size(), 0);
  EXPECT_TRUE(all.is_identity());
  EXPECT_EQ(all.next_id(), 9);
}

TEST(IdMap, ClearStartsNumberingAgain) {
  IdMap map;
  append(map, {10, 3, 7});
  const std::uint64_t v = map.version();
  map.clear();
  EXPECT_EQ(map.size(), 0);
  EXPECT_TRUE(map.is_identity());
  EXPECT_EQ(map.next_id(), 0);
  EXPECT_EQ(map.row_of_id(10), -1);
  EXPECT_GT(map.version(), v);
  append(map, iota_ids(0, 3));
  EXPECT_TRUE(map.is_identity());
  EXPECT_EQ(map.row_of_id(2), 2);
  EXPECT_EQ(map.next_id(), 3);
}

TEST(IdMap, VersionChangesOnlyWhenIdsChange) {
  IdMap map;
  const std::uint64_t v0 = map.version();
  append(map, iota_ids(0, 3));
  const std::uint64_t v1 = map.version();
  EXPECT_NE(v1, v0);
  const idx_t q[] = {1};
  (void)map.rows_of(1, q);
  const idx_t fresh[] = {5};
  map.check_new(1, fresh);
  EXPECT_EQ(map.version(), v1);
  map.remove_rows({0, 1, 0});
  EXPECT_NE(map.version(), v1);
}

// ------------------------------------------------------------------------------------------
// Argument checks

using detail::check_finite_host;

TEST(CheckFinite, CleanDataPasses) {
  std::vector<float> x(4 * 5);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) - 7.5f;
  EXPECT_NO_THROW(check_finite_host(4, 5, x.data(), "x"));
  // Extreme finite values must not look non-finite.
  const float extremes[] = {
      std::numeric_limits<float>::max(),        -std::numeric_limits<float>::max(),
      std::numeric_limits<float>::denorm_min(), -0.0f,
      std::numeric_limits<float>::min(),        1e38f};
  EXPECT_NO_THROW(check_finite_host(2, 3, extremes, "x"));
  EXPECT_NO_THROW(check_finite_host(0, 5, nullptr, "x"));
}

TEST(CheckFinite, LocatesTheFirstNonFiniteValue) {
  constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
  constexpr float kInf = std::numeric_limits<float>::infinity();
  struct Case {
    idx_t row, col;
    float value;
    const char* shown;
  };
  for (const Case& c : {Case{2, 3, kNan, "nan"}, Case{0, 0, kInf, "inf"}, Case{3, 4, -kInf, "-inf"},
                        Case{1, 0, -kNan, "nan"}}) {
    std::vector<float> x(4 * 5, 1.0f);
    x[static_cast<std::size_t>(c.row * 5 + c.col)] = c.value;
    const std::string msg =
        message_of<InvalidArgument>([&] { check_finite_host(4, 5, x.data(), "queries"); });
    EXPECT_TRUE(has_substr(msg, "queries"));
    EXPECT_TRUE(has_substr(msg, fmt::format("row {}, column {}", c.row, c.col)));
    EXPECT_TRUE(has_substr(msg, c.shown));
  }
  // With several, the first in row-major order is reported.
  std::vector<float> x(3 * 4, 0.0f);
  x[2 * 4 + 1] = kNan;
  x[1 * 4 + 3] = kInf;
  EXPECT_TRUE(
      has_substr(message_of<InvalidArgument>([&] { check_finite_host(3, 4, x.data(), "x"); }),
                 "row 1, column 3"));
  // One column.
  std::vector<float> col = {1, 2, kNan};
  EXPECT_TRUE(
      has_substr(message_of<InvalidArgument>([&] { check_finite_host(3, 1, col.data(), "x"); }),
                 "row 2, column 0"));
}

TEST(Checks, MessagesNameTheArgumentAndValue) {
  EXPECT_TRUE(has_substr(message_of<InvalidArgument>([] { detail::check_dim(0); }),
                         "dim must be in [1, 65536], got 0"));
  EXPECT_TRUE(has_substr(message_of<InvalidArgument>([] { detail::check_dim(kMaxDim + 1, "d"); }),
                         "d must be in [1, 65536], got 65537"));
  EXPECT_NO_THROW(detail::check_dim(1));
  EXPECT_NO_THROW(detail::check_dim(kMaxDim));
  EXPECT_TRUE(has_substr(message_of<InvalidArgument>([] { detail::check_k(0); }),
                         "k must be in [1, " + std::to_string(kMaxK) + "], got 0"));
  EXPECT_THROW(detail::check_k(kMaxK + 1), InvalidArgument);
  EXPECT_NO_THROW(detail::check_k(kMaxK));
  EXPECT_TRUE(has_substr(message_of<InvalidArgument>([] { detail::check_count(0, "nq"); }),
                         "nq must be >= 1, got 0"));
  EXPECT_TRUE(
      has_substr(message_of<InvalidArgument>([] { detail::check_not_null(nullptr, "labels"); }),
                 "labels must not be null"));
  EXPECT_TRUE(has_substr(message_of<InvalidArgument>([] { detail::checked_elements(-1, 4, "x"); }),
                         "x: negative size -1 x 4"));
  EXPECT_TRUE(has_substr(message_of<InvalidArgument>([] {
                           detail::checked_elements(std::numeric_limits<idx_t>::max() / 2, 128,
                                                    "x");
                         }),
                         "overflows"));
  EXPECT_EQ(detail::checked_elements(1000, 128, "x"), 128000u);
  EXPECT_EQ(detail::checked_elements(5, 0, "x"), 0u);
}

}  // namespace
}  // namespace knnx

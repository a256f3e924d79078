// GPU indexes have no device-side IDSelector filter or range search yet: they must refuse both
// with NotSupported (never answer as if unfiltered), and leave the index usable.
#include <gtest/gtest.h>

#include <vector>

#include "gpu_test_util.hpp"
#include "knnx/knnx.hpp"

namespace knnx {
namespace {

using test::random_vectors;

TEST(FiltersCuda, SelectorAndRangeSearchAreRefused) {
  KNNX_REQUIRE_GPU();
  const int d = 16;
  const std::vector<float> x = random_vectors(500, d, 1);
  IndexFlat flat(d, Metric::L2, Device::cuda(0));
  flat.add(500, x.data());
  IndexIVFFlat ivf(d, 8, Metric::L2, Device::cuda(0));
  ivf.train(500, x.data());
  ivf.add(500, x.data());
  IDSelectorRange sel(0, 10);
  SearchParams flat_params;
  flat_params.sel = &sel;
  SearchParamsIVF ivf_params;
  ivf_params.sel = &sel;
  std::vector<float> dist(5);
  std::vector<idx_t> lab(5);
  EXPECT_THROW(flat.search(1, x.data(), 5, dist.data(), lab.data(), &flat_params), NotSupported);
  EXPECT_THROW(ivf.search(1, x.data(), 5, dist.data(), lab.data(), &ivf_params), NotSupported);
  EXPECT_THROW(flat.range_search(1, x.data(), 1.0f), NotSupported);
  EXPECT_THROW(ivf.range_search(1, x.data(), 1.0f), NotSupported);
  // remove_ids(selector) works on every device: it reads the ids on the host.
  EXPECT_EQ(flat.remove_ids(sel), 10);
  EXPECT_EQ(ivf.remove_ids(sel), 10);
  flat.search(1, x.data(), 5, dist.data(), lab.data());
  EXPECT_GE(lab[0], 10);
}

}  // namespace
}  // namespace knnx

// Exact search on the CPU, then an IVF index on the GPU when this machine has one and this knnx
// was built with CUDA; prints the version and what it ran.
#include <cstdio>
#include <knnx/knnx.hpp>
#include <vector>

int main() {
  const knnx::BuildInfo info = knnx::build_info();
  std::printf("knnx %s, CUDA backend %s, %zu GPU(s)\n", info.version.c_str(),
              info.cuda_compiled ? "built" : "not built", info.cuda_devices.size());

  knnx::MixtureSpec spec;
  spec.dim = 32;
  const knnx::Matrix<float> base = knnx::make_mixture_base(spec, 5000);
  const knnx::Matrix<float> queries = knnx::make_mixture_queries(spec, 10);
  const int k = 4;
  std::vector<float> distances(queries.rows * k);
  knnx::Matrix<knnx::idx_t> labels{queries.rows, k, std::vector<knnx::idx_t>(queries.rows * k)};

  knnx::IndexFlat exact(spec.dim, knnx::Metric::L2, knnx::Device::cpu());
  exact.add(base.rows, base.data.data());
  exact.search(queries.rows, queries.data.data(), k, distances.data(), labels.data.data());
  std::printf("cpu IndexFlat: query 0 -> %lld\n", static_cast<long long>(labels.data[0]));

  const knnx::Device device =
      info.cuda_devices.empty() ? knnx::Device::cpu() : knnx::Device::cuda(0);
  knnx::IndexIVFFlat ivf(spec.dim, 16, knnx::Metric::L2, device);
  ivf.train(base.rows, base.data.data());
  ivf.add(base.rows, base.data.data());
  ivf.set_n_probe(16);
  knnx::Matrix<knnx::idx_t> ivf_labels = labels;
  ivf.search(queries.rows, queries.data.data(), k, distances.data(), ivf_labels.data.data());
  const double recall = knnx::recall_at_k(ivf_labels, labels, k);
  std::printf("%s IndexIVFFlat, every list probed: recall@%d %.3f\n", device.to_string().c_str(), k,
              recall);
  return recall == 1.0 ? 0 : 1;
}

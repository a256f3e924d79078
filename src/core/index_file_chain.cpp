#include "core/index_file_chain.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "core/byte_fields.hpp"
#include "knnx/error.hpp"
#include "knnx/types.hpp"

namespace knnx::detail::index_file {
namespace {

// Record field offsets (docs/file_format.md, "The transform chain").
constexpr std::size_t kOffType = 0;
constexpr std::size_t kOffDIn = 4;
constexpr std::size_t kOffDOut = 8;
constexpr std::size_t kOffFlags = 12;
constexpr std::size_t kOffParams = 16;
// PCA
constexpr std::size_t kOffWhiten = 16;
constexpr std::size_t kOffWhitenEps = 20;
// RandomRotation
constexpr std::size_t kOffRotationSeed = 16;
// OPQ
constexpr std::size_t kOffM = 16;
constexpr std::size_t kOffNIter = 20;
constexpr std::size_t kOffKsub = 24;
constexpr std::size_t kOffKMeansIter = 28;
constexpr std::size_t kOffMaxTrainPoints = 32;
constexpr std::size_t kOffOpqSeed = 40;

constexpr std::uint32_t kTransformTrained = 1u;

// Bytes [from, to) of the parameter block a transform type uses; the rest must be zero.
std::pair<std::size_t, std::size_t> used_params(TransformType type) {
  switch (type) {
    case TransformType::PCA:
      return {kOffParams, kOffWhitenEps + 4};
    case TransformType::RandomRotation:
      return {kOffParams, kOffRotationSeed + 8};
    case TransformType::L2Normalize:
      return {kOffParams, kOffParams};
    case TransformType::OPQ:
      return {kOffParams, kOffOpqSeed + 8};
  }
  return {kOffParams, kOffParams};
}

template <typename T>
void append(std::vector<std::uint8_t>& out, const std::vector<T>& values) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(values.data());
  out.insert(out.end(), p, p + values.size() * sizeof(T));
}

// Reads the chain front to back, failing with the position and transform in the message.
class Decoder {
 public:
  Decoder(const std::vector<std::uint8_t>& bytes, const std::string& path)
      : bytes_(bytes), path_(path) {}

  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    throw FormatError(fmt::format("'{}': section 'transform_chain'{}: {}", path_, where_,
                                  fmt::format(format, std::forward<Args>(args)...)));
  }

  void set_where(std::string where) { where_ = std::move(where); }
  std::uint64_t remaining() const { return bytes_.size() - at_; }

  // The next n bytes (FormatError when fewer are left).
  const std::uint8_t* take(std::uint64_t n, std::string_view what) {
    if (n > remaining()) {
      fail("{} needs {} bytes at offset {}, but only {} remain", what, n, at_, remaining());
    }
    const std::uint8_t* p = bytes_.data() + at_;
    at_ += n;
    return p;
  }

  // count values of T (count * sizeof(T) checked against the bytes left before allocating).
  template <typename T>
  std::vector<T> values(std::uint64_t count, std::string_view what) {
    if (count > remaining() / sizeof(T)) {
      fail("{} needs {} x {} bytes at offset {}, but only {} remain", what, count, sizeof(T), at_,
           remaining());
    }
    const std::uint8_t* p = take(count * sizeof(T), what);
    std::vector<T> out(static_cast<std::size_t>(count));
    std::memcpy(out.data(), p, out.size() * sizeof(T));
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (!std::isfinite(out[i])) fail("{} holds a non-finite value ({}) at {}", what, out[i], i);
    }
    return out;
  }

 private:
  const std::vector<std::uint8_t>& bytes_;
  const std::string& path_;
  std::string where_;
  std::size_t at_ = 0;
};

void check_dims(Decoder& in, const TransformRecord& t) {
  if (t.d_in < 1 || t.d_in > static_cast<std::uint32_t>(kMaxDim)) {
    in.fail("d_in {} is outside [1, {}]", t.d_in, kMaxDim);
  }
  if (t.d_out < 1 || t.d_out > static_cast<std::uint32_t>(kMaxDim)) {
    in.fail("d_out {} is outside [1, {}]", t.d_out, kMaxDim);
  }
  if (t.type == TransformType::L2Normalize) {
    if (t.d_out != t.d_in) in.fail("d_out {} differs from d_in {}", t.d_out, t.d_in);
  } else if (t.d_out > t.d_in) {
    in.fail("d_out {} exceeds d_in {}", t.d_out, t.d_in);
  }
}

void decode_params(Decoder& in, const std::uint8_t* r, TransformRecord& t) {
  switch (t.type) {
    case TransformType::PCA: {
      const auto whiten = get_field<std::uint32_t>(r, kOffWhiten);
      if (whiten > 1) in.fail("whiten is {}, not 0 or 1", whiten);
      t.whiten = whiten == 1;
      t.whiten_eps = get_field<float>(r, kOffWhitenEps);
      if (!std::isfinite(t.whiten_eps) || t.whiten_eps < 0.0f) {
        in.fail("whiten_eps {} is not a finite value >= 0", t.whiten_eps);
      }
      break;
    }
    case TransformType::RandomRotation:
      t.seed = get_field<std::uint64_t>(r, kOffRotationSeed);
      if (!t.trained) in.fail("a RandomRotation is always trained, but the trained flag is clear");
      break;
    case TransformType::L2Normalize:
      if (!t.trained) in.fail("an L2Normalize is always trained, but the trained flag is clear");
      break;
    case TransformType::OPQ:
      t.m = get_field<std::uint32_t>(r, kOffM);
      t.n_iter = get_field<std::int32_t>(r, kOffNIter);
      t.ksub = get_field<std::int32_t>(r, kOffKsub);
      t.kmeans_iter = get_field<std::int32_t>(r, kOffKMeansIter);
      t.max_train_points = get_field<std::int64_t>(r, kOffMaxTrainPoints);
      t.seed = get_field<std::uint64_t>(r, kOffOpqSeed);
      if (t.m < 1 || t.m > t.d_out || t.d_out % t.m != 0) {
        in.fail("m {} does not divide d_out {} into sub-spaces", t.m, t.d_out);
      }
      if (t.n_iter < 1) in.fail("n_iter {} is below 1", t.n_iter);
      if (t.ksub < 1) in.fail("ksub {} is below 1", t.ksub);
      if (t.kmeans_iter < 1) in.fail("kmeans_iter {} is below 1", t.kmeans_iter);
      if (t.max_train_points < t.ksub) {
        in.fail("max_train_points {} is below ksub {}", t.max_train_points, t.ksub);
      }
      break;
  }
}

void encode_params(std::uint8_t* r, const TransformRecord& t) {
  switch (t.type) {
    case TransformType::PCA:
      put_field(r, kOffWhiten, std::uint32_t{t.whiten ? 1u : 0u});
      put_field(r, kOffWhitenEps, t.whiten_eps);
      break;
    case TransformType::RandomRotation:
      put_field(r, kOffRotationSeed, t.seed);
      break;
    case TransformType::L2Normalize:
      break;
    case TransformType::OPQ:
      put_field(r, kOffM, t.m);
      put_field(r, kOffNIter, t.n_iter);
      put_field(r, kOffKsub, t.ksub);
      put_field(r, kOffKMeansIter, t.kmeans_iter);
      put_field(r, kOffMaxTrainPoints, t.max_train_points);
      put_field(r, kOffOpqSeed, t.seed);
      break;
  }
}

}  // namespace

std::string transform_type_name(std::uint32_t type) {
  switch (static_cast<TransformType>(type)) {
    case TransformType::PCA:
      return "PCA";
    case TransformType::RandomRotation:
      return "RandomRotation";
    case TransformType::L2Normalize:
      return "L2Normalize";
    case TransformType::OPQ:
      return "OPQ";
  }
  return fmt::format("type {}", type);
}

std::vector<std::uint8_t> encode_chain(const TransformChainRecord& chain) {
  std::vector<std::uint8_t> out(kChainHeaderBytes, 0);
  put_field(out.data(), 0, static_cast<std::uint32_t>(chain.transforms.size()));
  put_field(out.data(), 4, chain.d_in);
  for (const TransformRecord& t : chain.transforms) {
    std::uint8_t r[kTransformRecordBytes] = {};
    put_field(r, kOffType, static_cast<std::uint32_t>(t.type));
    put_field(r, kOffDIn, t.d_in);
    put_field(r, kOffDOut, t.d_out);
    put_field(r, kOffFlags, t.trained ? kTransformTrained : 0u);
    encode_params(r, t);
    out.insert(out.end(), r, r + kTransformRecordBytes);
    if (!t.trained || !t.linear()) continue;
    append(out, t.mean);
    append(out, t.matrix);
    append(out, t.reverse);
    if (t.type == TransformType::PCA) append(out, t.eigenvalues);
    if (t.type == TransformType::OPQ) append(out, t.objective);
  }
  return out;
}

TransformChainRecord decode_chain(const std::vector<std::uint8_t>& bytes, const Header& header,
                                  const std::string& path) {
  Decoder in(bytes, path);
  const std::uint8_t* h = in.take(kChainHeaderBytes, "the chain header");
  TransformChainRecord chain;
  const auto count = get_field<std::uint32_t>(h, 0);
  chain.d_in = get_field<std::uint32_t>(h, 4);
  if (count < 1 || count > kMaxTransforms) {
    in.fail("transform count {} is outside [1, {}]", count, kMaxTransforms);
  }
  if (chain.d_in < 1 || chain.d_in > static_cast<std::uint32_t>(kMaxDim)) {
    in.fail("d_in {} is outside [1, {}]", chain.d_in, kMaxDim);
  }
  if (get_field<std::uint64_t>(h, 8) != 0) in.fail("reserved chain header bytes 8-15 are not zero");

  std::uint32_t d = chain.d_in;
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::uint8_t* r = in.take(kTransformRecordBytes, fmt::format("transform {}", i));
    const auto type = get_field<std::uint32_t>(r, kOffType);
    in.set_where(fmt::format(", transform {} ({})", i, transform_type_name(type)));
    if (type < 1 || type > 4) {
      in.fail(
          "unknown transform type {} (known: 1 = PCA, 2 = RandomRotation, 3 = L2Normalize, "
          "4 = OPQ)",
          type);
    }
    TransformRecord t;
    t.type = static_cast<TransformType>(type);
    t.d_in = get_field<std::uint32_t>(r, kOffDIn);
    t.d_out = get_field<std::uint32_t>(r, kOffDOut);
    const auto flags = get_field<std::uint32_t>(r, kOffFlags);
    if ((flags & ~kTransformTrained) != 0) in.fail("unknown flags 0x{:08x}", flags);
    t.trained = (flags & kTransformTrained) != 0;
    const auto [used_from, used_to] = used_params(t.type);
    for (std::size_t b = kOffParams; b < kTransformRecordBytes; ++b) {
      if ((b < used_from || b >= used_to) && r[b] != 0) {
        in.fail("unused parameter byte {} of the record is not zero", b);
      }
    }
    check_dims(in, t);
    if (t.d_in != d) {
      in.fail("d_in {} differs from the {} dimensions {}", t.d_in, d,
              i == 0 ? "the chain receives" : "the previous transform outputs");
    }
    decode_params(in, r, t);
    if (!t.trained && header.ntotal != 0) {
      in.fail("the transform is not trained, but the index holds {} vectors", header.ntotal);
    }
    if (t.trained && t.linear()) {
      // Sizes below 2^32 x 2^16 x 4 bytes: no overflow.
      t.mean = in.values<float>(t.d_in, "the mean");
      t.matrix = in.values<float>(std::uint64_t{t.d_out} * t.d_in, "the matrix");
      t.reverse = in.values<float>(std::uint64_t{t.d_in} * t.d_out, "the reverse matrix");
      if (t.type == TransformType::PCA) t.eigenvalues = in.values<float>(t.d_in, "the eigenvalues");
      if (t.type == TransformType::OPQ) {
        t.objective = in.values<double>(static_cast<std::uint64_t>(t.n_iter), "the objective");
      }
    }
    d = t.d_out;
    chain.transforms.push_back(std::move(t));
  }
  in.set_where("");
  if (d != header.dim) {
    in.fail("the chain outputs {} dimensions, but the header's dim (of the stored vectors) is {}",
            d, header.dim);
  }
  if (in.remaining() != 0) {
    in.fail("{} bytes follow the last transform (the section is {} bytes)", in.remaining(),
            bytes.size());
  }
  return chain;
}

}  // namespace knnx::detail::index_file

// GPU QR, subspace-iteration SVD and host-pointer conveniences (see linalg_cuda.hpp).
#include "cuda/linalg/linalg_cuda.hpp"

#include <fmt/format.h>
#include <lapacke.h>

#include <algorithm>
#include <vector>

#include "cuda/gemm/gemm.hpp"
#include "cuda/runtime/check.hpp"
#include "cuda/runtime/device_info.hpp"
#include "cuda/runtime/memory.hpp"
#include "knnx/error.hpp"

namespace knnx::cuda {
namespace {

template <typename T>
void to_device(DeviceBuffer<T>& dst, const T* src, std::size_t count, cudaStream_t s) {
  KNNX_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src, count * sizeof(T), cudaMemcpyHostToDevice, s));
}

template <typename T>
void to_host(T* dst, const T* src, std::size_t count, cudaStream_t s) {
  KNNX_CUDA_CHECK(cudaMemcpyAsync(dst, src, count * sizeof(T), cudaMemcpyDeviceToHost, s));
}

std::size_t elems(std::int64_t a, std::int64_t b) {
  return static_cast<std::size_t>(a) * static_cast<std::size_t>(b);
}

// One Gram-Schmidt pass: for each column j, normalise it (r_jj), project the later columns on it
// (r_j,j+1..) and remove those components.
void mgs_pass(float* a, std::int64_t m, std::int64_t k, std::int64_t ld, float* r, QrDot dot,
              bool sync, cudaStream_t s) {
  KNNX_CUDA_CHECK(cudaMemsetAsync(r, 0, elems(k, k) * sizeof(float), s));
  for (std::int64_t j = 0; j < k; ++j) {
    float* q = a + j * ld;
    launch_normalize_column(q, m, r + j * k + j, s, sync);
    const std::int64_t rest = k - j - 1;
    if (rest == 0) break;
    float* coeffs = r + j * k + j + 1;
    launch_project_coeffs(dot, a + (j + 1) * ld, m, rest, ld, q, coeffs, s, sync);
    launch_rank1_update(a + (j + 1) * ld, m, rest, ld, q, coeffs, s, sync);
  }
}

// RAII stream and event for the multi-stream SVD step.
class OwnedStream {
 public:
  OwnedStream() { KNNX_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~OwnedStream() {
    cudaStreamSynchronize(s_);
    cudaStreamDestroy(s_);
  }
  OwnedStream(const OwnedStream&) = delete;
  OwnedStream& operator=(const OwnedStream&) = delete;
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

class OwnedEvent {
 public:
  OwnedEvent() { KNNX_CUDA_CHECK(cudaEventCreateWithFlags(&e_, cudaEventDisableTiming)); }
  ~OwnedEvent() { cudaEventDestroy(e_); }
  OwnedEvent(const OwnedEvent&) = delete;
  OwnedEvent& operator=(const OwnedEvent&) = delete;
  cudaEvent_t get() const { return e_; }

 private:
  cudaEvent_t e_ = nullptr;
};

// Orthonormal columns of the row-major n x p matrix z, written row-major into v (z is clobbered
// as scratch through zc, a p x n buffer).
void orthonormalize_rows(float* z, std::int64_t n, std::int64_t p, float* zc, float* r, float* v,
                         const LinalgSettings& settings, StreamContext& ctx) {
  const cudaStream_t s = ctx.stream();
  launch_transpose(z, n, p, p, zc, n, s, settings.sync_check);
  mgs_qr(zc, n, p, n, r, settings, ctx);
  launch_transpose(zc, p, n, n, v, p, s, settings.sync_check);
}

}  // namespace

LinalgSettings linalg_settings(const detail::DenseKnobs& knobs, int device) {
  LinalgSettings s;
  s.tile_av = resolve_gemm_tile(GemmOp::AV, knobs.gemm_tile_av, device);
  s.tile_atb = resolve_gemm_tile(GemmOp::AtB, knobs.gemm_tile_atb, device);
  s.qr_dot = knobs.qr_dot;
  s.qr_warp_min_rows = knobs.qr_warp_min_rows;
  s.svd_band = knobs.svd_band;
  s.svd_streams = knobs.svd_streams;
  s.sync_check = knobs.sync_check;
  return s;
}

QrDot pick_qr_dot(const LinalgSettings& settings, std::int64_t m) {
  if (settings.qr_dot == "simple") return QrDot::Simple;
  if (settings.qr_dot == "warp") return QrDot::Warp;
  return m >= settings.qr_warp_min_rows ? QrDot::Warp : QrDot::Simple;
}

void mgs_qr(float* a, std::int64_t m, std::int64_t k, std::int64_t ld, float* r,
            const LinalgSettings& settings, StreamContext& ctx) {
  if (k > m || ld < m) {
    throw InvalidArgument(fmt::format("mgs_qr: need k <= m and ld >= m, got m={} k={} ld={}", m,
                                      k, ld));
  }
  if (k == 0) return;
  const cudaStream_t s = ctx.stream();
  const QrDot dot = pick_qr_dot(settings, m);
  DeviceBuffer<float> r1(elems(k, k), s);
  DeviceBuffer<float> r2(elems(k, k), s);
  mgs_pass(a, m, k, ld, r1.data(), dot, settings.sync_check, s);
  mgs_pass(a, m, k, ld, r2.data(), dot, settings.sync_check, s);
  if (r != nullptr) launch_upper_product(r2.data(), r1.data(), r, static_cast<int>(k), s,
                                         settings.sync_check);
}

void svd_z_step(const float* a, std::int64_t m, std::int64_t n, std::int64_t lda, const float* v,
                std::int64_t p, float* z, const LinalgSettings& settings, StreamContext& ctx) {
  const cudaStream_t main = ctx.stream();
  const bool sync = settings.sync_check;
  const int streams = std::max(1, settings.svd_streams);
  std::int64_t band = settings.svd_band;
  if (band == 0 && streams > 1) band = (m + streams - 1) / streams;
  if (band == 0 || band >= m) {
    DeviceBuffer<float> w(elems(m, p), main);
    gemm_av(settings.tile_av, m, n, p, 1.0f, a, lda, v, p, 0.0f, w.data(), p, main, sync);
    gemm_at_b(settings.tile_atb, m, n, p, 1.0f, a, lda, w.data(), p, 0.0f, z, p, main, sync);
    return;
  }
  const std::int64_t n_bands = (m + band - 1) / band;
  const int used = static_cast<int>(std::min<std::int64_t>(streams, n_bands));
  if (used == 1) {
    DeviceBuffer<float> w(elems(band, p), main);
    for (std::int64_t b = 0; b < n_bands; ++b) {
      const std::int64_t r0 = b * band;
      const std::int64_t rows = std::min(band, m - r0);
      gemm_av(settings.tile_av, rows, n, p, 1.0f, a + r0 * lda, lda, v, p, 0.0f, w.data(), p, main,
              sync);
      gemm_at_b(settings.tile_atb, rows, n, p, 1.0f, a + r0 * lda, lda, w.data(), p,
                b == 0 ? 0.0f : 1.0f, z, p, main, sync);
    }
    return;
  }
  // Buffers come from the main stream; the side streams start after their allocation and the
  // main stream waits for all of them before the sum (and before the buffers are freed).
  DeviceBuffer<float> w(elems(band, p) * used, main);
  DeviceBuffer<float> partial(elems(n, p) * used, main);
  std::vector<std::unique_ptr<OwnedStream>> side(static_cast<std::size_t>(used));
  std::vector<std::unique_ptr<OwnedEvent>> done(static_cast<std::size_t>(used));
  OwnedEvent ready;
  KNNX_CUDA_CHECK(cudaEventRecord(ready.get(), main));
  for (int i = 0; i < used; ++i) {
    side[static_cast<std::size_t>(i)] = std::make_unique<OwnedStream>();
    done[static_cast<std::size_t>(i)] = std::make_unique<OwnedEvent>();
    KNNX_CUDA_CHECK(cudaStreamWaitEvent(side[static_cast<std::size_t>(i)]->get(), ready.get(), 0));
  }
  for (std::int64_t b = 0; b < n_bands; ++b) {
    const int i = static_cast<int>(b % used);
    const cudaStream_t s = side[static_cast<std::size_t>(i)]->get();
    const std::int64_t r0 = b * band;
    const std::int64_t rows = std::min(band, m - r0);
    float* wi = w.data() + elems(band, p) * i;
    float* zi = partial.data() + elems(n, p) * i;
    gemm_av(settings.tile_av, rows, n, p, 1.0f, a + r0 * lda, lda, v, p, 0.0f, wi, p, s, sync);
    gemm_at_b(settings.tile_atb, rows, n, p, 1.0f, a + r0 * lda, lda, wi, p,
              b < used ? 0.0f : 1.0f, zi, p, s, sync);
  }
  for (int i = 0; i < used; ++i) {
    KNNX_CUDA_CHECK(cudaEventRecord(done[static_cast<std::size_t>(i)]->get(),
                                    side[static_cast<std::size_t>(i)]->get()));
    KNNX_CUDA_CHECK(cudaStreamWaitEvent(main, done[static_cast<std::size_t>(i)]->get(), 0));
  }
  launch_sum_parts(partial.data(), used, static_cast<std::int64_t>(elems(n, p)),
                   static_cast<std::int64_t>(elems(n, p)), z, main, sync);
}

SvdOutput svd_device(const float* a, std::int64_t m, std::int64_t n, std::int64_t lda, int rank,
                     int p, int n_iter, const std::vector<float>& v0,
                     const LinalgSettings& settings, StreamContext& ctx) {
  const cudaStream_t s = ctx.stream();
  const bool sync = settings.sync_check;
  DeviceBuffer<float> v(elems(n, p), s);
  DeviceBuffer<float> z(elems(n, p), s);
  DeviceBuffer<float> zc(elems(n, p), s);
  DeviceBuffer<float> r(elems(p, p), s);
  to_device(z, v0.data(), elems(n, p), s);
  orthonormalize_rows(z.data(), n, p, zc.data(), r.data(), v.data(), settings, ctx);
  for (int it = 0; it < n_iter; ++it) {
    svd_z_step(a, m, n, lda, v.data(), p, z.data(), settings, ctx);
    orthonormalize_rows(z.data(), n, p, zc.data(), r.data(), v.data(), settings, ctx);
  }
  // Rayleigh-Ritz: A V = Qw R, R = Ur S Vr^T, so A ~ (Qw Ur) S (V Vr)^T.
  DeviceBuffer<float> w(elems(m, p), s);
  DeviceBuffer<float> wc(elems(m, p), s);
  gemm_av(settings.tile_av, m, n, p, 1.0f, a, lda, v.data(), p, 0.0f, w.data(), p, s, sync);
  launch_transpose(w.data(), m, p, p, wc.data(), m, s, sync);
  mgs_qr(wc.data(), m, p, m, r.data(), settings, ctx);
  std::vector<float> r_host(elems(p, p));
  to_host(r_host.data(), r.data(), r_host.size(), s);
  ctx.synchronize();

  std::vector<double> rd(r_host.begin(), r_host.end());
  std::vector<double> sv(static_cast<std::size_t>(p));
  std::vector<double> ur(elems(p, p));
  std::vector<double> vrt(elems(p, p));
  std::vector<double> superb(static_cast<std::size_t>(std::max(1, p - 1)));
  const lapack_int info = LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'A', 'A', p, p, rd.data(), p, sv.data(),
                                         ur.data(), p, vrt.data(), p, superb.data());
  if (info != 0) throw Error(fmt::format("LAPACKE_dgesvd failed with info={}", info));
  // Ur[:, :rank] and Vr[:, :rank] (Vr = Vrt^T) as p x rank row-major.
  std::vector<float> ur_top(elems(p, rank));
  std::vector<float> vr_top(elems(p, rank));
  for (int i = 0; i < p; ++i) {
    for (int j = 0; j < rank; ++j) {
      ur_top[elems(i, rank) + j] = static_cast<float>(ur[elems(i, p) + j]);
      vr_top[elems(i, rank) + j] = static_cast<float>(vrt[elems(j, p) + i]);
    }
  }
  DeviceBuffer<float> ur_d(ur_top.size(), s);
  DeviceBuffer<float> vr_d(vr_top.size(), s);
  to_device(ur_d, ur_top.data(), ur_top.size(), s);
  to_device(vr_d, vr_top.data(), vr_top.size(), s);
  launch_transpose(wc.data(), p, m, m, w.data(), p, s, sync);  // Qw row-major m x p
  DeviceBuffer<float> u_d(elems(m, rank), s);
  DeviceBuffer<float> v_d(elems(n, rank), s);
  gemm_av(settings.tile_av, m, p, rank, 1.0f, w.data(), p, ur_d.data(), rank, 0.0f, u_d.data(),
          rank, s, sync);
  gemm_av(settings.tile_av, n, p, rank, 1.0f, v.data(), p, vr_d.data(), rank, 0.0f, v_d.data(),
          rank, s, sync);
  SvdOutput out;
  out.s.resize(static_cast<std::size_t>(rank));
  for (int j = 0; j < rank; ++j) out.s[static_cast<std::size_t>(j)] = static_cast<float>(sv[static_cast<std::size_t>(j)]);
  out.u.resize(elems(m, rank));
  out.v.resize(elems(n, rank));
  to_host(out.u.data(), u_d.data(), out.u.size(), s);
  to_host(out.v.data(), v_d.data(), out.v.size(), s);
  ctx.synchronize();
  return out;
}

// ---- host-pointer conveniences ----------------------------------------------------------------

namespace {

struct Session {
  Session(int device, const LinalgSettings& settings)
      : guard(device), ctx((init_device_pool(device), device)), settings(settings) {}
  DeviceGuard guard;
  StreamContext ctx;
  const LinalgSettings& settings;
};

}  // namespace

void gemm_av_host(int device, std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                  const float* v, float* c, const LinalgSettings& settings) {
  Session ses(device, settings);
  const cudaStream_t s = ses.ctx.stream();
  DeviceBuffer<float> a_d(elems(m, n), s), v_d(elems(n, k), s), c_d(elems(m, k), s);
  to_device(a_d, a, a_d.size(), s);
  to_device(v_d, v, v_d.size(), s);
  gemm_av(ses.settings.tile_av, m, n, k, 1.0f, a_d.data(), n, v_d.data(), k, 0.0f, c_d.data(), k, s,
          ses.settings.sync_check);
  to_host(c, c_d.data(), c_d.size(), s);
  ses.ctx.synchronize();
}

void gemm_at_b_host(int device, std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                    const float* b, float* c, const LinalgSettings& settings) {
  Session ses(device, settings);
  const cudaStream_t s = ses.ctx.stream();
  DeviceBuffer<float> a_d(elems(m, n), s), b_d(elems(m, k), s), c_d(elems(n, k), s);
  to_device(a_d, a, a_d.size(), s);
  to_device(b_d, b, b_d.size(), s);
  gemm_at_b(ses.settings.tile_atb, m, n, k, 1.0f, a_d.data(), n, b_d.data(), k, 0.0f, c_d.data(),
            k, s, ses.settings.sync_check);
  to_host(c, c_d.data(), c_d.size(), s);
  ses.ctx.synchronize();
}

void project_coeffs_host(int device, std::int64_t m, std::int64_t k, const float* q_cols,
                         const float* v, float* c, const LinalgSettings& settings) {
  Session ses(device, settings);
  const cudaStream_t s = ses.ctx.stream();
  DeviceBuffer<float> q_d(elems(k, m), s), v_d(static_cast<std::size_t>(m), s),
      c_d(static_cast<std::size_t>(k), s);
  to_device(q_d, q_cols, q_d.size(), s);
  to_device(v_d, v, v_d.size(), s);
  launch_project_coeffs(pick_qr_dot(ses.settings, m), q_d.data(), m, k, m, v_d.data(), c_d.data(),
                        s, ses.settings.sync_check);
  to_host(c, c_d.data(), c_d.size(), s);
  ses.ctx.synchronize();
}

void qr_host(int device, std::int64_t m, std::int64_t k, const float* a, float* q, float* r,
             const LinalgSettings& settings) {
  Session ses(device, settings);
  const cudaStream_t s = ses.ctx.stream();
  DeviceBuffer<float> a_d(elems(m, k), s), ac(elems(m, k), s), r_d(elems(k, k), s);
  to_device(a_d, a, a_d.size(), s);
  launch_transpose(a_d.data(), m, k, k, ac.data(), m, s, ses.settings.sync_check);
  mgs_qr(ac.data(), m, k, m, r_d.data(), ses.settings, ses.ctx);
  launch_transpose(ac.data(), k, m, m, a_d.data(), k, s, ses.settings.sync_check);
  to_host(q, a_d.data(), a_d.size(), s);
  to_host(r, r_d.data(), r_d.size(), s);
  ses.ctx.synchronize();
}

SvdOutput svd_host(int device, std::int64_t m, std::int64_t n, const float* a, int rank, int p,
                   int n_iter, const std::vector<float>& v0, const LinalgSettings& settings) {
  Session ses(device, settings);
  const cudaStream_t s = ses.ctx.stream();
  DeviceBuffer<float> a_d(elems(m, n), s);
  to_device(a_d, a, a_d.size(), s);
  return svd_device(a_d.data(), m, n, n, rank, p, n_iter, v0, ses.settings, ses.ctx);
}

void gram_host(int device, std::int64_t n, std::int64_t d, const float* x, const float* shift,
               std::int64_t chunk_rows, float* gram, const LinalgSettings& settings) {
  Session ses(device, settings);
  const cudaStream_t s = ses.ctx.stream();
  const bool sync = ses.settings.sync_check;
  const std::int64_t rows = std::max<std::int64_t>(1, std::min(chunk_rows, n));
  DeviceBuffer<float> chunk(elems(rows, d), s), g(elems(d, d), s), shift_d(static_cast<std::size_t>(d), s);
  if (shift != nullptr) to_device(shift_d, shift, static_cast<std::size_t>(d), s);
  KNNX_CUDA_CHECK(cudaMemsetAsync(g.data(), 0, elems(d, d) * sizeof(float), s));
  for (std::int64_t r0 = 0; r0 < n; r0 += rows) {
    const std::int64_t nr = std::min(rows, n - r0);
    to_device(chunk, x + r0 * d, elems(nr, d), s);
    if (shift != nullptr) launch_rows_affine(chunk.data(), nr, d, shift_d.data(), nullptr, s, sync);
    gemm_at_b(ses.settings.tile_atb, nr, d, d, 1.0f, chunk.data(), d, chunk.data(), d, 1.0f,
              g.data(), d, s, sync);
  }
  to_host(gram, g.data(), elems(d, d), s);
  ses.ctx.synchronize();
}

void affine_map_host(int device, std::int64_t n, std::int64_t d_in, std::int64_t d_out,
                     const float* x, const float* shift_in, const float* w, const float* shift_out,
                     float* out, std::int64_t chunk_rows, const LinalgSettings& settings) {
  Session ses(device, settings);
  const cudaStream_t s = ses.ctx.stream();
  const bool sync = ses.settings.sync_check;
  const std::int64_t rows = std::max<std::int64_t>(1, std::min(chunk_rows, n));
  DeviceBuffer<float> in(elems(rows, d_in), s), res(elems(rows, d_out), s),
      w_d(elems(d_in, d_out), s), sin(static_cast<std::size_t>(d_in), s),
      sout(static_cast<std::size_t>(d_out), s);
  to_device(w_d, w, elems(d_in, d_out), s);
  if (shift_in != nullptr) to_device(sin, shift_in, static_cast<std::size_t>(d_in), s);
  if (shift_out != nullptr) to_device(sout, shift_out, static_cast<std::size_t>(d_out), s);
  for (std::int64_t r0 = 0; r0 < n; r0 += rows) {
    const std::int64_t nr = std::min(rows, n - r0);
    to_device(in, x + r0 * d_in, elems(nr, d_in), s);
    if (shift_in != nullptr) launch_rows_affine(in.data(), nr, d_in, sin.data(), nullptr, s, sync);
    gemm_av(ses.settings.tile_av, nr, d_in, d_out, 1.0f, in.data(), d_in, w_d.data(), d_out, 0.0f,
            res.data(), d_out, s, sync);
    if (shift_out != nullptr) {
      launch_rows_affine(res.data(), nr, d_out, sout.data(), nullptr, s, sync);
    }
    to_host(out + r0 * d_out, res.data(), elems(nr, d_out), s);
  }
  ses.ctx.synchronize();
}

void l2_normalize_host(int device, std::int64_t n, std::int64_t d, const float* x, float* out,
                       std::int64_t chunk_rows, const LinalgSettings& settings) {
  Session ses(device, settings);
  const cudaStream_t s = ses.ctx.stream();
  const std::int64_t rows = std::max<std::int64_t>(1, std::min(chunk_rows, n));
  DeviceBuffer<float> buf(elems(rows, d), s);
  for (std::int64_t r0 = 0; r0 < n; r0 += rows) {
    const std::int64_t nr = std::min(rows, n - r0);
    to_device(buf, x + r0 * d, elems(nr, d), s);
    launch_l2_normalize_rows(buf.data(), nr, d, s, ses.settings.sync_check);
    to_host(out + r0 * d, buf.data(), elems(nr, d), s);
  }
  ses.ctx.synchronize();
}

}  // namespace knnx::cuda

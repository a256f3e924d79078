#include "progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <utility>

namespace knnx::cli {
namespace {

constexpr double kRedrawSeconds = 0.1;

std::string format_eta(double seconds) {
  if (seconds < 60.0) return fmt::format("{:.0f} s", seconds);
  const auto s = static_cast<long long>(seconds);
  if (s < 3600) return fmt::format("{}m{:02d}s", s / 60, static_cast<int>(s % 60));
  return fmt::format("{}h{:02d}m", s / 3600, static_cast<int>(s / 60 % 60));
}

}  // namespace

bool progress_wanted(bool quiet) { return !quiet && ::isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::string label, double total, std::string unit, bool enabled)
    : label_(std::move(label)), total_(total), unit_(std::move(unit)), enabled_(enabled) {}

Progress::~Progress() {
  // A step that threw leaves its line as it was; end it so the error starts on a new line.
  if (enabled_ && !finished_ && last_width_ > 0) std::fputc('\n', stderr);
}

void Progress::update(double done, const std::string& note) {
  done_ = done;
  note_ = note;
  if (!enabled_) return;
  const double now = watch_.seconds();
  if (last_draw_ >= 0.0 && now - last_draw_ < kRedrawSeconds) return;
  last_draw_ = now;
  draw(done, note);
}

void Progress::finish(const std::string& note) {
  if (!enabled_ || finished_) return;
  draw(done_, note.empty() ? note_ : note);
  std::fputc('\n', stderr);
  finished_ = true;
}

void Progress::draw(double done, const std::string& note) {
  const double seconds = watch_.seconds();
  const double pct = total_ > 0.0 ? 100.0 * done / total_ : 100.0;
  std::string line = fmt::format("{}: {:.0f}/{:.0f} {} ({:.0f}%)", label_, done, total_, unit_, pct);
  if (seconds > 0.0 && done > 0.0) {
    const double rate = done / seconds;
    line += fmt::format("  {}", format_rate(rate, unit_ + "/s"));
    if (done < total_) line += fmt::format("  ETA {}", format_eta((total_ - done) / rate));
  }
  line += fmt::format("  {}", format_duration(seconds));
  if (!note.empty()) line += "  " + note;
  // Pad over whatever was longer on the previous draw.
  const std::size_t width = line.size();
  if (width < last_width_) line.append(last_width_ - width, ' ');
  last_width_ = width;
  fmt::print(stderr, "\r{}", line);
  std::fflush(stderr);
}

}  // namespace knnx::cli

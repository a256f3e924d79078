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

ProgressStyle progress_style(bool quiet, double log_seconds) {
  ProgressStyle style;
  style.log_seconds = log_seconds;
  if (quiet) {
    style.kind = ProgressStyle::Kind::Off;
  } else if (::isatty(STDERR_FILENO) == 1) {
    style.kind = ProgressStyle::Kind::Terminal;
  } else {
    style.kind = ProgressStyle::Kind::Log;
  }
  return style;
}

void add_progress_options(CLI::App* app, bool& quiet, double& every_seconds) {
  app->add_flag("-q,--quiet", quiet, "No progress on stderr");
  app->add_option("--progress-every", every_seconds,
                  "When stderr is not a terminal: seconds between progress lines")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
}

Progress::Progress(std::string label, double total, std::string unit, ProgressStyle style)
    : label_(std::move(label)), total_(total), unit_(std::move(unit)), style_(style) {}

Progress::~Progress() {
  // A step that threw leaves its line as it was; end it so the error starts on a new line.
  if (style_.kind == ProgressStyle::Kind::Terminal && !finished_ && last_width_ > 0) {
    std::fputc('\n', stderr);
  }
}

void Progress::update(double done, const std::string& note) {
  done_ = done;
  note_ = note;
  const double now = watch_.seconds();
  switch (style_.kind) {
    case ProgressStyle::Kind::Off:
      return;
    case ProgressStyle::Kind::Terminal:
      if (last_draw_ >= 0.0 && now - last_draw_ < kRedrawSeconds) return;
      break;
    case ProgressStyle::Kind::Log:
      // The first line after log_seconds, then one every log_seconds.
      if (now - std::max(last_draw_, 0.0) < style_.log_seconds) return;
      break;
  }
  last_draw_ = now;
  draw(done, note);
}

void Progress::finish(const std::string& note) {
  if (finished_) return;
  finished_ = true;
  const std::string& last = note.empty() ? note_ : note;
  if (style_.kind == ProgressStyle::Kind::Terminal) {
    draw(done_, last);
    std::fputc('\n', stderr);
  } else if (style_.kind == ProgressStyle::Kind::Log &&
             (logged_ || watch_.seconds() >= style_.log_seconds) &&
             !(logged_ && logged_done_ == done_ && logged_note_ == last)) {
    draw(done_, last);
  }
}

std::string Progress::line(double done, const std::string& note) const {
  const double seconds = watch_.seconds();
  const double pct = total_ > 0.0 ? 100.0 * done / total_ : 100.0;
  std::string out = fmt::format("{}: {:.0f}/{:.0f} {} ({:.0f}%)", label_, done, total_, unit_, pct);
  if (seconds > 0.0 && done > 0.0) {
    const double rate = done / seconds;
    out += fmt::format("  {}", format_rate(rate, unit_ + "/s"));
    if (done < total_) out += fmt::format("  ETA {}", format_eta((total_ - done) / rate));
  }
  out += fmt::format("  {}", format_duration(seconds));
  if (!note.empty()) out += "  " + note;
  return out;
}

void Progress::draw(double done, const std::string& note) {
  std::string text = line(done, note);
  if (style_.kind == ProgressStyle::Kind::Log) {
    fmt::print(stderr, "{}\n", text);
    logged_ = true;
    logged_done_ = done;
    logged_note_ = note;
    std::fflush(stderr);
    return;
  }
  // Pad over whatever was longer on the previous draw.
  const std::size_t width = text.size();
  if (width < last_width_) text.append(last_width_ - width, ' ');
  last_width_ = width;
  fmt::print(stderr, "\r{}", text);
  std::fflush(stderr);
}

}  // namespace knnx::cli

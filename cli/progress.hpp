// cli/progress.hpp — progress of long steps (training, adding, a benchmark sweep) on stderr:
// done / total, percentage, rate and estimated time left. On a terminal one line is redrawn in
// place at most ten times a second; elsewhere (a pipe, a file, a CI log) a plain line is written
// every few seconds, and a last one when the step ends, so logs show progress without flooding.
#pragma once

#include <string>

#include "common.hpp"

namespace knnx::cli {

// How progress is shown: not at all (--quiet), redrawn in place (stderr is a terminal) or as
// periodic log lines every `log_seconds` (stderr is not a terminal).
struct ProgressStyle {
  enum class Kind { Off, Terminal, Log } kind = Kind::Off;
  double log_seconds = 10.0;
};

// The style for this process's stderr: Off when quiet, else Terminal or Log.
ProgressStyle progress_style(bool quiet, double log_seconds = 10.0);

// Registers -q,--quiet and --progress-every SECONDS.
void add_progress_options(CLI::App* app, bool& quiet, double& every_seconds);

class Progress {
 public:
  // label: what is being done ("add"); unit: what total counts ("vectors").
  Progress(std::string label, double total, std::string unit, ProgressStyle style);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // done units of total are complete; note is appended to the line (e.g. an objective value).
  void update(double done, const std::string& note = {});
  // Shows the final state (with the last note unless another is given): on a terminal always,
  // in a log when the step lasted long enough to have logged before.
  void finish(const std::string& note = {});

 private:
  std::string line(double done, const std::string& note) const;
  void draw(double done, const std::string& note);

  std::string label_;
  double total_;
  std::string unit_;
  ProgressStyle style_;
  bool finished_ = false;
  Stopwatch watch_;
  double last_draw_ = -1.0;  // terminal: last redraw; log: last line written
  bool logged_ = false;      // log: a line was written; the state it showed:
  double logged_done_ = 0.0;
  std::string logged_note_;
  double done_ = 0.0;
  std::string note_;
  std::size_t last_width_ = 0;
};

}  // namespace knnx::cli

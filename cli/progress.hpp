// cli/progress.hpp — a one-line progress report on stderr for long steps (training, adding):
// done / total, percentage, rate and estimated time left, redrawn in place at most ten times a
// second. Reports only when enabled and stderr is a terminal, so pipes, files and CI logs get
// none of it.
#pragma once

#include <string>

#include "common.hpp"

namespace knnx::cli {

// Whether progress lines should be drawn: not --quiet, and stderr is a terminal.
bool progress_wanted(bool quiet);

class Progress {
 public:
  // label: what is being done ("add"); unit: what total counts ("vectors").
  Progress(std::string label, double total, std::string unit, bool enabled);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // done units of total are complete; note is appended to the line (e.g. an objective value).
  void update(double done, const std::string& note = {});
  // Draws the final state (with the last note unless another is given) and ends the line.
  void finish(const std::string& note = {});

 private:
  void draw(double done, const std::string& note);

  std::string label_;
  double total_;
  std::string unit_;
  bool enabled_;
  bool finished_ = false;
  Stopwatch watch_;
  double last_draw_ = -1.0;
  double done_ = 0.0;
  std::string note_;
  std::size_t last_width_ = 0;
};

}  // namespace knnx::cli

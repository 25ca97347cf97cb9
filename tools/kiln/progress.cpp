#include "progress.hpp"

#include <unistd.h>

#include <cmath>

namespace kiln_tool {

Progress::Progress(std::FILE* out, int64_t epochs)
    : out_(out), epochs_(epochs), tty_(isatty(fileno(out)) != 0) {}

std::string Progress::clock(double seconds) {
  const auto s = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  }
  return buf;
}

std::string Progress::bar_line(const kiln::classification::StepProgress& p, int64_t epochs,
                               int width) {
  const double frac = p.steps_per_epoch > 0
                          ? static_cast<double>(p.step) / static_cast<double>(p.steps_per_epoch)
                          : 0.0;
  const int filled = static_cast<int>(frac * width);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(static_cast<size_t>(width), '.');
  const double rate = p.seconds > 0 ? static_cast<double>(p.examples) / p.seconds : 0.0;
  const double eta = p.step > 0 ? p.seconds / static_cast<double>(p.step) *
                                      static_cast<double>(p.steps_per_epoch - p.step)
                                : 0.0;
  char buf[256];
  std::snprintf(buf, sizeof buf, "epoch %lld/%lld [%s] %lld/%lld loss %.4f %.0f ex/s ETA %s",
                static_cast<long long>(p.epoch), static_cast<long long>(epochs), bar.c_str(),
                static_cast<long long>(p.step), static_cast<long long>(p.steps_per_epoch),
                p.mean_loss, rate, clock(eta).c_str());
  return buf;
}

void Progress::step(const kiln::classification::StepProgress& p) {
  if (tty_) {
    // Redraw at most every step; the terminal keeps up with ~1000 lines/s, steps are slower.
    std::fprintf(out_, "\r%s", bar_line(p, epochs_, 30).c_str());
    std::fflush(out_);
    line_open_ = true;
    return;
  }
  // Not a terminal: a line at each tenth of the epoch.
  const int64_t tenth = p.steps_per_epoch > 0 ? p.step * 10 / p.steps_per_epoch : 0;
  if (p.step == 1) last_logged_tenth_ = 0;
  if (tenth > last_logged_tenth_ && tenth < 10) {
    last_logged_tenth_ = tenth;
    const double rate = p.seconds > 0 ? static_cast<double>(p.examples) / p.seconds : 0.0;
    std::fprintf(out_, "epoch %lld/%lld step %lld/%lld loss %.4f %.0f ex/s\n",
                 static_cast<long long>(p.epoch), static_cast<long long>(epochs_),
                 static_cast<long long>(p.step), static_cast<long long>(p.steps_per_epoch),
                 p.mean_loss, rate);
    std::fflush(out_);
  }
}

void Progress::end_epoch() {
  if (tty_ && line_open_) {
    std::fprintf(out_, "\n");
    line_open_ = false;
  }
}

}  // namespace kiln_tool

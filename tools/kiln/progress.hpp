// Progress output for long work: a one-line bar redrawn in place on a terminal, plain log lines
// (about ten per epoch) when stderr is a file or a pipe, so logs stay readable.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "kiln/classification.hpp"

namespace kiln_tool {

class Progress {
 public:
  // `out` is where progress goes (stderr); a terminal gets the bar, anything else log lines.
  Progress(std::FILE* out, int64_t epochs);
  void step(const kiln::classification::StepProgress& p);
  // Ends the bar's line (a terminal) before the epoch's summary is printed.
  void end_epoch();

  // "1:05" / "1:02:03".
  static std::string clock(double seconds);
  // The bar line, without '\r': "epoch 2/10 [#####.....] 234/469 loss 0.4123 15234 ex/s ETA 0:07".
  static std::string bar_line(const kiln::classification::StepProgress& p, int64_t epochs,
                              int width);

 private:
  std::FILE* out_;
  int64_t epochs_;
  bool tty_;
  bool line_open_ = false;
  int64_t last_logged_tenth_ = -1;
};

}  // namespace kiln_tool

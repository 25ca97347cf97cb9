// `kiln train fashion-mnist`, `kiln eval`, `kiln predict`: the Fashion-MNIST workflow from the
// command line (docs/fashion-mnist.md). Training runs on the cpu (on several of its devices,
// data-parallel, with --devices N); eval and predict run on the device --device names (a PJRT
// plugin's platform, docs/pjrt.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln_tool {

struct TrainArgs {
  std::string dataset = "fashion-mnist";
  std::string model = "mlp";
  int64_t epochs = 10;
  int64_t batch_size = 128;
  double lr = 1e-3;
  uint32_t seed = 0;
  std::string out;
  std::string data_dir;    // empty: data::default_fashion_mnist_dir()
  int64_t limit = 0;       // > 0: train on the first `limit` training images only (quick runs)
  bool resume = false;     // continue the run in `out`
  bool overwrite = false;  // replace the run in `out`
  // > 1: train data-parallel on this many of kiln's cpu devices (docs/multi-device.md). Not a
  // setting of the run: --resume may continue it on another count.
  int devices = 1;
  // The options given on the command line (--model, --batch-size, --lr, --seed, --limit, --epochs,
  // --data): with --resume, the others come from the run's own settings.
  std::vector<std::string> given;
};
int train(const TrainArgs& args);

struct EvalArgs {
  std::string params;
  std::string model = "mlp";
  std::string data_dir;
  int64_t batch_size = 1000;
  std::string device = "cpu";  // cpu, tt, any registered platform, or auto (tt when present)
};
int eval(const EvalArgs& args);

struct PredictArgs {
  std::string params;
  std::string model = "mlp";
  std::vector<std::string> images;  // PNG, PGM or IDX files
  int top = 3;
  std::string device = "cpu";
};
int predict(const PredictArgs& args);

}  // namespace kiln_tool

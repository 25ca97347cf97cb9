// Built-in models: the ones `kiln train`, `kiln eval`, `kiln predict` (and later `kiln export`)
// know by name. Each is an ordinary nn::Module, the way a user would write it;
// `image_classifier(name)` wraps one behind a uniform interface for the command-line tool.
//
//   Fashion-MNIST (28x28 grayscale, 10 classes):
//     "mlp": flatten -> Dense 512 -> relu -> Dropout 0.2 -> Dense 512 -> relu -> Dropout 0.2 ->
//     Dense 10 "cnn": Conv 32 3x3 SAME -> relu -> max_pool 2x2 -> Conv 64 3x3 SAME -> relu ->
//     max_pool 2x2 ->
//            flatten -> Dropout 0.25 -> Dense 128 -> relu -> Dropout 0.5 -> Dense 10
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/data.hpp"
#include "kiln/nn.hpp"
#include "kiln/tree.hpp"

namespace kiln::models {

// The Fashion-MNIST multi-layer perceptron. Input: float32 [B, 784] (or [B, 28, 28, 1]: flattened).
struct FashionMLP : nn::Module<FashionMLP> {
  int64_t hidden = 512;
  double dropout_rate = 0.2;
  // train: dropout on (needs a "dropout" rng); false: deterministic.
  Array operator()(nn::Scope& s, const Array& x, bool train) const;
};

// The Fashion-MNIST convolutional network. Input: float32 [B, 28, 28, 1] (NHWC).
struct FashionCNN : nn::Module<FashionCNN> {
  Array operator()(nn::Scope& s, const Array& x, bool train) const;
};

// The tutorial's SimpleMLP (examples/tutorial.cpp): Dense 8 -> relu -> Dense 1, every weight and
// bias initialised to 0.01. Input: float32 [B, 4]. (`kiln export --model tutorial`.)
struct TutorialMLP : nn::Module<TutorialMLP> {
  int64_t features = 8;
  Array operator()(nn::Scope& s, const Array& x) const;
};

// A model behind one interface: what the command-line tool trains, evaluates and serves.
struct ImageClassifier {
  std::string name;
  data::Layout layout = data::Layout::flat;
  int64_t num_classes = 10;
  // Input pixels are fed as (x / 255 - input_mean) / input_std: Fashion-MNIST's training-set mean
  // and standard deviation, so training, evaluation and prediction normalise alike.
  float input_mean = 0.2860f;
  float input_std = 0.3530f;
  // Flax's model.init({'params': rng}, example, train=False): {"params": {...}}.
  std::function<Tree(const Array& rng, const Array& example)> init;
  // Logits [B, num_classes]. train=true applies dropout with `dropout_rng` (a key).
  std::function<Array(const Tree& variables, const Array& x, bool train, const Array& dropout_rng)>
      apply;
  // apply(variables, x, true, dropout_rng) on `rows` of a global batch split over processes: the
  // dropout masks are those of the whole batch, these rows of them (nn::BatchRows).
  std::function<Array(const Tree& variables, const Array& x, const Array& dropout_rng,
                      nn::BatchRows rows)>
      apply_rows;
};

// "mlp" or "cnn"; kiln::ValueError listing the names for anything else.
ImageClassifier image_classifier(const std::string& name, Loc loc = Loc::current());
std::vector<std::string> image_classifier_names();

}  // namespace kiln::models

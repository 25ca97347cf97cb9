// The built-in Fashion-MNIST classifiers (include/kiln/models.hpp).
//
// Why these two: the MLP is the 784-512-512-10 network of the CPU-performance issue with dropout
// added (without it the network overfits after a few epochs and stalls below 89% test accuracy);
// the CNN is the "two conv layers + pooling" family of Fashion-MNIST's own benchmark table, with
// dropout before and after its hidden dense layer, the usual recipe for it.
#include <algorithm>

#include "kiln/error.hpp"
#include "kiln/models.hpp"
#include "kiln/nn/convolution.hpp"
#include "kiln/nn/dropout.hpp"
#include "kiln/nn/pooling.hpp"
#include "kiln/ops.hpp"

namespace kiln::models {

Array FashionMLP::operator()(nn::Scope& s, const Array& x, bool train) const {
  Array h = nn::flatten(x);
  h = relu(nn::Dense({.features = hidden})(s, h));
  h = nn::Dropout({.rate = dropout_rate})(s, h, /*deterministic=*/!train);
  h = relu(nn::Dense({.features = hidden})(s, h));
  h = nn::Dropout({.rate = dropout_rate})(s, h, /*deterministic=*/!train);
  return nn::Dense({.features = 10})(s, h);
}

Array FashionCNN::operator()(nn::Scope& s, const Array& x, bool train) const {
  Array h = relu(nn::Conv({.features = 32, .kernel_size = {3, 3}})(s, x));
  h = nn::max_pool(h, {2, 2}, {2, 2});
  h = relu(nn::Conv({.features = 64, .kernel_size = {3, 3}})(s, h));
  h = nn::max_pool(h, {2, 2}, {2, 2});
  h = nn::flatten(h);
  h = nn::Dropout({.rate = 0.25})(s, h, /*deterministic=*/!train);
  h = relu(nn::Dense({.features = 128})(s, h));
  h = nn::Dropout({.rate = 0.5})(s, h, /*deterministic=*/!train);
  return nn::Dense({.features = 10})(s, h);
}

namespace {

template <class Model>
ImageClassifier wrap(std::string name, data::Layout layout, Model model) {
  ImageClassifier c;
  c.name = std::move(name);
  c.layout = layout;
  c.init = [model](const Array& rng, const Array& example) {
    return model.init(rng, example, /*train=*/false);
  };
  c.apply = [model](const Tree& variables, const Array& x, bool train, const Array& dropout_rng) {
    if (!train) return model.apply(variables, x, false);
    nn::ApplyOptions options;
    options.rngs.emplace("dropout", dropout_rng);
    return model.apply_with(options, variables, x, true).first;
  };
  c.apply_rows = [model](const Tree& variables, const Array& x, const Array& dropout_rng,
                         nn::BatchRows rows) {
    nn::ApplyOptions options;
    options.rngs.emplace("dropout", dropout_rng);
    options.batch_rows = rows;
    return model.apply_with(options, variables, x, true).first;
  };
  return c;
}

}  // namespace

std::vector<std::string> image_classifier_names() {
  return {"mlp", "cnn"};
}

ImageClassifier image_classifier(const std::string& name, Loc loc) {
  if (name == "mlp") return wrap(name, data::Layout::flat, FashionMLP{});
  if (name == "cnn") return wrap(name, data::Layout::nhwc, FashionCNN{});
  std::string known;
  for (const std::string& n : image_classifier_names()) known += (known.empty() ? "" : ", ") + n;
  throw ValueError(message("unknown model \"" + name + "\"", loc, "Known models: " + known));
}

}  // namespace kiln::models

// The batching loader. One background thread assembles batches into a bounded queue; the
// consumer's next() takes them in order.
//
// kiln ops are not for a second thread: every eager op compiles and runs through the dispatch in
// src/core/trace.cpp, whose trace stack and executable cache are per thread, on a CPU backend
// whose GEMM thread pool is configured once for the process. So the loader's thread runs no kiln
// op: it gathers and normalises with plain loops into fresh host buffers (allocate_host) and
// wraps them with Array::from_buffer. The epoch's permutation, which does use kiln ops
// (random::permutation), is drawn on the consumer's thread in start_epoch.
#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>

#include "kiln/backend.hpp"
#include "kiln/data.hpp"
#include "kiln/random.hpp"

namespace kiln::data {
namespace {

[[noreturn]] void bad_option(const std::string& what) {
  throw ValueError("kiln::data::Loader: " + what);
}

}  // namespace

struct Loader::State {
  // Fixed at construction; read by both threads without locking.
  LoaderOptions options;
  Array images, labels;  // keep the dataset's buffers alive
  const uint8_t* image_data = nullptr;
  const int32_t* label_data = nullptr;
  int64_t n = 0;
  int64_t sample = 0;                   // elements per image
  Shape sample_shape;                   // of one image in a batch, after the layout
  std::array<float, 256> normalised{};  // (v / 255 - mean) / std for each byte value v
  Device device;

  // Shared between the threads, under `mutex`.
  std::mutex mutex;
  std::condition_variable work;   // the producer waits here for room and for an epoch
  std::condition_variable ready;  // the consumer waits here for a batch or an error
  bool stopping = false;
  uint64_t generation = 0;  // bumps with each start_epoch; stale batches are dropped
  std::shared_ptr<const std::vector<int32_t>> order;
  int64_t next_to_build = 0;
  int64_t batches = 0;
  std::deque<Batch> queue;
  std::exception_ptr error;

  // The consumer's own.
  bool started = false;
  int64_t delivered = 0;

  std::thread producer;

  int64_t batch_count() const {
    const int64_t b = options.batch_size;
    return options.drop_last ? n / b : (n + b - 1) / b;
  }

  bool has_work() const {
    return order != nullptr && error == nullptr && next_to_build < batches &&
           queue.size() < static_cast<size_t>(options.prefetch);
  }

  void produce() {
    std::unique_lock lock(mutex);
    for (;;) {
      work.wait(lock, [&] { return stopping || has_work(); });
      if (stopping) return;
      const uint64_t gen = generation;
      const std::shared_ptr<const std::vector<int32_t>> epoch_order = order;
      const int64_t index = next_to_build++;
      lock.unlock();
      Batch batch;
      std::exception_ptr failure;
      try {
        batch = assemble(*epoch_order, index);
      } catch (...) {
        failure = std::current_exception();
      }
      lock.lock();
      if (gen != generation) continue;  // a new epoch began meanwhile
      if (failure) {
        error = failure;
      } else {
        queue.push_back(std::move(batch));
      }
      ready.notify_one();
    }
  }

  // Batch `index` of an epoch visiting the samples in `epoch_order`. Plain loops only (see the
  // top of the file).
  Batch assemble(const std::vector<int32_t>& epoch_order, int64_t index) const {
    const int64_t first = index * options.batch_size;
    const int64_t size = std::min(options.batch_size, n - first);
    auto image_buffer = allocate_host(static_cast<size_t>(size * sample) * sizeof(float), device);
    auto label_buffer = allocate_host(static_cast<size_t>(size) * sizeof(int32_t), device);
    auto* images_out = static_cast<float*>(image_buffer->host_data());
    auto* labels_out = static_cast<int32_t*>(label_buffer->host_data());
    for (int64_t i = 0; i < size; ++i) {
      const int64_t k = epoch_order[static_cast<size_t>(first + i)];
      const uint8_t* src = image_data + k * sample;
      float* dst = images_out + i * sample;
      for (int64_t j = 0; j < sample; ++j) dst[j] = normalised[src[j]];
      labels_out[i] = label_data[k];
    }
    if (options.augment)
      options.augment({images_out, static_cast<size_t>(size * sample)},
                      {labels_out, static_cast<size_t>(size)});
    Shape image_shape{size};
    for (int64_t d : sample_shape.dims()) image_shape.push_back(d);
    return {Array::from_buffer(std::move(image_buffer), DType::float32, image_shape),
            Array::from_buffer(std::move(label_buffer), DType::int32, Shape{size}), size};
  }

  void stop() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    work.notify_all();
    if (producer.joinable()) producer.join();
  }
};

Loader::Loader(const Dataset& dataset, LoaderOptions options) : state_(std::make_unique<State>()) {
  State& s = *state_;
  if (options.batch_size < 1)
    bad_option("batch_size is " + std::to_string(options.batch_size) + "; it must be at least 1");
  if (options.prefetch < 1)
    bad_option("prefetch is " + std::to_string(options.prefetch) + "; it must be at least 1");
  if (options.std == 0.0f || !std::isfinite(options.std) || !std::isfinite(options.mean))
    bad_option("normalisation (x / 255 - " + std::to_string(options.mean) + ") / " +
               std::to_string(options.std) + " needs a finite mean and a finite, non-zero std");
  if (dataset.images.empty() || dataset.labels.empty())
    bad_option("the dataset's images or labels are empty arrays");
  const Shape& is = dataset.images.shape();
  if (dataset.images.dtype() != DType::uint8 || is.rank() < 2)
    bad_option("images are " + std::string(name(dataset.images.dtype())) + "[" + is.dims_str() +
               "]; the loader takes uint8 [N, ...] images, as load_fashion_mnist gives them");
  if (options.layout == Layout::nhwc && is.rank() != 3 && is.rank() != 4)
    bad_option("Layout::nhwc needs images [N, H, W] or [N, H, W, C], not [" + is.dims_str() +
               "]; use Layout::flat");
  const Shape& ls = dataset.labels.shape();
  if (dataset.labels.dtype() != DType::int32 || ls.rank() != 1 || ls[0] != is[0])
    bad_option("labels are " + std::string(name(dataset.labels.dtype())) + "[" + ls.dims_str() +
               "] for " + std::to_string(is[0]) + " images; they must be int32[" +
               std::to_string(is[0]) + "]");

  // The loader's thread reads host memory directly, so device arrays are copied here once.
  s.images = device_get(dataset.images);
  s.labels = device_get(dataset.labels);
  s.image_data = static_cast<const uint8_t*>(s.images.buffer()->host_data());
  s.label_data = static_cast<const int32_t*>(s.labels.buffer()->host_data());
  s.n = is[0];
  s.sample = 1;
  for (int i = 1; i < is.rank(); ++i) s.sample *= is[i];
  if (options.layout == Layout::flat) {
    s.sample_shape = Shape{s.sample};
  } else {
    s.sample_shape = Shape{is[1], is[2], is.rank() == 4 ? is[3] : 1};
  }
  // float32 throughout, as the same expression on float32 arrays computes it.
  for (int v = 0; v < 256; ++v)
    s.normalised[static_cast<size_t>(v)] =
        (static_cast<float>(v) / 255.0f - options.mean) / options.std;
  s.device = default_device();
  s.options = std::move(options);
  s.producer = std::thread([&s] { s.produce(); });
}

Loader::~Loader() {
  if (state_) state_->stop();
}

Loader::Loader(Loader&&) noexcept = default;

Loader& Loader::operator=(Loader&& other) noexcept {
  if (this != &other) {
    if (state_) state_->stop();
    state_ = std::move(other.state_);
  }
  return *this;
}

void Loader::start_epoch(int64_t epoch) {
  if (!state_) throw ValueError("kiln::data::Loader: start_epoch on a moved-from loader");
  State& s = *state_;
  if (epoch < 0 || epoch > int64_t{UINT32_MAX})
    bad_option("epoch " + std::to_string(epoch) +
               " is out of range; epochs are 0 .. 2^32 - 1 (fold_in takes a uint32)");
  std::vector<int32_t> order;
  if (s.options.shuffle) {
    order = random::permutation(
                random::fold_in(random::key(s.options.seed), static_cast<uint32_t>(epoch)), s.n)
                .to_vector<int32_t>();
  } else {
    order.resize(static_cast<size_t>(s.n));
    for (int64_t i = 0; i < s.n; ++i) order[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  }
  {
    std::lock_guard lock(s.mutex);
    ++s.generation;
    s.order = std::make_shared<const std::vector<int32_t>>(std::move(order));
    s.next_to_build = 0;
    s.batches = s.batch_count();
    s.queue.clear();
    s.error = nullptr;
  }
  s.work.notify_one();
  s.started = true;
  s.delivered = 0;
}

std::optional<Batch> Loader::next() {
  if (!state_) throw ValueError("kiln::data::Loader: next() on a moved-from loader");
  State& s = *state_;
  if (!s.started)
    throw ValueError(
        "kiln::data::Loader: next() before start_epoch(); call loader.start_epoch(epoch) at the "
        "start of each epoch, which fixes its order");
  if (s.delivered >= s.batch_count()) return std::nullopt;
  std::unique_lock lock(s.mutex);
  s.ready.wait(lock, [&] { return !s.queue.empty() || s.error != nullptr; });
  if (s.queue.empty()) {
    // The failure ends the epoch: the batches after it are never made.
    std::exception_ptr failure = std::exchange(s.error, nullptr);
    s.order = nullptr;
    s.delivered = s.batch_count();
    std::rethrow_exception(failure);
  }
  Batch batch = std::move(s.queue.front());
  s.queue.pop_front();
  lock.unlock();
  s.work.notify_one();
  ++s.delivered;
  return batch;
}

int64_t Loader::batches_per_epoch() const {
  return state_ ? state_->batch_count() : 0;
}

int64_t Loader::size() const {
  return state_ ? state_->n : 0;
}

}  // namespace kiln::data

// All-reduce on Gloo (Debian's libgloo-dev): TCP transport on loopback, rendezvous through a file
// store, gloo::allreduce (its ring algorithm for these sizes).
//   gloo_allreduce <rank> <size> <store directory>
#include <gloo/allreduce.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/transport/tcp/device.h>

#include <cstdlib>

#include "allreduce_timing.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <rank> <size> <store directory>\n", argv[0]);
    return 2;
  }
  const int rank = std::atoi(argv[1]), size = std::atoi(argv[2]);
  gloo::rendezvous::FileStore store(argv[3]);
  std::shared_ptr<gloo::transport::Device> device =
      gloo::transport::tcp::CreateDevice(gloo::transport::tcp::attr("127.0.0.1"));
  auto context = std::make_shared<gloo::rendezvous::Context>(rank, size);
  context->connectFullMesh(store, device);
  time_allreduce(rank, size, [&](float* data, size_t n) {
    gloo::AllreduceOptions opts(context);
    opts.setOutput(data, n);
    opts.setReduceFunction(
        static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
    gloo::allreduce(opts);
  });
  return 0;
}

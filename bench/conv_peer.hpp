// What conv_bench's LibTorch peer (peer_conv_libtorch.cpp) reports: plain types only, so the two
// translation units share no library types.
#pragma once

#include "harness.hpp"

namespace kiln_bench {

struct ConvPeerTimes {
  Timing layer1, layer2;                  // NCHW tensors, as a LibTorch user writes them
  Timing layer1_nhwc, layer2_nhwc;        // channels_last tensors
  double layer1_sum = 0, layer2_sum = 0;  // sums of the weight gradients, to check both agree
  int threads = 0;
  const char* version = "";
};
ConvPeerTimes run_libtorch_conv_peer(const float* x1, const float* k1, const float* ct1,
                                     const float* x2, const float* k2, const float* ct2);

}  // namespace kiln_bench

module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<15xf32>) -> (tensor<15xbf16> {jax.result_info = "result"}) {
    %0 = stablehlo.convert %arg0 : (tensor<15xf32>) -> tensor<15xbf16>
    %1 = stablehlo.reduce_precision %0, format = e5m2 : tensor<15xbf16>
    return %1 : tensor<15xbf16>
  }
}

module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<4x6xf32>) -> (tensor<4x6xf32> {jax.result_info = "result"}) {
    %0 = stablehlo.convert %arg0 : (tensor<4x6xf32>) -> tensor<4x6xi32>
    %1 = stablehlo.convert %0 : (tensor<4x6xi32>) -> tensor<4x6xf16>
    %2 = stablehlo.convert %1 : (tensor<4x6xf16>) -> tensor<4x6xf32>
    return %2 : tensor<4x6xf32>
  }
}

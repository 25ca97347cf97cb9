module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<i1>, %arg1: tensor<10xi32>) -> (tensor<10xi32> {jax.result_info = "result"}) {
    %0 = stablehlo.negate %arg1 : tensor<10xi32>
    %1 = stablehlo.select %arg0, %arg1, %0 : tensor<i1>, tensor<10xi32>
    return %1 : tensor<10xi32>
  }
}

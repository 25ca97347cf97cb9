module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<8xi8>) -> (tensor<20xi8> {jax.result_info = "result"}) {
    %c = stablehlo.constant dense<7> : tensor<i8>
    %0 = stablehlo.pad %arg0, %c, low = [-3], high = [1], interior = [2] : (tensor<8xi8>, tensor<i8>) -> tensor<20xi8>
    return %0 : tensor<20xi8>
  }
}

module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<10xi32>, %arg1: tensor<8xui32>, %arg2: tensor<8xi8>) -> (tensor<10xi32> {jax.result_info = "result[0]"}, tensor<10xi32> {jax.result_info = "result[1]"}, tensor<8xui32> {jax.result_info = "result[2]"}, tensor<8xui32> {jax.result_info = "result[3]"}, tensor<8xi8> {jax.result_info = "result[4]"}, tensor<8xi8> {jax.result_info = "result[5]"}) {
    %0 = stablehlo.popcnt %arg0 : tensor<10xi32>
    %1 = stablehlo.count_leading_zeros %arg0 : tensor<10xi32>
    %2 = stablehlo.popcnt %arg1 : tensor<8xui32>
    %3 = stablehlo.count_leading_zeros %arg1 : tensor<8xui32>
    %4 = stablehlo.popcnt %arg2 : tensor<8xi8>
    %5 = stablehlo.count_leading_zeros %arg2 : tensor<8xi8>
    return %0, %1, %2, %3, %4, %5 : tensor<10xi32>, tensor<10xi32>, tensor<8xui32>, tensor<8xui32>, tensor<8xi8>, tensor<8xi8>
  }
}

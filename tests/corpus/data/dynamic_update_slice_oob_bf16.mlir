module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<5x4xbf16>, %arg1: tensor<i32>) -> (tensor<5x4xbf16> {jax.result_info = "result"}) {
    %cst = stablehlo.constant dense<1.000000e+00> : tensor<bf16>
    %0 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<bf16>) -> tensor<2x3xbf16>
    %c = stablehlo.constant dense<5> : tensor<i32>
    %1 = stablehlo.multiply %arg1, %c : tensor<i32>
    %2 = stablehlo.negate %arg1 : tensor<i32>
    %c_0 = stablehlo.constant dense<0> : tensor<i32>
    %3 = stablehlo.compare LT, %1, %c_0, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
    %c_1 = stablehlo.constant dense<5> : tensor<i32>
    %4 = stablehlo.add %1, %c_1 : tensor<i32>
    %5 = stablehlo.select %3, %4, %1 : tensor<i1>, tensor<i32>
    %c_2 = stablehlo.constant dense<0> : tensor<i32>
    %6 = stablehlo.compare LT, %2, %c_2, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
    %c_3 = stablehlo.constant dense<4> : tensor<i32>
    %7 = stablehlo.add %2, %c_3 : tensor<i32>
    %8 = stablehlo.select %6, %7, %2 : tensor<i1>, tensor<i32>
    %9 = stablehlo.dynamic_update_slice %arg0, %0, %5, %8 : (tensor<5x4xbf16>, tensor<2x3xbf16>, tensor<i32>, tensor<i32>) -> tensor<5x4xbf16>
    return %9 : tensor<5x4xbf16>
  }
}

module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<4x6xf32>) -> (tensor<4x6xf32> {jax.result_info = "result"}) {
    %cst = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %0 = stablehlo.pad %arg0, %cst, low = [-1, 2], high = [2, -3], interior = [1, 0] : (tensor<4x6xf32>, tensor<f32>) -> tensor<8x5xf32>
    %cst_0 = stablehlo.constant dense<2.000000e+00> : tensor<f32>
    %1 = stablehlo.broadcast_in_dim %cst_0, dims = [] : (tensor<f32>) -> tensor<8x5xf32>
    %2 = stablehlo.multiply %1, %0 : tensor<8x5xf32>
    %cst_1 = stablehlo.constant dense<1.000000e+00> : tensor<f32>
    %3 = stablehlo.broadcast_in_dim %cst_1, dims = [] : (tensor<f32>) -> tensor<8x5xf32>
    %4 = stablehlo.multiply %3, %2 : tensor<8x5xf32>
    %cst_2 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %5 = stablehlo.pad %4, %cst_2, low = [1, -2], high = [-2, 3], interior = [0, 0] : (tensor<8x5xf32>, tensor<f32>) -> tensor<7x6xf32>
    %6 = stablehlo.slice %5 [0:7:2, 0:6] : (tensor<7x6xf32>) -> tensor<4x6xf32>
    return %6 : tensor<4x6xf32>
  }
}

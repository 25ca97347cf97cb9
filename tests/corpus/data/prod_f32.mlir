module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<3x50xf32>) -> (tensor<50xf32> {jax.result_info = "result[0]"}, tensor<2xf32> {jax.result_info = "result[1]"}) {
    %cst = stablehlo.constant dense<1.000000e+00> : tensor<f32>
    %0 = stablehlo.reduce(%arg0 init: %cst) applies stablehlo.multiply across dimensions = [0] : (tensor<3x50xf32>, tensor<f32>) -> tensor<50xf32>
    %1 = stablehlo.slice %arg0 [0:2, 0:50] : (tensor<3x50xf32>) -> tensor<2x50xf32>
    %cst_0 = stablehlo.constant dense<1.000000e+00> : tensor<f32>
    %2 = stablehlo.reduce(%1 init: %cst_0) applies stablehlo.multiply across dimensions = [1] : (tensor<2x50xf32>, tensor<f32>) -> tensor<2xf32>
    return %0, %2 : tensor<50xf32>, tensor<2xf32>
  }
}

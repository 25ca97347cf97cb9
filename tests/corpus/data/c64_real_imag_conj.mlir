module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<4x5xcomplex<f32>>) -> (tensor<4x5xf32> {jax.result_info = "result[0]"}, tensor<4x5xf32> {jax.result_info = "result[1]"}, tensor<4x5xcomplex<f32>> {jax.result_info = "result[2]"}, tensor<4x5xf32> {jax.result_info = "result[3]"}) {
    %0 = stablehlo.real %arg0 : (tensor<4x5xcomplex<f32>>) -> tensor<4x5xf32>
    %1 = stablehlo.imag %arg0 : (tensor<4x5xcomplex<f32>>) -> tensor<4x5xf32>
    %2 = stablehlo.real %arg0 : (tensor<4x5xcomplex<f32>>) -> tensor<4x5xf32>
    %3 = stablehlo.imag %arg0 : (tensor<4x5xcomplex<f32>>) -> tensor<4x5xf32>
    %4 = stablehlo.negate %3 : tensor<4x5xf32>
    %5 = stablehlo.complex %2, %4 : tensor<4x5xcomplex<f32>>
    %6 = stablehlo.real %arg0 : (tensor<4x5xcomplex<f32>>) -> tensor<4x5xf32>
    %cst = stablehlo.constant dense<2.000000e+00> : tensor<f32>
    %7 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<f32>) -> tensor<4x5xf32>
    %8 = stablehlo.multiply %6, %7 : tensor<4x5xf32>
    return %0, %1, %5, %8 : tensor<4x5xf32>, tensor<4x5xf32>, tensor<4x5xcomplex<f32>>, tensor<4x5xf32>
  }
}

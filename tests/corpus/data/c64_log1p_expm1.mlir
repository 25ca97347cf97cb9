module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<3x4xcomplex<f32>>) -> (tensor<3x4xcomplex<f32>> {jax.result_info = "result[0]"}, tensor<3x4xcomplex<f32>> {jax.result_info = "result[1]"}) {
    %cst = stablehlo.constant dense<(1.000000e-01,0.000000e+00)> : tensor<complex<f32>>
    %0 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<complex<f32>>) -> tensor<3x4xcomplex<f32>>
    %1 = stablehlo.multiply %0, %arg0 : tensor<3x4xcomplex<f32>>
    %2 = stablehlo.log_plus_one %1 : tensor<3x4xcomplex<f32>>
    %cst_0 = stablehlo.constant dense<(1.000000e-01,0.000000e+00)> : tensor<complex<f32>>
    %3 = stablehlo.broadcast_in_dim %cst_0, dims = [] : (tensor<complex<f32>>) -> tensor<3x4xcomplex<f32>>
    %4 = stablehlo.multiply %3, %arg0 : tensor<3x4xcomplex<f32>>
    %5 = stablehlo.exponential_minus_one %4 : tensor<3x4xcomplex<f32>>
    return %2, %5 : tensor<3x4xcomplex<f32>>, tensor<3x4xcomplex<f32>>
  }
}

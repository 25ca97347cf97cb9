module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<10xcomplex<f32>>) -> (tensor<10xcomplex<f32>> {jax.result_info = "result[0]"}, tensor<10xcomplex<f32>> {jax.result_info = "result[1]"}, tensor<10xcomplex<f32>> {jax.result_info = "result[2]"}) {
    %0 = stablehlo.reverse %arg0, dims = [0] : tensor<10xcomplex<f32>>
    %1 = stablehlo.multiply %arg0, %0 : tensor<10xcomplex<f32>>
    %cst = stablehlo.constant dense<(1.000000e+00,2.000000e+00)> : tensor<complex<f32>>
    %2 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<complex<f32>>) -> tensor<10xcomplex<f32>>
    %3 = stablehlo.divide %arg0, %2 : tensor<10xcomplex<f32>>
    %4 = stablehlo.reverse %arg0, dims = [0] : tensor<10xcomplex<f32>>
    %5 = stablehlo.divide %arg0, %4 : tensor<10xcomplex<f32>>
    return %1, %3, %5 : tensor<10xcomplex<f32>>, tensor<10xcomplex<f32>>, tensor<10xcomplex<f32>>
  }
}

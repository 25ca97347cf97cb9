module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<4x5xf32>, %arg1: tensor<4x5xcomplex<f32>>) -> (tensor<4x5xcomplex<f32>> {jax.result_info = "result"}) {
    %0 = stablehlo.convert %arg0 : (tensor<4x5xf32>) -> tensor<4x5xcomplex<f32>>
    %1 = stablehlo.multiply %0, %arg1 : tensor<4x5xcomplex<f32>>
    %cst = stablehlo.constant dense<(0.000000e+00,1.000000e+00)> : tensor<complex<f32>>
    %2 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<complex<f32>>) -> tensor<4x5xcomplex<f32>>
    %3 = stablehlo.add %1, %2 : tensor<4x5xcomplex<f32>>
    return %3 : tensor<4x5xcomplex<f32>>
  }
}

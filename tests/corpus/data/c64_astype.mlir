module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<4x5xf32>, %arg1: tensor<4x5xcomplex<f32>>) -> (tensor<4x5xcomplex<f32>> {jax.result_info = "result[0]"}, tensor<4x5xf64> {jax.result_info = "result[1]"}) {
    %0 = stablehlo.convert %arg0 : (tensor<4x5xf32>) -> tensor<4x5xcomplex<f32>>
    %1 = stablehlo.convert %arg1 : (tensor<4x5xcomplex<f32>>) -> tensor<4x5xcomplex<f64>>
    %2 = stablehlo.real %1 : (tensor<4x5xcomplex<f64>>) -> tensor<4x5xf64>
    return %0, %2 : tensor<4x5xcomplex<f32>>, tensor<4x5xf64>
  }
}

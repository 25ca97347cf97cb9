module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<4x5xcomplex<f32>>) -> (tensor<4x5xcomplex<f32>> {jax.result_info = "result[0]"}, tensor<4x5xcomplex<f32>> {jax.result_info = "result[1]"}) {
    %0 = chlo.square %arg0 : tensor<4x5xcomplex<f32>> -> tensor<4x5xcomplex<f32>>
    %1 = stablehlo.sign %arg0 : tensor<4x5xcomplex<f32>>
    return %0, %1 : tensor<4x5xcomplex<f32>>, tensor<4x5xcomplex<f32>>
  }
}

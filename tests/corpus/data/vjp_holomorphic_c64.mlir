module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<3x4xcomplex<f32>>, %arg1: tensor<3x4xcomplex<f32>>) -> (tensor<3x4xcomplex<f32>> {jax.result_info = "result"}) {
    %0 = stablehlo.exponential %arg0 : tensor<3x4xcomplex<f32>>
    %1 = stablehlo.multiply %0, %arg1 : tensor<3x4xcomplex<f32>>
    %2 = stablehlo.multiply %arg1, %arg0 : tensor<3x4xcomplex<f32>>
    %3 = stablehlo.multiply %2, %0 : tensor<3x4xcomplex<f32>>
    %4 = stablehlo.add %1, %3 : tensor<3x4xcomplex<f32>>
    return %4 : tensor<3x4xcomplex<f32>>
  }
}

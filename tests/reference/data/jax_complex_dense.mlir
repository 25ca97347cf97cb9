module @jit_apply attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<6xcomplex<f32>>, %arg1: tensor<5x6xcomplex<f32>>, %arg2: tensor<3x5xf32>) -> (tensor<3xcomplex<f32>> {jax.result_info = "result"}) {
    %0 = stablehlo.convert %arg2 : (tensor<3x5xf32>) -> tensor<3x5xcomplex<f32>>
    %1 = stablehlo.dot_general %0, %arg1, contracting_dims = [1] x [0], precision = [DEFAULT, DEFAULT] : (tensor<3x5xcomplex<f32>>, tensor<5x6xcomplex<f32>>) -> tensor<3x6xcomplex<f32>>
    %2 = stablehlo.reshape %arg0 : (tensor<6xcomplex<f32>>) -> tensor<1x6xcomplex<f32>>
    %3 = stablehlo.broadcast_in_dim %2, dims = [0, 1] : (tensor<1x6xcomplex<f32>>) -> tensor<3x6xcomplex<f32>>
    %4 = stablehlo.add %1, %3 : tensor<3x6xcomplex<f32>>
    %5 = stablehlo.tanh %4 : tensor<3x6xcomplex<f32>>
    %cst = stablehlo.constant dense<(-5.000000e-01,0.000000e+00)> : tensor<complex<f32>>
    %6 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<complex<f32>>) -> tensor<3x6xcomplex<f32>>
    %7 = stablehlo.multiply %6, %4 : tensor<3x6xcomplex<f32>>
    %8 = stablehlo.exponential %7 : tensor<3x6xcomplex<f32>>
    %9 = stablehlo.multiply %5, %8 : tensor<3x6xcomplex<f32>>
    %cst_0 = stablehlo.constant dense<(0.000000e+00,0.000000e+00)> : tensor<complex<f32>>
    %10 = stablehlo.reduce(%9 init: %cst_0) applies stablehlo.add across dimensions = [1] : (tensor<3x6xcomplex<f32>>, tensor<complex<f32>>) -> tensor<3xcomplex<f32>>
    return %10 : tensor<3xcomplex<f32>>
  }
}

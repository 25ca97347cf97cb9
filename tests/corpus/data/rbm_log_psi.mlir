module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<6x8xf32>, %arg1: tensor<8x4xcomplex<f32>>, %arg2: tensor<4xcomplex<f32>>) -> (tensor<6xcomplex<f32>> {jax.result_info = "result"}) {
    %0 = stablehlo.convert %arg0 : (tensor<6x8xf32>) -> tensor<6x8xcomplex<f32>>
    %1 = stablehlo.convert %arg1 : tensor<8x4xcomplex<f32>>
    %2 = stablehlo.dot_general %0, %1, contracting_dims = [1] x [0], precision = [DEFAULT, DEFAULT] : (tensor<6x8xcomplex<f32>>, tensor<8x4xcomplex<f32>>) -> tensor<6x4xcomplex<f32>>
    %3 = stablehlo.broadcast_in_dim %arg2, dims = [1] : (tensor<4xcomplex<f32>>) -> tensor<1x4xcomplex<f32>>
    %4 = stablehlo.broadcast_in_dim %3, dims = [0, 1] : (tensor<1x4xcomplex<f32>>) -> tensor<6x4xcomplex<f32>>
    %5 = stablehlo.add %2, %4 : tensor<6x4xcomplex<f32>>
    %6 = chlo.cosh %5 : tensor<6x4xcomplex<f32>> -> tensor<6x4xcomplex<f32>>
    %7 = stablehlo.log %6 : tensor<6x4xcomplex<f32>>
    %cst = stablehlo.constant dense<(0.000000e+00,0.000000e+00)> : tensor<complex<f32>>
    %8 = stablehlo.reduce(%7 init: %cst) applies stablehlo.add across dimensions = [1] : (tensor<6x4xcomplex<f32>>, tensor<complex<f32>>) -> tensor<6xcomplex<f32>>
    return %8 : tensor<6xcomplex<f32>>
  }
}

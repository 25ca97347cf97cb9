module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<4x32xbf16>, %arg1: tensor<32x3xbf16>) -> (tensor<4x32xbf16> {jax.result_info = "result[0]"}, tensor<32x3xbf16> {jax.result_info = "result[1]"}) {
    %0 = stablehlo.dot_general %arg0, %arg1, contracting_dims = [1] x [0], precision = [DEFAULT, DEFAULT] : (tensor<4x32xbf16>, tensor<32x3xbf16>) -> tensor<4x3xf32>
    %cst = stablehlo.constant dense<2.000000e+00> : tensor<f32>
    %1 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<f32>) -> tensor<4x3xf32>
    %2 = stablehlo.multiply %1, %0 : tensor<4x3xf32>
    %cst_0 = stablehlo.constant dense<1.000000e+00> : tensor<f32>
    %3 = stablehlo.broadcast_in_dim %cst_0, dims = [] : (tensor<f32>) -> tensor<4x3xf32>
    %4 = stablehlo.multiply %3, %2 : tensor<4x3xf32>
    %5 = stablehlo.convert %4 : tensor<4x3xf32>
    %6 = stablehlo.convert %arg0 : (tensor<4x32xbf16>) -> tensor<4x32xf32>
    %7 = stablehlo.dot_general %5, %6, contracting_dims = [0] x [0], precision = [DEFAULT, DEFAULT] : (tensor<4x3xf32>, tensor<4x32xf32>) -> tensor<3x32xf32>
    %8 = stablehlo.transpose %7, dims = [1, 0] : (tensor<3x32xf32>) -> tensor<32x3xf32>
    %9 = stablehlo.convert %8 : (tensor<32x3xf32>) -> tensor<32x3xbf16>
    %10 = stablehlo.convert %4 : tensor<4x3xf32>
    %11 = stablehlo.convert %arg1 : (tensor<32x3xbf16>) -> tensor<32x3xf32>
    %12 = stablehlo.dot_general %10, %11, contracting_dims = [1] x [1], precision = [DEFAULT, DEFAULT] : (tensor<4x3xf32>, tensor<32x3xf32>) -> tensor<4x32xf32>
    %13 = stablehlo.convert %12 : (tensor<4x32xf32>) -> tensor<4x32xbf16>
    return %13, %9 : tensor<4x32xbf16>, tensor<32x3xbf16>
  }
}

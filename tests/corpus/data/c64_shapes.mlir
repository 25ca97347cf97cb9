module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<4x5xcomplex<f32>>) -> (tensor<5x4xcomplex<f32>> {jax.result_info = "result[0]"}, tensor<5x4xcomplex<f32>> {jax.result_info = "result[1]"}, tensor<2x3xcomplex<f32>> {jax.result_info = "result[2]"}, tensor<8x5xcomplex<f32>> {jax.result_info = "result[3]"}, tensor<6x7xcomplex<f32>> {jax.result_info = "result[4]"}, tensor<4x5xcomplex<f32>> {jax.result_info = "result[5]"}, tensor<2x5xcomplex<f32>> {jax.result_info = "result[6]"}) {
    %0 = stablehlo.transpose %arg0, dims = [1, 0] : (tensor<4x5xcomplex<f32>>) -> tensor<5x4xcomplex<f32>>
    %1 = stablehlo.reshape %arg0 : (tensor<4x5xcomplex<f32>>) -> tensor<5x4xcomplex<f32>>
    %2 = stablehlo.slice %arg0 [1:3, 0:5:2] : (tensor<4x5xcomplex<f32>>) -> tensor<2x3xcomplex<f32>>
    %3 = stablehlo.concatenate %arg0, %arg0, dim = 0 : (tensor<4x5xcomplex<f32>>, tensor<4x5xcomplex<f32>>) -> tensor<8x5xcomplex<f32>>
    %c = stablehlo.constant dense<0> : tensor<i32>
    %4 = call @_pad(%arg0, %c) : (tensor<4x5xcomplex<f32>>, tensor<i32>) -> tensor<6x7xcomplex<f32>>
    %5 = stablehlo.reverse %arg0, dims = [0] : tensor<4x5xcomplex<f32>>
    %6 = stablehlo.slice %arg0 [0:1, 0:5] : (tensor<4x5xcomplex<f32>>) -> tensor<1x5xcomplex<f32>>
    %7 = stablehlo.reshape %6 : (tensor<1x5xcomplex<f32>>) -> tensor<5xcomplex<f32>>
    %8 = stablehlo.broadcast_in_dim %7, dims = [1] : (tensor<5xcomplex<f32>>) -> tensor<2x5xcomplex<f32>>
    return %0, %1, %2, %3, %4, %5, %8 : tensor<5x4xcomplex<f32>>, tensor<5x4xcomplex<f32>>, tensor<2x3xcomplex<f32>>, tensor<8x5xcomplex<f32>>, tensor<6x7xcomplex<f32>>, tensor<4x5xcomplex<f32>>, tensor<2x5xcomplex<f32>>
  }
  func.func private @_pad(%arg0: tensor<4x5xcomplex<f32>>, %arg1: tensor<i32>) -> tensor<6x7xcomplex<f32>> {
    %0 = stablehlo.convert %arg1 : (tensor<i32>) -> tensor<complex<f32>>
    %1 = stablehlo.pad %arg0, %0, low = [1, 1], high = [1, 1], interior = [0, 0] : (tensor<4x5xcomplex<f32>>, tensor<complex<f32>>) -> tensor<6x7xcomplex<f32>>
    return %1 : tensor<6x7xcomplex<f32>>
  }
}

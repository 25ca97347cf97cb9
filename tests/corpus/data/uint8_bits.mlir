module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<3x7xui8>) -> (tensor<3x7xui8> {jax.result_info = "result[0]"}, tensor<3x7xui8> {jax.result_info = "result[1]"}, tensor<3x7xui8> {jax.result_info = "result[2]"}, tensor<3x7xui8> {jax.result_info = "result[3]"}, tensor<3x7xui8> {jax.result_info = "result[4]"}) {
    %c = stablehlo.constant dense<15> : tensor<ui8>
    %0 = stablehlo.broadcast_in_dim %c, dims = [] : (tensor<ui8>) -> tensor<3x7xui8>
    %1 = stablehlo.and %arg0, %0 : tensor<3x7xui8>
    %c_0 = stablehlo.constant dense<128> : tensor<ui8>
    %2 = stablehlo.broadcast_in_dim %c_0, dims = [] : (tensor<ui8>) -> tensor<3x7xui8>
    %3 = stablehlo.or %arg0, %2 : tensor<3x7xui8>
    %4 = stablehlo.reverse %arg0, dims = [0] : tensor<3x7xui8>
    %5 = stablehlo.xor %arg0, %4 : tensor<3x7xui8>
    %c_1 = stablehlo.constant dense<1> : tensor<ui8>
    %6 = stablehlo.broadcast_in_dim %c_1, dims = [] : (tensor<ui8>) -> tensor<3x7xui8>
    %7 = stablehlo.shift_left %arg0, %6 : tensor<3x7xui8>
    %c_2 = stablehlo.constant dense<2> : tensor<ui8>
    %8 = stablehlo.broadcast_in_dim %c_2, dims = [] : (tensor<ui8>) -> tensor<3x7xui8>
    %9 = stablehlo.shift_right_logical %arg0, %8 : tensor<3x7xui8>
    return %1, %3, %5, %7, %9 : tensor<3x7xui8>, tensor<3x7xui8>, tensor<3x7xui8>, tensor<3x7xui8>, tensor<3x7xui8>
  }
}

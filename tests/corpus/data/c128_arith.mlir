module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<3x4xcomplex<f64>>) -> (tensor<3x4xcomplex<f64>> {jax.result_info = "result[0]"}, tensor<3x4xcomplex<f64>> {jax.result_info = "result[1]"}, tensor<3x4xf64> {jax.result_info = "result[2]"}) {
    %0 = stablehlo.reverse %arg0, dims = [0] : tensor<3x4xcomplex<f64>>
    %1 = stablehlo.real %0 : (tensor<3x4xcomplex<f64>>) -> tensor<3x4xf64>
    %2 = stablehlo.imag %0 : (tensor<3x4xcomplex<f64>>) -> tensor<3x4xf64>
    %3 = stablehlo.negate %2 : tensor<3x4xf64>
    %4 = stablehlo.complex %1, %3 : tensor<3x4xcomplex<f64>>
    %5 = stablehlo.multiply %arg0, %4 : tensor<3x4xcomplex<f64>>
    %cst = stablehlo.constant dense<(1.000000e+00,0.000000e+00)> : tensor<complex<f64>>
    %6 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<complex<f64>>) -> tensor<3x4xcomplex<f64>>
    %7 = stablehlo.add %arg0, %6 : tensor<3x4xcomplex<f64>>
    %8 = stablehlo.divide %arg0, %7 : tensor<3x4xcomplex<f64>>
    %9 = stablehlo.abs %arg0 : (tensor<3x4xcomplex<f64>>) -> tensor<3x4xf64>
    %10 = stablehlo.multiply %9, %9 : tensor<3x4xf64>
    return %5, %8, %10 : tensor<3x4xcomplex<f64>>, tensor<3x4xcomplex<f64>>, tensor<3x4xf64>
  }
}

module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<4x5xcomplex<f32>>) -> (tensor<4x5xcomplex<f32>> {jax.result_info = "result"}) {
    %0 = stablehlo.abs %arg0 : (tensor<4x5xcomplex<f32>>) -> tensor<4x5xf32>
    %1 = stablehlo.real %arg0 : (tensor<4x5xcomplex<f32>>) -> tensor<4x5xf32>
    %2 = stablehlo.imag %arg0 : (tensor<4x5xcomplex<f32>>) -> tensor<4x5xf32>
    %3 = stablehlo.negate %2 : tensor<4x5xf32>
    %4 = stablehlo.complex %1, %3 : tensor<4x5xcomplex<f32>>
    %5 = stablehlo.convert %0 : (tensor<4x5xf32>) -> tensor<4x5xcomplex<f32>>
    %cst = stablehlo.constant dense<(0.000000e+00,0.000000e+00)> : tensor<complex<f32>>
    %6 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<complex<f32>>) -> tensor<4x5xcomplex<f32>>
    %7 = stablehlo.compare EQ, %5, %6, FLOAT : (tensor<4x5xcomplex<f32>>, tensor<4x5xcomplex<f32>>) -> tensor<4x5xi1>
    %cst_0 = stablehlo.constant dense<(1.000000e+00,0.000000e+00)> : tensor<complex<f32>>
    %8 = stablehlo.broadcast_in_dim %cst_0, dims = [] : (tensor<complex<f32>>) -> tensor<4x5xcomplex<f32>>
    %9 = stablehlo.select %7, %8, %5 : tensor<4x5xi1>, tensor<4x5xcomplex<f32>>
    %10 = stablehlo.divide %4, %9 : tensor<4x5xcomplex<f32>>
    %cst_1 = stablehlo.constant dense<2.000000e+00> : tensor<f32>
    %11 = stablehlo.broadcast_in_dim %cst_1, dims = [] : (tensor<f32>) -> tensor<4x5xf32>
    %12 = stablehlo.multiply %11, %0 : tensor<4x5xf32>
    %cst_2 = stablehlo.constant dense<1.000000e+00> : tensor<f32>
    %13 = stablehlo.broadcast_in_dim %cst_2, dims = [] : (tensor<f32>) -> tensor<4x5xf32>
    %14 = stablehlo.multiply %13, %12 : tensor<4x5xf32>
    %cst_3 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %15 = stablehlo.broadcast_in_dim %cst_3, dims = [] : (tensor<f32>) -> tensor<4x5xf32>
    %16 = stablehlo.complex %14, %15 : tensor<4x5xcomplex<f32>>
    %17 = stablehlo.multiply %16, %10 : tensor<4x5xcomplex<f32>>
    return %17 : tensor<4x5xcomplex<f32>>
  }
}

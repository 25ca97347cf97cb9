module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<4x5xcomplex<f32>>, %arg1: tensor<4x5xcomplex<f32>>) -> (tensor<4x5xi1> {jax.result_info = "result[0]"}, tensor<4x5xi1> {jax.result_info = "result[1]"}, tensor<4x5xcomplex<f32>> {jax.result_info = "result[2]"}) {
    %0 = stablehlo.compare EQ, %arg0, %arg1, FLOAT : (tensor<4x5xcomplex<f32>>, tensor<4x5xcomplex<f32>>) -> tensor<4x5xi1>
    %1 = stablehlo.reverse %arg0, dims = [0] : tensor<4x5xcomplex<f32>>
    %2 = stablehlo.compare NE, %arg0, %1, FLOAT : (tensor<4x5xcomplex<f32>>, tensor<4x5xcomplex<f32>>) -> tensor<4x5xi1>
    %3 = stablehlo.abs %arg0 : (tensor<4x5xcomplex<f32>>) -> tensor<4x5xf32>
    %cst = stablehlo.constant dense<1.000000e+00> : tensor<f32>
    %4 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<f32>) -> tensor<4x5xf32>
    %5 = stablehlo.compare GT, %3, %4, FLOAT : (tensor<4x5xf32>, tensor<4x5xf32>) -> tensor<4x5xi1>
    %6 = call @_where(%5, %arg0, %arg1) : (tensor<4x5xi1>, tensor<4x5xcomplex<f32>>, tensor<4x5xcomplex<f32>>) -> tensor<4x5xcomplex<f32>>
    return %0, %2, %6 : tensor<4x5xi1>, tensor<4x5xi1>, tensor<4x5xcomplex<f32>>
  }
  func.func private @_where(%arg0: tensor<4x5xi1>, %arg1: tensor<4x5xcomplex<f32>>, %arg2: tensor<4x5xcomplex<f32>>) -> tensor<4x5xcomplex<f32>> {
    %0 = stablehlo.select %arg0, %arg1, %arg2 : tensor<4x5xi1>, tensor<4x5xcomplex<f32>>
    return %0 : tensor<4x5xcomplex<f32>>
  }
}

module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<6xf32>, %arg1: tensor<6xf32>) -> (tensor<6x6xf32> {jax.result_info = "result[0]"}, tensor<f32> {jax.result_info = "result[1]"}, tensor<4xf32> {jax.result_info = "result[2]"}) {
    %cst = stablehlo.constant dense<[[-1.01166844, -0.832894206, 0.233342394, -0.659504294, -0.521743238, 5.851900e-03], [-0.726328969, 0.382032365, 1.81397676, -8.392010e-01, 0.355374664, -0.152506784], [-0.343429267, -0.517990112, 0.190078586, -0.646108627, 0.798435688, -0.356089354], [-2.14041018, -0.740804374, -0.315151393, 0.268978775, -0.068321608, 1.07051456]]> : tensor<4x6xf32>
    %0 = stablehlo.dot_general %arg0, %arg1, contracting_dims = [] x [], precision = [DEFAULT, DEFAULT] : (tensor<6xf32>, tensor<6xf32>) -> tensor<6x6xf32>
    %1 = stablehlo.dot_general %arg0, %arg0, contracting_dims = [0] x [0], precision = [DEFAULT, DEFAULT] : (tensor<6xf32>, tensor<6xf32>) -> tensor<f32>
    %2 = stablehlo.dot_general %cst, %cst, batching_dims = [0] x [0], contracting_dims = [1] x [1], precision = [DEFAULT, DEFAULT] : (tensor<4x6xf32>, tensor<4x6xf32>) -> tensor<4xf32>
    return %0, %1, %2 : tensor<6x6xf32>, tensor<f32>, tensor<4xf32>
  }
}

module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<6x5xi32>, %arg1: tensor<12xui8>, %arg2: tensor<4x6xi1>) -> (tensor<6x5xi32> {jax.result_info = "result[0]"}, tensor<12xui8> {jax.result_info = "result[1]"}, tensor<4x6xi1> {jax.result_info = "result[2]"}) {
    %0 = call @sort(%arg0) : (tensor<6x5xi32>) -> tensor<6x5xi32>
    %1 = call @sort_0(%arg1) : (tensor<12xui8>) -> tensor<12xui8>
    %2 = call @sort_1(%arg2) : (tensor<4x6xi1>) -> tensor<4x6xi1>
    return %0, %1, %2 : tensor<6x5xi32>, tensor<12xui8>, tensor<4x6xi1>
  }
  func.func private @sort(%arg0: tensor<6x5xi32>) -> tensor<6x5xi32> {
    %0 = "stablehlo.sort"(%arg0) <{dimension = 0 : i64, is_stable = true}> ({
    ^bb0(%arg1: tensor<i32>, %arg2: tensor<i32>):
      %1 = stablehlo.compare LT, %arg1, %arg2, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
      stablehlo.return %1 : tensor<i1>
    }) : (tensor<6x5xi32>) -> tensor<6x5xi32>
    return %0 : tensor<6x5xi32>
  }
  func.func private @sort_0(%arg0: tensor<12xui8>) -> tensor<12xui8> {
    %0 = "stablehlo.sort"(%arg0) <{dimension = 0 : i64, is_stable = true}> ({
    ^bb0(%arg1: tensor<ui8>, %arg2: tensor<ui8>):
      %1 = stablehlo.compare LT, %arg1, %arg2, UNSIGNED : (tensor<ui8>, tensor<ui8>) -> tensor<i1>
      stablehlo.return %1 : tensor<i1>
    }) : (tensor<12xui8>) -> tensor<12xui8>
    return %0 : tensor<12xui8>
  }
  func.func private @sort_1(%arg0: tensor<4x6xi1>) -> tensor<4x6xi1> {
    %0 = "stablehlo.sort"(%arg0) <{dimension = 1 : i64, is_stable = true}> ({
    ^bb0(%arg1: tensor<i1>, %arg2: tensor<i1>):
      %1 = stablehlo.compare LT, %arg1, %arg2, UNSIGNED : (tensor<i1>, tensor<i1>) -> tensor<i1>
      stablehlo.return %1 : tensor<i1>
    }) : (tensor<4x6xi1>) -> tensor<4x6xi1>
    return %0 : tensor<4x6xi1>
  }
}

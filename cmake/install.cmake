# kiln's install rules and packaging, included by the root CMakeLists.txt when KILN_INSTALL is on
# (the default when kiln is the top-level project). docs/getting-started.md, "Use kiln from your own
# project", shows what they give a user:
#
#   <prefix>/include/kiln/*.hpp                     the public headers
#   <prefix>/lib/libkiln.a, libkiln.so.*            kiln::kiln (static, the default), kiln::kiln_shared
#   <prefix>/lib/cmake/kiln/kilnConfig*.cmake       find_package(kiln)
#   <prefix>/lib/pkgconfig/kiln.pc                  pkg-config kiln
#   <prefix>/bin/kiln                               the command-line tool (kiln::kiln_tool)
#   <prefix>/lib/kiln/libkiln_pjrt_cpu.so           the PJRT conformance plugin (kiln::pjrt_cpu)
#
# `cpack -G DEB` (in the build directory) packs the same files into a Debian package.
include(CMakePackageConfigHelpers)

# `make install` and cpack's preinstall step install what is built, without building the whole tree
# first (benchmarks and tests are not installed; scripts/consumer-check builds what is).
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

set(KILN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/kiln)
# The plugin is dlopened, never linked, so it stays out of the linker's search path.
set(KILN_PLUGIN_DIR ${CMAKE_INSTALL_LIBDIR}/kiln)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/kiln DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        COMPONENT development)

# The exported names are kiln::kiln (static), kiln::kiln_shared, kiln::kiln_tool, kiln::pjrt_cpu.
set_target_properties(kiln PROPERTIES EXPORT_NAME kiln)
set(kiln_install_targets kiln)
if(TARGET kiln_shared)
  set_target_properties(kiln_shared PROPERTIES EXPORT_NAME kiln_shared)
  list(APPEND kiln_install_targets kiln_shared)
endif()
install(TARGETS ${kiln_install_targets} EXPORT kilnTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT development
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(TARGET kiln_cli)
  set_target_properties(kiln_cli PROPERTIES EXPORT_NAME kiln_tool)
  install(TARGETS kiln_cli EXPORT kilnTargets RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
          COMPONENT runtime)
endif()
if(TARGET kiln_pjrt_cpu)
  set_target_properties(kiln_pjrt_cpu PROPERTIES EXPORT_NAME pjrt_cpu)
  install(TARGETS kiln_pjrt_cpu EXPORT kilnTargets LIBRARY DESTINATION ${KILN_PLUGIN_DIR}
          COMPONENT runtime)
endif()

install(EXPORT kilnTargets NAMESPACE kiln:: DESTINATION ${KILN_CMAKE_DIR} COMPONENT development)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/kilnConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/kilnConfig.cmake
                              INSTALL_DESTINATION ${KILN_CMAKE_DIR})
# 0.x: a minor version may break the API, so only the same major.minor is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/kilnConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/kilnConfig.cmake ${PROJECT_BINARY_DIR}/kilnConfigVersion.cmake
        DESTINATION ${KILN_CMAKE_DIR} COMPONENT development)

# pkg-config: `-lkiln` links libkiln.so (the .so wins over the .a, as for every library with
# both); `pkg-config --static --libs kiln` adds what libkiln.a needs besides.
file(RELATIVE_PATH KILN_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
configure_file(${PROJECT_SOURCE_DIR}/cmake/kiln.pc.in ${PROJECT_BINARY_DIR}/kiln.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/kiln.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
        COMPONENT development)
# The same for the build tree, not installed: libkiln.a and all it links.
configure_file(${PROJECT_SOURCE_DIR}/cmake/kiln-uninstalled.pc.in
               ${PROJECT_BINARY_DIR}/kiln-uninstalled.pc @ONLY)

# ---- cpack -G DEB: one package, libkiln-dev, with everything above under /usr ----
set(CPACK_PACKAGE_NAME libkiln-dev)
set(CPACK_PACKAGE_VENDOR kiln)
set(CPACK_PACKAGE_CONTACT "kiln maintainers <kiln@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "kiln: train JAX/Flax-style models in C++, compile them for the CPU or PJRT devices")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
# What libkiln.a's link interface and kilnConfig.cmake's find_dependency calls need: the -dev
# packages scripts/install.sh installs for the library (not those of the tests or benchmarks).
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libdnnl-dev, libssl-dev, zlib1g-dev, libpng-dev, libgomp1, libstdc++6, cmake | pkg-config")
if(KILN_HAVE_GLOO)
  string(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS ", libgloo-dev")
endif()
set(CPACK_GENERATOR DEB)
include(CPack)

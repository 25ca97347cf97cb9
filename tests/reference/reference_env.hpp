// Where the reference environment is (scripts/install.sh --reference, docs/reference.md): real
// JAX, Flax, optax and XLA's CPU PJRT plugin in a venv inside the build tree. Tests that need it
// skip, saying how to make it, when it is absent; CI's reference lane (scripts/reference-check)
// makes it and runs them.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace kiln::testing {

// $KILN_REFERENCE_VENV, else <build>/reference-venv.
std::string reference_venv();
// The venv's python; empty when the venv is absent.
std::string reference_python();
// XLA's CPU PJRT plugin (the xla-cpu-pjrt wheel's xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so):
// $KILN_XLA_CPU_PLUGIN, else found in the venv's site-packages; empty when absent.
std::string xla_cpu_plugin();

inline constexpr const char* kMakeReference =
    "the reference venv is absent: run scripts/install.sh --reference (or set "
    "KILN_REFERENCE_VENV / KILN_XLA_CPU_PLUGIN)";

}  // namespace kiln::testing

#define KILN_SKIP_WITHOUT_XLA_CPU_PLUGIN()       \
  if (::kiln::testing::xla_cpu_plugin().empty()) \
  GTEST_SKIP() << "XLA's CPU PJRT plugin not found: " << ::kiln::testing::kMakeReference

#define KILN_SKIP_WITHOUT_REFERENCE_PYTHON()       \
  if (::kiln::testing::reference_python().empty()) \
  GTEST_SKIP() << "no reference python: " << ::kiln::testing::kMakeReference

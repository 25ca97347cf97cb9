#include "reference/reference_env.hpp"

#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace kiln::testing {
namespace fs = std::filesystem;

std::string reference_venv() {
  if (const char* v = std::getenv("KILN_REFERENCE_VENV"); v != nullptr && *v != '\0') return v;
  return KILN_REFERENCE_VENV_DEFAULT;
}

std::string reference_python() {
  const fs::path python = fs::path(reference_venv()) / "bin" / "python";
  std::error_code ec;
  return fs::exists(python, ec) ? python.string() : std::string();
}

std::string xla_cpu_plugin() {
  if (const char* p = std::getenv("KILN_XLA_CPU_PLUGIN"); p != nullptr && *p != '\0') return p;
  // lib/python3.X/site-packages: the minor version is the venv's, so look rather than guess.
  std::error_code ec;
  for (const fs::directory_entry& lib :
       fs::directory_iterator(fs::path(reference_venv()) / "lib", ec)) {
    const fs::path so =
        lib.path() / "site-packages" / "xla_plugins" / "xla_cpu_pjrt" / "xla_cpu_pjrt.so";
    if (fs::exists(so, ec)) return so.string();
  }
  return {};
}

}  // namespace kiln::testing

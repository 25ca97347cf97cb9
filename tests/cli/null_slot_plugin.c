/* A hostile PJRT plugin for the reliability suite: GetPjrtApi returns a table of a plausible size
 * and a supported API version (0.54) whose function slots are all NULL. kiln must refuse it with a
 * PluginError naming a slot, and never call through it. */
#include <stddef.h>
#include <stdint.h>

struct Version {
  size_t struct_size;
  void* extension_start;
  int major_version;
  int minor_version;
};

struct Api {
  size_t struct_size;
  void* extension_start;
  struct Version version;
  void* slots[128];
};

static struct Api api = {sizeof(struct Api), NULL, {sizeof(struct Version), NULL, 0, 54}, {NULL}};

const struct Api* GetPjrtApi(void) {
  return &api;
}

// The subset of the PJRT C API (openxla/xla, xla/pjrt/c/pjrt_c_api.h) that kiln calls, declared by
// kiln from the documented ABI: field order and the slot index of every function kiln uses
// (/work/shared/notes/PJRT-STABLEHLO.md). Argument structs are declared at the newest layout known
// (API 0.114) and passed zero-filled with struct_size = sizeof: XLA's plugins accept callers that
// know more fields than they do and reject callers that know fewer. The static_asserts pin the
// 64-bit Linux layout; a change there is an ABI change, never a refactoring.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kiln::pjrt::capi {

// The version this file declares, and the oldest plugin version whose slots and argument layouts
// kiln's calls agree with (slots 0-92 are unchanged from 0.33 to 0.114).
inline constexpr int kApiMajor = 0;
inline constexpr int kApiMinor = 114;
inline constexpr int kOldestMinor = 33;

struct Error;
struct Event;
struct Client;
struct Device;
struct DeviceDescription;
struct Memory;
struct Executable;
struct LoadedExecutable;
struct Buffer;

// absl status codes, as PJRT_Error_GetCode reports them.
enum class ErrorCode : int {
  cancelled = 1,
  unknown = 2,
  invalid_argument = 3,
  deadline_exceeded = 4,
  not_found = 5,
  already_exists = 6,
  permission_denied = 7,
  resource_exhausted = 8,
  failed_precondition = 9,
  aborted = 10,
  out_of_range = 11,
  unimplemented = 12,
  internal = 13,
  unavailable = 14,
  data_loss = 15,
  unauthenticated = 16,
};

// PJRT_Buffer_Type: XLA's PrimitiveType numbering.
enum class BufferType : int {
  invalid = 0,
  pred = 1,
  s8 = 2,
  s16 = 3,
  s32 = 4,
  s64 = 5,
  u8 = 6,
  u16 = 7,
  u32 = 8,
  u64 = 9,
  f16 = 10,
  f32 = 11,
  f64 = 12,
  bf16 = 13,
  c64 = 14,
  c128 = 15,
};

enum class NamedValueType : int { string = 0, int64 = 1, int64_list = 2, float_ = 3, bool_ = 4 };

enum class HostBufferSemantics : int {
  immutable_only_during_call = 0,
  immutable_until_transfer_completes = 1,
  zero_copy = 2,
};

struct Api_Version {
  size_t struct_size;
  void* extension_start;
  int major_version;
  int minor_version;
};

struct NamedValue {
  size_t struct_size;
  void* extension_start;
  const char* name;
  size_t name_size;
  NamedValueType type;
  union {
    const char* string_value;
    int64_t int64_value;
    const int64_t* int64_array_value;
    float float_value;
    bool bool_value;
  };
  size_t value_size;  // elements of a list or string; 1 for scalars
};

struct Error_Destroy_Args {
  size_t struct_size;
  void* extension_start;
  Error* error;
};
struct Error_Message_Args {
  size_t struct_size;
  void* extension_start;
  const Error* error;
  const char* message;  // out, owned by the error
  size_t message_size;  // out
};
struct Error_GetCode_Args {
  size_t struct_size;
  void* extension_start;
  const Error* error;
  ErrorCode code;  // out
};

struct Plugin_Initialize_Args {
  size_t struct_size;
  void* extension_start;
};

struct Event_Destroy_Args {
  size_t struct_size;
  void* extension_start;
  Event* event;
};
struct Event_IsReady_Args {
  size_t struct_size;
  void* extension_start;
  Event* event;
  bool is_ready;  // out
};
struct Event_Error_Args {
  size_t struct_size;
  void* extension_start;
  Event* event;
};
struct Event_Await_Args {
  size_t struct_size;
  void* extension_start;
  Event* event;
};

struct Client_Create_Args {
  size_t struct_size;
  void* extension_start;
  const NamedValue* create_options;
  size_t num_options;
  void* kv_get_callback;
  void* kv_get_user_arg;
  void* kv_put_callback;
  void* kv_put_user_arg;
  Client* client;  // out
  void* kv_try_get_callback;
  void* kv_try_get_user_arg;
};
struct Client_Destroy_Args {
  size_t struct_size;
  void* extension_start;
  Client* client;
};
struct Client_PlatformName_Args {
  size_t struct_size;
  void* extension_start;
  Client* client;
  const char* platform_name;  // out, owned by the client
  size_t platform_name_size;  // out
};
struct Client_AddressableDevices_Args {
  size_t struct_size;
  void* extension_start;
  Client* client;
  Device* const* addressable_devices;  // out, owned by the client
  size_t num_addressable_devices;      // out
};

struct Program {
  size_t struct_size;
  void* extension_start;
  const char* code;
  size_t code_size;
  const char* format;  // "mlir": MLIR text or bytecode
  size_t format_size;
};
struct Client_Compile_Args {
  size_t struct_size;
  void* extension_start;
  Client* client;
  const Program* program;
  const char* compile_options;  // a serialized xla.CompileOptionsProto
  size_t compile_options_size;
  LoadedExecutable* executable;  // out
};

struct Client_BufferFromHostBuffer_Args {
  size_t struct_size;
  void* extension_start;
  Client* client;
  const void* data;
  BufferType type;
  const int64_t* dims;
  size_t num_dims;
  const int64_t* byte_strides;  // nullptr: dense, major-to-minor
  size_t num_byte_strides;
  HostBufferSemantics host_buffer_semantics;
  Device* device;
  Memory* memory;
  void* device_layout;           // nullptr: the default layout
  Event* done_with_host_buffer;  // out
  Buffer* buffer;                // out
};

struct DeviceDescription_Id_Args {
  size_t struct_size;
  void* extension_start;
  DeviceDescription* device_description;
  int id;  // out
};
struct DeviceDescription_Attributes_Args {
  size_t struct_size;
  void* extension_start;
  DeviceDescription* device_description;
  size_t num_attributes;         // out
  const NamedValue* attributes;  // out, owned by the description
};
struct DeviceDescription_Kind_Args {
  size_t struct_size;
  void* extension_start;
  DeviceDescription* device_description;
  const char* device_kind;  // out, owned by the description
  size_t device_kind_size;  // out
};
struct Device_GetDescription_Args {
  size_t struct_size;
  void* extension_start;
  Device* device;
  DeviceDescription* device_description;  // out
};

struct Executable_Destroy_Args {
  size_t struct_size;
  void* extension_start;
  Executable* executable;
};
struct Executable_NumOutputs_Args {
  size_t struct_size;
  void* extension_start;
  Executable* executable;
  size_t num_outputs;  // out
};
struct LoadedExecutable_Destroy_Args {
  size_t struct_size;
  void* extension_start;
  LoadedExecutable* executable;
};
struct LoadedExecutable_GetExecutable_Args {
  size_t struct_size;
  void* extension_start;
  LoadedExecutable* loaded_executable;
  Executable* executable;  // out, destroyed by the caller
};

// kiln leaves every field zero: no send/recv callbacks, no launch id, no non-donatable inputs. The
// 24 reserved bytes are fields after multi_slice_config that make the struct 144 bytes at 0.114.
struct ExecuteOptions {
  size_t struct_size;
  void* extension_start;
  void* send_callbacks;
  void* recv_callbacks;
  size_t num_send_ops;
  size_t num_recv_ops;
  int launch_id;
  const int64_t* non_donatable_input_indices;
  size_t num_non_donatable_input_indices;
  void* context;
  const char* call_location;
  size_t num_tasks;
  int* task_ids;
  int64_t* incarnation_ids;
  void* multi_slice_config;
  std::byte reserved[24];
};
struct LoadedExecutable_Execute_Args {
  size_t struct_size;
  void* extension_start;
  LoadedExecutable* executable;
  ExecuteOptions* options;
  Buffer* const* const* argument_lists;  // [num_devices][num_args]
  size_t num_devices;
  size_t num_args;
  Buffer** const* output_lists;    // [num_devices][num_outputs], allocated by the caller
  Event** device_complete_events;  // nullptr, or [num_devices] out
  Device* execute_device;
};

struct Buffer_Destroy_Args {
  size_t struct_size;
  void* extension_start;
  Buffer* buffer;
};
struct Buffer_ElementType_Args {
  size_t struct_size;
  void* extension_start;
  Buffer* buffer;
  BufferType type;  // out
};
struct Buffer_Dimensions_Args {
  size_t struct_size;
  void* extension_start;
  Buffer* buffer;
  const int64_t* dims;  // out, owned by the buffer
  size_t num_dims;      // out
};
struct Buffer_ToHostBuffer_Args {
  size_t struct_size;
  void* extension_start;
  Buffer* src;
  void* host_layout;  // nullptr: the buffer's own, dense
  void* dst;          // nullptr: only report dst_size
  size_t dst_size;    // in/out
  Event* event;       // out
};

template <class Args>
using Fn = Error* (*)(Args*);

// PJRT_Api: a 40-byte header, then one function pointer per slot; slot i lives at 40 + 8*i. Slots
// kiln does not call are reserved; their count is what keeps the named ones at their index.
struct Api {
  size_t struct_size;  // the plugin's table size: a slot past it does not exist
  void* extension_start;
  Api_Version pjrt_api_version;

  void (*PJRT_Error_Destroy)(Error_Destroy_Args*);        // 0
  void (*PJRT_Error_Message)(Error_Message_Args*);        // 1
  Fn<Error_GetCode_Args> PJRT_Error_GetCode;              // 2
  Fn<Plugin_Initialize_Args> PJRT_Plugin_Initialize;      // 3
  void* reserved_4[1];                                    // 4 Plugin_Attributes
  Fn<Event_Destroy_Args> PJRT_Event_Destroy;              // 5
  Fn<Event_IsReady_Args> PJRT_Event_IsReady;              // 6
  Fn<Event_Error_Args> PJRT_Event_Error;                  // 7
  Fn<Event_Await_Args> PJRT_Event_Await;                  // 8
  void* reserved_9[1];                                    // 9 Event_OnReady
  Fn<Client_Create_Args> PJRT_Client_Create;              // 10
  Fn<Client_Destroy_Args> PJRT_Client_Destroy;            // 11
  Fn<Client_PlatformName_Args> PJRT_Client_PlatformName;  // 12
  void* reserved_13[3];  // 13 ProcessIndex, 14 PlatformVersion, 15 Devices
  Fn<Client_AddressableDevices_Args> PJRT_Client_AddressableDevices;  // 16
  void* reserved_17[3];  // 17 LookupDevice, 18 LookupAddressableDevice, 19 AddressableMemories
  Fn<Client_Compile_Args> PJRT_Client_Compile;                              // 20
  void* reserved_21[1];                                                     // 21
  Fn<Client_BufferFromHostBuffer_Args> PJRT_Client_BufferFromHostBuffer;    // 22
  Fn<DeviceDescription_Id_Args> PJRT_DeviceDescription_Id;                  // 23
  void* reserved_24[1];                                                     // 24 ProcessIndex
  Fn<DeviceDescription_Attributes_Args> PJRT_DeviceDescription_Attributes;  // 25
  Fn<DeviceDescription_Kind_Args> PJRT_DeviceDescription_Kind;              // 26
  void* reserved_27[2];                                             // 27 DebugString, 28 ToString
  Fn<Device_GetDescription_Args> PJRT_Device_GetDescription;        // 29
  void* reserved_30[10];                                            // 30-39
  Fn<Executable_Destroy_Args> PJRT_Executable_Destroy;              // 40
  void* reserved_41[3];                                             // 41-43
  Fn<Executable_NumOutputs_Args> PJRT_Executable_NumOutputs;        // 44
  void* reserved_45[5];                                             // 45-49
  Fn<LoadedExecutable_Destroy_Args> PJRT_LoadedExecutable_Destroy;  // 50
  Fn<LoadedExecutable_GetExecutable_Args> PJRT_LoadedExecutable_GetExecutable;  // 51
  void* reserved_52[3];                                                         // 52-54
  Fn<LoadedExecutable_Execute_Args> PJRT_LoadedExecutable_Execute;              // 55
  void* reserved_56[2];                                                         // 56-57
  Fn<Buffer_Destroy_Args> PJRT_Buffer_Destroy;                                  // 58
  Fn<Buffer_ElementType_Args> PJRT_Buffer_ElementType;                          // 59
  Fn<Buffer_Dimensions_Args> PJRT_Buffer_Dimensions;                            // 60
  void* reserved_61[9];                                                         // 61-69
  Fn<Buffer_ToHostBuffer_Args> PJRT_Buffer_ToHostBuffer;                        // 70
  void* reserved_71[67];  // 71-137: the rest of the 0.114 table
};

using GetPjrtApiFn = const Api* (*)();

// The byte offset of slot i, and the table size a plugin must report for kiln to call it.
constexpr size_t slot_offset(int slot) {
  return 40 + 8 * static_cast<size_t>(slot);
}
constexpr size_t size_with_slot(int slot) {
  return slot_offset(slot) + 8;
}

// ---- Layout pins (64-bit Linux), from the facts in the notes and the header at 0.33/0.114. ----
static_assert(sizeof(void*) == 8 && sizeof(size_t) == 8, "the PJRT ABI kiln declares is LP64");
static_assert(sizeof(Api_Version) == 24);
static_assert(offsetof(Api, pjrt_api_version) == 16);
static_assert(offsetof(Api, PJRT_Error_Destroy) == slot_offset(0));
static_assert(offsetof(Api, PJRT_Plugin_Initialize) == slot_offset(3));
static_assert(offsetof(Api, PJRT_Event_Destroy) == slot_offset(5));
static_assert(offsetof(Api, PJRT_Event_Await) == slot_offset(8));
static_assert(offsetof(Api, PJRT_Client_Create) == slot_offset(10));
static_assert(offsetof(Api, PJRT_Client_PlatformName) == slot_offset(12));
static_assert(offsetof(Api, PJRT_Client_AddressableDevices) == slot_offset(16));
static_assert(offsetof(Api, PJRT_Client_Compile) == 40 + 8 * 20);
static_assert(offsetof(Api, PJRT_Client_BufferFromHostBuffer) == slot_offset(22));
static_assert(offsetof(Api, PJRT_DeviceDescription_Id) == slot_offset(23));
static_assert(offsetof(Api, PJRT_DeviceDescription_Attributes) == slot_offset(25));
static_assert(offsetof(Api, PJRT_DeviceDescription_Kind) == slot_offset(26));
static_assert(offsetof(Api, PJRT_Device_GetDescription) == slot_offset(29));
static_assert(offsetof(Api, PJRT_Executable_Destroy) == slot_offset(40));
static_assert(offsetof(Api, PJRT_Executable_NumOutputs) == slot_offset(44));
static_assert(offsetof(Api, PJRT_LoadedExecutable_Destroy) == slot_offset(50));
static_assert(offsetof(Api, PJRT_LoadedExecutable_GetExecutable) == slot_offset(51));
static_assert(offsetof(Api, PJRT_LoadedExecutable_Execute) == slot_offset(55));
static_assert(offsetof(Api, PJRT_Buffer_Destroy) == slot_offset(58));
static_assert(offsetof(Api, PJRT_Buffer_Dimensions) == slot_offset(60));
static_assert(offsetof(Api, PJRT_Buffer_ToHostBuffer) == slot_offset(70));
static_assert(sizeof(Api) == 1144, "PJRT_Api is 1144 bytes (138 slots) at 0.114");

static_assert(sizeof(NamedValue) == 56 && offsetof(NamedValue, type) == 32 &&
              offsetof(NamedValue, int64_value) == 40);
static_assert(sizeof(Error_Destroy_Args) == 24 && sizeof(Error_Message_Args) == 40 &&
              sizeof(Error_GetCode_Args) == 32 && offsetof(Error_GetCode_Args, code) == 24);
static_assert(sizeof(Plugin_Initialize_Args) == 16);
static_assert(sizeof(Event_Destroy_Args) == 24 && sizeof(Event_IsReady_Args) == 32 &&
              sizeof(Event_Error_Args) == 24 && sizeof(Event_Await_Args) == 24);
static_assert(sizeof(Client_Create_Args) == 88 && offsetof(Client_Create_Args, client) == 64);
static_assert(sizeof(Client_Destroy_Args) == 24 && sizeof(Client_PlatformName_Args) == 40);
static_assert(sizeof(Client_AddressableDevices_Args) == 40);
static_assert(sizeof(Program) == 48 && offsetof(Program, format) == 32);
static_assert(sizeof(Client_Compile_Args) == 56 && offsetof(Client_Compile_Args, executable) == 48);
static_assert(sizeof(Client_BufferFromHostBuffer_Args) == 120 &&
              offsetof(Client_BufferFromHostBuffer_Args, type) == 32 &&
              offsetof(Client_BufferFromHostBuffer_Args, host_buffer_semantics) == 72 &&
              offsetof(Client_BufferFromHostBuffer_Args, device) == 80 &&
              offsetof(Client_BufferFromHostBuffer_Args, done_with_host_buffer) == 104);
static_assert(sizeof(DeviceDescription_Attributes_Args) == 40 &&
              offsetof(DeviceDescription_Attributes_Args, attributes) == 32);
static_assert(sizeof(DeviceDescription_Id_Args) == 32 &&
              sizeof(DeviceDescription_Kind_Args) == 40 &&
              sizeof(Device_GetDescription_Args) == 32);
static_assert(sizeof(Executable_Destroy_Args) == 24 && sizeof(Executable_NumOutputs_Args) == 32 &&
              sizeof(LoadedExecutable_Destroy_Args) == 24 &&
              sizeof(LoadedExecutable_GetExecutable_Args) == 32);
static_assert(offsetof(ExecuteOptions, launch_id) == 48 &&
              offsetof(ExecuteOptions, non_donatable_input_indices) == 56 &&
              offsetof(ExecuteOptions, multi_slice_config) == 112 && sizeof(ExecuteOptions) == 144);
static_assert(sizeof(LoadedExecutable_Execute_Args) == 80 &&
              offsetof(LoadedExecutable_Execute_Args, output_lists) == 56);
static_assert(sizeof(Buffer_Destroy_Args) == 24 && sizeof(Buffer_ElementType_Args) == 32 &&
              sizeof(Buffer_Dimensions_Args) == 40);
static_assert(sizeof(Buffer_ToHostBuffer_Args) == 56 &&
              offsetof(Buffer_ToHostBuffer_Args, dst_size) == 40);

// A zero-filled argument struct with struct_size set, as every call begins.
template <class Args>
Args args() {
  Args a{};
  a.struct_size = sizeof(Args);
  return a;
}

}  // namespace kiln::pjrt::capi

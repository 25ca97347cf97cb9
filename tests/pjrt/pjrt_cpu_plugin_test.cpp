// The conformance plugin through the raw C API, as any PJRT host would drive it: buffers round trip
// and its events (IsReady / Error / Await / Destroy) behave as pjrt_c_api.h documents.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "backend/pjrt/c_api.hpp"
#include "pjrt/plugin_hooks.hpp"

namespace kiln::pjrt::capi {
namespace {

class PjrtCpuPlugin : public kiln::testing::PluginHooks {
 protected:
  void SetUp() override {
    PluginHooks::SetUp();
    lib_ = dlopen(KILN_PJRT_CPU_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(lib_, nullptr) << dlerror();
    auto get = reinterpret_cast<GetPjrtApiFn>(dlsym(lib_, "GetPjrtApi"));
    ASSERT_NE(get, nullptr);
    api_ = get();
    auto init = args<Plugin_Initialize_Args>();
    ASSERT_EQ(api_->PJRT_Plugin_Initialize(&init), nullptr);
    auto create = args<Client_Create_Args>();
    ASSERT_EQ(api_->PJRT_Client_Create(&create), nullptr);
    client_ = create.client;
    auto list = args<Client_AddressableDevices_Args>();
    list.client = client_;
    ASSERT_EQ(api_->PJRT_Client_AddressableDevices(&list), nullptr);
    ASSERT_EQ(list.num_addressable_devices, 1u);
    device_ = list.addressable_devices[0];
  }
  void TearDown() override {
    auto d = args<Client_Destroy_Args>();
    d.client = client_;
    if (api_ != nullptr) {
      EXPECT_EQ(api_->PJRT_Client_Destroy(&d), nullptr);
    }
    PluginHooks::TearDown();
  }

  // f32[2,3] {0..5} on the device; the done_with_host_buffer event is checked and destroyed.
  Buffer* upload() {
    auto up = args<Client_BufferFromHostBuffer_Args>();
    up.client = client_;
    up.data = host_.data();
    up.type = BufferType::f32;
    up.dims = dims_;
    up.num_dims = 2;
    up.device = device_;
    EXPECT_EQ(api_->PJRT_Client_BufferFromHostBuffer(&up), nullptr);
    EXPECT_NE(up.done_with_host_buffer, nullptr);
    expect_ready_without_error(up.done_with_host_buffer);
    return up.buffer;
  }
  void expect_ready_without_error(Event* e) {
    auto ready = args<Event_IsReady_Args>();
    ready.event = e;
    EXPECT_EQ(api_->PJRT_Event_IsReady(&ready), nullptr);
    EXPECT_TRUE(ready.is_ready);
    auto err = args<Event_Error_Args>();
    err.event = e;
    EXPECT_EQ(api_->PJRT_Event_Error(&err), nullptr);
    auto wait = args<Event_Await_Args>();
    wait.event = e;
    EXPECT_EQ(api_->PJRT_Event_Await(&wait), nullptr);
    destroy(e);
  }
  void destroy(Event* e) {
    auto d = args<Event_Destroy_Args>();
    d.event = e;
    EXPECT_EQ(api_->PJRT_Event_Destroy(&d), nullptr);
  }
  std::string message(Error* e) {
    auto m = args<Error_Message_Args>();
    m.error = e;
    api_->PJRT_Error_Message(&m);
    return std::string(m.message, m.message_size);
  }
  ErrorCode code(Error* e) {
    auto c = args<Error_GetCode_Args>();
    c.error = e;
    EXPECT_EQ(api_->PJRT_Error_GetCode(&c), nullptr);
    return c.code;
  }
  void destroy(Error* e) {
    auto d = args<Error_Destroy_Args>();
    d.error = e;
    api_->PJRT_Error_Destroy(&d);
  }

  void* lib_ = nullptr;
  const Api* api_ = nullptr;
  Client* client_ = nullptr;
  Device* device_ = nullptr;
  std::vector<float> host_ = {0, 1, 2, 3, 4, 5};
  int64_t dims_[2] = {2, 3};
};

TEST_F(PjrtCpuPlugin, ReportsTheVersionAndTableSizeKilnDeclares) {
  EXPECT_EQ(api_->pjrt_api_version.major_version, 0);
  EXPECT_EQ(api_->pjrt_api_version.minor_version, 114);
  EXPECT_EQ(api_->struct_size, 1144u);
}

TEST_F(PjrtCpuPlugin, BuffersRoundTripWithTheirTypeAndDims) {
  Buffer* b = upload();
  auto type = args<Buffer_ElementType_Args>();
  type.buffer = b;
  ASSERT_EQ(api_->PJRT_Buffer_ElementType(&type), nullptr);
  EXPECT_EQ(type.type, BufferType::f32);
  auto dims = args<Buffer_Dimensions_Args>();
  dims.buffer = b;
  ASSERT_EQ(api_->PJRT_Buffer_Dimensions(&dims), nullptr);
  ASSERT_EQ(dims.num_dims, 2u);
  EXPECT_EQ(dims.dims[0], 2);
  EXPECT_EQ(dims.dims[1], 3);

  auto size = args<Buffer_ToHostBuffer_Args>();
  size.src = b;
  ASSERT_EQ(api_->PJRT_Buffer_ToHostBuffer(&size), nullptr);
  EXPECT_EQ(size.dst_size, 24u);
  std::vector<float> back(6, -1);
  auto copy = args<Buffer_ToHostBuffer_Args>();
  copy.src = b;
  copy.dst = back.data();
  copy.dst_size = 24;
  ASSERT_EQ(api_->PJRT_Buffer_ToHostBuffer(&copy), nullptr);
  expect_ready_without_error(copy.event);
  EXPECT_EQ(back, host_);

  auto d = args<Buffer_Destroy_Args>();
  d.buffer = b;
  EXPECT_EQ(api_->PJRT_Buffer_Destroy(&d), nullptr);
}

TEST_F(PjrtCpuPlugin, AFailedTransferIsAnEventCarryingTheError) {
  setenv("KILN_PJRT_TEST_TRANSFER_ERROR", "link to chip 0 went down", 1);
  auto init = args<Plugin_Initialize_Args>();
  ASSERT_EQ(api_->PJRT_Plugin_Initialize(&init), nullptr);  // hooks are read here
  Buffer* b = upload();
  std::vector<float> back(6);
  auto copy = args<Buffer_ToHostBuffer_Args>();
  copy.src = b;
  copy.dst = back.data();
  copy.dst_size = 24;
  ASSERT_EQ(api_->PJRT_Buffer_ToHostBuffer(&copy), nullptr);  // the call succeeds; the event fails
  auto ready = args<Event_IsReady_Args>();
  ready.event = copy.event;
  ASSERT_EQ(api_->PJRT_Event_IsReady(&ready), nullptr);
  EXPECT_TRUE(ready.is_ready);
  // Event_Error and Event_Await each return an independent error the caller destroys.
  auto err = args<Event_Error_Args>();
  err.event = copy.event;
  Error* e1 = api_->PJRT_Event_Error(&err);
  auto wait = args<Event_Await_Args>();
  wait.event = copy.event;
  Error* e2 = api_->PJRT_Event_Await(&wait);
  ASSERT_NE(e1, nullptr);
  ASSERT_NE(e2, nullptr);
  EXPECT_NE(e1, e2);
  EXPECT_EQ(message(e1), "link to chip 0 went down");
  EXPECT_EQ(code(e2), ErrorCode::data_loss);
  destroy(e1);
  destroy(e2);
  destroy(copy.event);
  auto d = args<Buffer_Destroy_Args>();
  d.buffer = b;
  EXPECT_EQ(api_->PJRT_Buffer_Destroy(&d), nullptr);
}

TEST_F(PjrtCpuPlugin, ACallerStructSmallerThanThePluginsIsRefused) {
  auto up = args<Client_BufferFromHostBuffer_Args>();
  up.struct_size = 64;  // a caller built against an older header
  Error* e = api_->PJRT_Client_BufferFromHostBuffer(&up);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(code(e), ErrorCode::invalid_argument);
  EXPECT_EQ(message(e),
            "PJRT_Client_BufferFromHostBuffer_Args struct_size 64 is smaller than 120: "
            "the plugin is built with a later version than the framework");
  destroy(e);
}

TEST_F(PjrtCpuPlugin, OnlyTheMlirFormatCompiles) {
  auto program = args<Program>();
  program.code = "";
  program.format = "hlo";
  program.format_size = 3;
  const char options[] = {0x1A, 0x00};
  auto c = args<Client_Compile_Args>();
  c.client = client_;
  c.program = &program;
  c.compile_options = options;
  c.compile_options_size = 2;
  Error* e = api_->PJRT_Client_Compile(&c);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(code(e), ErrorCode::invalid_argument);
  EXPECT_EQ(message(e),
            "program format 'hlo' is not supported; kilncpu compiles 'mlir' (StableHLO "
            "text)");
  destroy(e);
}

}  // namespace
}  // namespace kiln::pjrt::capi

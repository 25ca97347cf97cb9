// Processes joined through process 0's coordination store, collectives on Gloo's TCP transport
// (include/kiln/distributed.hpp). Without Gloo in the build (KILN_HAVE_GLOO unset: libgloo-dev
// was missing when kiln was configured) initialize is Unsupported and a lone process still works.
#include "kiln/distributed.hpp"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "distributed/coordination_store.hpp"
#include "kiln/error.hpp"

#ifdef KILN_HAVE_GLOO
#include <gloo/allreduce.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>
#endif

namespace kiln::distributed {

namespace {

using detail::CoordinationClient;
using detail::CoordinationServer;
using detail::HostPort;
using detail::seconds_text;
using std::chrono::milliseconds;

// The value of environment variable `name`, or nullopt when unset or empty.
std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

// An integer setting: `given` when >= 0, else the first of `names` that is set.
struct IntSetting {
  int value = -1;
  std::string source;  // where it came from, for messages
};
IntSetting int_setting(int given, const char* argument, std::initializer_list<const char*> names) {
  if (given >= 0) return {given, argument};
  for (const char* n : names) {
    if (std::optional<std::string> v = env(n)) {
      char* end = nullptr;
      const long x = std::strtol(v->c_str(), &end, 10);
      if (*end != '\0' || x < 0 || x > 1 << 20)
        throw ValueError(std::string(n) + "='" + *v + "' is not a non-negative integer");
      return {static_cast<int>(x), n};
    }
  }
  return {};
}

#ifdef KILN_HAVE_GLOO

milliseconds timeout_of(const Options& options) {
  if (std::optional<std::string> v = env("KILN_DISTRIBUTED_TIMEOUT")) {
    char* end = nullptr;
    const double s = std::strtod(v->c_str(), &end);
    if (*end != '\0' || !(s > 0) || s > 1e6)
      throw ValueError("KILN_DISTRIBUTED_TIMEOUT='" + *v + "' is not a positive number of seconds");
    return milliseconds(static_cast<int64_t>(s * 1000));
  }
  return options.timeout;
}

// Gloo's rendezvous through the coordinator: its keys under "gloo/", every wait bounded.
class CoordinatorStore : public gloo::rendezvous::Store {
 public:
  CoordinatorStore(CoordinationClient& client, milliseconds timeout)
      : client_(client), timeout_(timeout) {}
  void set(const std::string& key, const std::vector<char>& data) override {
    client_.set("gloo/" + key, data);
  }
  std::vector<char> get(const std::string& key) override {
    return client_.get("gloo/" + key, timeout_, "Gloo's address key '" + key + "'");
  }
  void wait(const std::vector<std::string>& keys) override { wait(keys, timeout_); }
  void wait(const std::vector<std::string>& keys, const milliseconds& timeout) override {
    for (const std::string& k : keys) client_.get("gloo/" + k, timeout, "Gloo's key '" + k + "'");
  }

 private:
  CoordinationClient& client_;
  milliseconds timeout_;
};

struct World {
  int rank = 0;
  int size = 1;
  milliseconds timeout{0};
  std::vector<std::string> hosts;              // each process's address, by id
  std::unique_ptr<CoordinationServer> server;  // process 0 only
  std::unique_ptr<CoordinationClient> client;
  std::shared_ptr<gloo::Context> context;
};

#else

struct World {
  int rank = 0;
  int size = 1;
};

#endif

std::mutex g_mu;
std::unique_ptr<World> g_world;

World* world() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_world.get();
}

#ifdef KILN_HAVE_GLOO

// The process a Gloo error names by its address ("[10.0.0.2]:41234"), when only one has it.
std::string peer_in(const World& w, const std::string& gloo_message) {
  const size_t open = gloo_message.find('[');
  const size_t close = gloo_message.find(']', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || close == std::string::npos) return "";
  const std::string ip = gloo_message.substr(open + 1, close - open - 1);
  int found = -1;
  for (int i = 0; i < static_cast<int>(w.hosts.size()); ++i) {
    if (w.hosts[static_cast<size_t>(i)] != ip || i == w.rank) continue;
    if (found >= 0) return "";  // several processes on that host
    found = i;
  }
  return found < 0 ? "" : "process " + std::to_string(found) + " (" + ip + ")";
}

// The first process that ended, as the coordinator saw its connection close (waiting up to half
// a second for it to notice); "process 0 (the coordinator)" when the coordinator is gone itself;
// "" when none has ended (a process that hangs, or a cut link).
std::string first_to_leave(World& w) {
  try {
    for (int i = 0; i < 10; ++i) {
      const std::vector<int> left = w.client->left();
      for (int id : left)
        if (id != w.rank) return "process " + std::to_string(id);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  } catch (const Error&) {
    return "process 0 (the coordinator)";
  }
  return "";
}

// A failed Gloo operation as a kiln::Error: which operation, which peer when known, what to do.
[[noreturn]] void collective_failed(World& w, const std::string& what, const char* why) {
  const std::string message = why;
  std::string who = w.size == 2 ? "process " + std::to_string(1 - w.rank) : peer_in(w, message);
  if (who.empty()) who = first_to_leave(w);
  if (who.empty()) who = "another process";
  const bool timed_out = message.find("imed out") != std::string::npos;
  throw Error("process " + std::to_string(w.rank) + " of " + std::to_string(w.size) + ": " + who +
              (timed_out ? " did not answer within " + seconds_text(w.timeout)
                         : " stopped answering (it ended, or its network failed)") +
              " during " + what + " (Gloo: " + message +
              "). Every process stops: restart them all (a run of kiln train continues from "
              "process 0's last checkpoint with --resume)");
}

#endif

}  // namespace

bool available() {
#ifdef KILN_HAVE_GLOO
  return true;
#else
  return false;
#endif
}

void initialize(const std::string& coordinator_address, int num_processes, int process_id,
                const Options& options) {
  if (world() != nullptr)
    throw ValueError(
        "kiln::distributed::initialize: already initialized; call shutdown() first to join "
        "again");
  std::string address_source = "coordinator_address (--coordinator)";
  std::string address = coordinator_address;
  if (address.empty()) {
    address = env("KILN_COORDINATOR_ADDRESS").value_or("");
    address_source = "KILN_COORDINATOR_ADDRESS";
  }
  const IntSetting count =
      int_setting(num_processes, "num_processes (--num-processes)",
                  {"KILN_NUM_PROCESSES", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"});
  const IntSetting id =
      int_setting(process_id, "process_id (--process-id)",
                  {"KILN_PROCESS_ID", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID"});
  if (address.empty())
    throw ValueError(
        "kiln::distributed::initialize: no coordinator address; give process 0's HOST:PORT as "
        "the coordinator_address argument or in KILN_COORDINATOR_ADDRESS (the same in every "
        "process)");
  if (count.value < 0)
    throw ValueError(
        "kiln::distributed::initialize: no process count; give num_processes or set "
        "KILN_NUM_PROCESSES (the same in every process)");
  if (id.value < 0)
    throw ValueError(
        "kiln::distributed::initialize: no process id; give process_id or set KILN_PROCESS_ID "
        "(0 for the coordinator, then 1..N-1)");
  if (count.value < 1)
    throw ValueError("kiln::distributed::initialize: the process count (" + count.source +
                     ") is 0; it must be at least 1");
  if (id.value >= count.value)
    throw ValueError("kiln::distributed::initialize: process id " + std::to_string(id.value) +
                     " (" + id.source + ") is out of range for " + std::to_string(count.value) +
                     " processes (" + count.source + "); ids are 0.." +
                     std::to_string(count.value - 1));
  const HostPort coordinator = detail::parse_host_port(address, address_source);
#ifndef KILN_HAVE_GLOO
  (void)options;
  (void)coordinator;
  throw Unsupported(
      "kiln::distributed::initialize: this kiln was built without Gloo, its multi-process "
      "engine; install libgloo-dev (scripts/install.sh) and configure and build kiln again");
#else
  auto w = std::make_unique<World>();
  w->rank = id.value;
  w->size = count.value;
  w->timeout = timeout_of(options);
  if (w->rank == 0) w->server = std::make_unique<CoordinationServer>(coordinator, w->size);
  w->client = std::make_unique<CoordinationClient>(coordinator, w->timeout);
  w->client->join(w->rank, w->size);
  const std::string me =
      options.local_address.empty() ? w->client->local_ip() : options.local_address;
  w->client->set("host/" + std::to_string(w->rank), {me.begin(), me.end()});
  for (int i = 0; i < w->size; ++i) {
    const std::vector<char> h = w->client->get(
        "host/" + std::to_string(i), w->timeout,
        "process " + std::to_string(i) + " of " + std::to_string(w->size) + " to join");
    w->hosts.emplace_back(h.begin(), h.end());
  }
  detail::refuse_mixed_loopback(w->hosts, coordinator);
  try {
    gloo::transport::tcp::attr attr(me.c_str());
    attr.ai_family = AF_INET;
    std::shared_ptr<gloo::transport::Device> device = gloo::transport::tcp::CreateDevice(attr);
    auto context = std::make_shared<gloo::rendezvous::Context>(w->rank, w->size);
    context->setTimeout(w->timeout);
    CoordinatorStore store(*w->client, w->timeout);
    context->connectFullMesh(store, device);
    w->context = std::move(context);
    // Process 0 serves the store until every process is done with it: the others' last use is
    // their connectFullMesh, after which each says so.
    w->client->set("ready/" + std::to_string(w->rank), {'1'});
    if (w->rank == 0)
      for (int i = 1; i < w->size; ++i)
        w->client->get("ready/" + std::to_string(i), w->timeout,
                       "process " + std::to_string(i) + " to connect to the others");
  } catch (const kiln::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("process " + std::to_string(w->rank) + " could not connect to the other " +
                std::to_string(w->size - 1) + " processes over Gloo (listening on " + me + "): " +
                e.what() + "; check that every process's address is reachable from the others");
  }
  std::lock_guard<std::mutex> lock(g_mu);
  g_world = std::move(w);
#endif
}

void shutdown() {
  std::unique_ptr<World> w;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    w.swap(g_world);
  }
  // Closing the connections is all: process 0's store served its last request in initialize (so
  // no barrier here, which would make a process that fails alone wait for the others).
  w.reset();
}

bool is_initialized() {
  return world() != nullptr;
}

int process_index() {
  const World* w = world();
  return w ? w->rank : 0;
}

int process_count() {
  const World* w = world();
  return w ? w->size : 1;
}

void all_reduce_sum(std::span<float> values, const std::string& what) {
  World* w = world();
  if (w == nullptr || w->size == 1 || values.empty()) return;
#ifdef KILN_HAVE_GLOO
  try {
    gloo::AllreduceOptions opts(w->context);
    opts.setOutput(values.data(), values.size());
    opts.setReduceFunction(
        static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
    opts.setTimeout(w->timeout);
    gloo::allreduce(opts);
  } catch (const std::exception& e) {
    collective_failed(*w, what, e.what());
  }
#else
  (void)what;
#endif
}

void broadcast(std::span<uint8_t> bytes, const std::string& what) {
  World* w = world();
  if (w == nullptr || w->size == 1 || bytes.empty()) return;
#ifdef KILN_HAVE_GLOO
  try {
    gloo::BroadcastOptions opts(w->context);
    opts.setOutput(bytes.data(), bytes.size());
    opts.setRoot(0);
    opts.setTimeout(w->timeout);
    gloo::broadcast(opts);
  } catch (const std::exception& e) {
    collective_failed(*w, what, e.what());
  }
#else
  (void)what;
#endif
}

void check_same(const std::string& what, const std::string& value) {
  if (process_count() == 1) return;
  uint64_t n = value.size();
  broadcast({reinterpret_cast<uint8_t*>(&n), sizeof n}, "the check of " + what);
  std::string theirs(n, '\0');
  if (process_index() == 0) theirs = value;
  broadcast({reinterpret_cast<uint8_t*>(theirs.data()), theirs.size()}, "the check of " + what);
  float differs = theirs == value ? 0.0f : 1.0f;
  all_reduce_sum({&differs, 1}, "the check of " + what);
  if (theirs != value)
    throw ValueError("the processes disagree on " + what + ": process 0 has " + theirs +
                     ", process " + std::to_string(process_index()) + " has " + value +
                     "; give every process the same");
  if (differs > 0)
    throw ValueError("the processes disagree on " + what + " (process " +
                     std::to_string(process_index()) + " has " + value +
                     "; the others' errors say what they have); give every process the same");
}

namespace {

std::string describe_leaves(const std::vector<Array>& leaves) {
  std::string s;
  for (const Array& a : leaves)
    s += std::string(short_name(a.dtype())) + "[" + a.shape().dims_str() + "] ";
  return s;
}

}  // namespace

Tree all_reduce_sum(const Tree& tree, const std::string& what) {
  if (process_count() == 1) return tree;
  auto [leaves, def] = flatten(tree);
  size_t total = 0;
  for (const Array& a : leaves) {
    if (a.dtype() != float32)
      throw DTypeError("kiln::distributed::all_reduce_sum: a leaf is " +
                       std::string(short_name(a.dtype())) + "[" + a.shape().dims_str() +
                       "]; only float32 leaves are summed");
    total += static_cast<size_t>(a.size());
  }
  std::vector<float> flat(total);
  size_t at = 0;
  for (const Array& a : leaves) {
    a.copy_to_host(flat.data() + at, float32);
    at += static_cast<size_t>(a.size());
  }
  all_reduce_sum(std::span<float>(flat), what);
  std::vector<Array> out;
  out.reserve(leaves.size());
  at = 0;
  for (const Array& a : leaves) {
    const auto n = static_cast<size_t>(a.size());
    out.push_back(Array::from_data(std::span<const float>(flat.data() + at, n), a.shape()));
    at += n;
  }
  return unflatten(def, out);
}

Tree broadcast(const Tree& tree, const std::string& what) {
  if (process_count() == 1) return tree;
  auto [leaves, def] = flatten(tree);
  check_same("the arrays of " + what, describe_leaves(leaves));
  size_t total = 0;
  for (const Array& a : leaves) total += static_cast<size_t>(a.size()) * itemsize(a.dtype());
  std::vector<uint8_t> bytes(total);
  size_t at = 0;
  for (const Array& a : leaves) {
    a.copy_to_host(bytes.data() + at, a.dtype());
    at += static_cast<size_t>(a.size()) * itemsize(a.dtype());
  }
  broadcast(std::span<uint8_t>(bytes), what);
  std::vector<Array> out;
  out.reserve(leaves.size());
  at = 0;
  for (const Array& a : leaves) {
    const size_t n = static_cast<size_t>(a.size()) * itemsize(a.dtype());
    out.push_back(Array::from_bytes(bytes.data() + at, n, a.dtype(), a.shape()));
    at += n;
  }
  return unflatten(def, out);
}

}  // namespace kiln::distributed

// kiln::distributed's API: settings from arguments and the environment, the errors of bad ones, a
// world of one process, and two processes (this test binary started again as process 1, running
// Distributed.PeerProcess) summing, broadcasting and checking across each other. The CLI's runs
// across processes and machines are in tests/cli/multi_process_test.sh.
#include "kiln/distributed.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "distributed/coordination_store.hpp"
#include "kiln/error.hpp"
#include "kiln/ops.hpp"

extern char** environ;

namespace kiln {
namespace {

using namespace std::chrono_literals;

// Sets environment variables for one test and restores them after.
class Env {
 public:
  void set(const char* name, const std::string& value) {
    const char* old = std::getenv(name);
    saved_.push_back({name, old ? std::optional<std::string>(old) : std::nullopt});
    ::setenv(name, value.c_str(), 1);
  }
  ~Env() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second)
        ::setenv(it->first.c_str(), it->second->c_str(), 1);
      else
        ::unsetenv(it->first.c_str());
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// The message of the kiln::Error `f` throws ("" when it throws none).
template <class E, class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

#define EXPECT_HAS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)

TEST(Distributed, AloneUntilInitialized) {
  ASSERT_FALSE(distributed::is_initialized());
  EXPECT_EQ(distributed::process_index(), 0);
  EXPECT_EQ(distributed::process_count(), 1);
  // The collectives of one process are the identity.
  std::vector<float> v{1, 2, 3};
  distributed::all_reduce_sum(std::span<float>(v), "a sum");
  EXPECT_EQ(v, (std::vector<float>{1, 2, 3}));
  const Tree t = Tree::dict({{"w", Array::from_data(std::span<const float>(v), {3})}});
  EXPECT_EQ(distributed::all_reduce_sum(t, "a sum")["w"].leaf().to_vector<float>(), v);
  distributed::check_same("anything", "mine");
  distributed::shutdown();  // harmless when not initialized
}

// Process 0's store on its own: the checks of join, values, a bounded wait, and a client that
// is not kiln's (its connection is dropped; the store goes on).
TEST(CoordinationStore, JoinChecksValuesAndBoundedWaits) {
  using namespace distributed::detail;
  const HostPort at{"127.0.0.1", free_port()};
  CoordinationServer server(at, 2);
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(at.port));
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    const char garbage[] = "J\3\0\0\0abc\1\0\0\0x";
    ASSERT_EQ(::send(fd, garbage, sizeof garbage - 1, 0), static_cast<ssize_t>(sizeof garbage - 1));
    char c = 0;
    EXPECT_EQ(::recv(fd, &c, 1, 0), 0);  // closed, no reply
    ::close(fd);
  }
  CoordinationClient one(at, 2s);
  std::optional<CoordinationClient> two;
  two.emplace(at, 2s);
  one.join(0, 2);
  EXPECT_HAS(error_of<ValueError>([&] { two->join(0, 2); }),
             "process id 0 is taken: another process joined the coordinator at " + at.str() +
                 " with it; give each process its own id in 0..1");
  EXPECT_HAS(error_of<ValueError>([&] { two->join(1, 3); }),
             "process 1 was started for 3 processes, but process 0 (the coordinator at " +
                 at.str() + ") for 2: give every process the same process count");
  two->join(1, 2);
  one.set("k", {'v', '1'});
  EXPECT_EQ(two->get("k", 1s), (std::vector<char>{'v', '1'}));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_HAS(error_of<Error>([&] { (void)two->get("never", 300ms, "the key that never comes"); }),
             "waited 0.3 s for the key that never comes at the coordinator " + at.str());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);
  EXPECT_EQ(one.local_ip(), "127.0.0.1");
  // A process that ends is reported as having left (what names the peer when a collective
  // fails); one still connected, or one that never joined, is not.
  { CoordinationClient never_joined(at, 2s); }
  EXPECT_EQ(one.left(), std::vector<int>{});
  two.reset();
  std::vector<int> left;
  for (int i = 0; i < 100 && left.empty(); ++i) {
    std::this_thread::sleep_for(10ms);
    left = one.left();
  }
  EXPECT_EQ(left, std::vector<int>{1});
  // A second server on the port is refused with the remedy.
  EXPECT_HAS(error_of<Error>([&] { CoordinationServer again(at, 2); }),
             "process 0 cannot serve the coordinator on port " + std::to_string(at.port));
}

TEST(Distributed, LoopbackBesideOtherAddressesIsRefused) {
  using distributed::detail::refuse_mixed_loopback;
  const distributed::detail::HostPort coordinator{"localhost", 7777};
  // all on one machine's loopback, or all on real addresses: fine
  EXPECT_NO_THROW(refuse_mixed_loopback({"127.0.0.1", "127.0.0.1"}, coordinator));
  EXPECT_NO_THROW(refuse_mixed_loopback({"10.0.0.1", "10.0.0.2", "10.0.0.3"}, coordinator));
  // process 0 reached itself through localhost (or 127.0.1.1), the others are elsewhere
  try {
    refuse_mixed_loopback({"127.0.1.1", "10.0.0.2", "10.0.0.3"}, coordinator);
    FAIL() << "mixed loopback and other addresses were accepted";
  } catch (const ValueError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("process 0 (127.0.1.1) would listen for the others on a loopback address"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("localhost:7777"), std::string::npos) << m;
    EXPECT_NE(m.find("Options::local_address"), std::string::npos) << m;
  }
}

TEST(Distributed, MissingAndBadSettingsSayWhatToGive) {
  Env env;
  for (const char* n :
       {"KILN_COORDINATOR_ADDRESS", "KILN_NUM_PROCESSES", "KILN_PROCESS_ID", "OMPI_COMM_WORLD_SIZE",
        "OMPI_COMM_WORLD_RANK", "PMI_SIZE", "PMI_RANK", "SLURM_NTASKS", "SLURM_PROCID"})
    env.set(n, "");
  EXPECT_HAS(error_of<ValueError>([] { distributed::initialize(); }),
             "no coordinator address; give process 0's HOST:PORT as the coordinator_address "
             "argument or in KILN_COORDINATOR_ADDRESS");
  EXPECT_HAS(error_of<ValueError>([] { distributed::initialize("127.0.0.1:9", -1, 0); }),
             "no process count; give num_processes or set KILN_NUM_PROCESSES");
  EXPECT_HAS(error_of<ValueError>([] { distributed::initialize("127.0.0.1:9", 2); }),
             "no process id; give process_id or set KILN_PROCESS_ID");
  EXPECT_HAS(error_of<ValueError>([] { distributed::initialize("127.0.0.1:9", 2, 2); }),
             "process id 2 (process_id (--process-id)) is out of range for 2 processes "
             "(num_processes (--num-processes)); ids are 0..1");
  EXPECT_HAS(error_of<ValueError>([] { distributed::initialize("127.0.0.1", 2, 1); }),
             "the coordinator address '127.0.0.1' (coordinator_address (--coordinator)) has no "
             "host:port form");
  EXPECT_HAS(error_of<ValueError>([] { distributed::initialize("h:70000", 2, 1); }),
             "has a port outside 1..65535");
  // The launchers' variables stand in for kiln's: Open MPI's size and rank.
  env.set("KILN_COORDINATOR_ADDRESS", "127.0.0.1:9");
  env.set("OMPI_COMM_WORLD_SIZE", "2");
  env.set("OMPI_COMM_WORLD_RANK", "3");
  EXPECT_HAS(error_of<ValueError>([] { distributed::initialize(); }),
             "process id 3 (OMPI_COMM_WORLD_RANK) is out of range for 2 processes "
             "(OMPI_COMM_WORLD_SIZE)");
  env.set("KILN_NUM_PROCESSES", "two");
  EXPECT_HAS(error_of<ValueError>([] { distributed::initialize(); }),
             "KILN_NUM_PROCESSES='two' is not a non-negative integer");
  EXPECT_FALSE(distributed::is_initialized());
}

TEST(Distributed, NoCoordinatorIsAnErrorAfterTheTimeout) {
  if (!distributed::available()) GTEST_SKIP() << "kiln built without Gloo";
  Env env;
  env.set("KILN_DISTRIBUTED_TIMEOUT", "");
  const std::string address = "127.0.0.1:" + std::to_string(free_port());
  const auto t0 = std::chrono::steady_clock::now();
  const std::string e = error_of<Error>(
      [&] { distributed::initialize(address, 2, 1, {.timeout = std::chrono::milliseconds(700)}); });
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_HAS(e, "no coordinator answered at " + address + " within 0.7 s");
  EXPECT_HAS(e, "start process 0 with this address");
  EXPECT_GE(waited, 600ms);
  EXPECT_LT(waited, 10s);
  EXPECT_FALSE(distributed::is_initialized());
}

TEST(Distributed, WithoutGlooInitializeIsUnsupported) {
  if (distributed::available()) GTEST_SKIP() << "kiln built with Gloo";
  EXPECT_HAS(error_of<Unsupported>([] { distributed::initialize("127.0.0.1:9", 2, 1); }),
             "install libgloo-dev");
}

TEST(Distributed, OneProcessWorld) {
  if (!distributed::available()) GTEST_SKIP() << "kiln built without Gloo";
  const std::string address = "127.0.0.1:" + std::to_string(free_port());
  distributed::initialize(address, 1, 0);
  EXPECT_TRUE(distributed::is_initialized());
  EXPECT_EQ(distributed::process_count(), 1);
  EXPECT_HAS(error_of<ValueError>([&] { distributed::initialize(address, 1, 0); }),
             "already initialized; call shutdown() first");
  distributed::shutdown();
  EXPECT_FALSE(distributed::is_initialized());
  // Again, on the same port: the store of the first was closed.
  distributed::initialize(address, 1, 0);
  EXPECT_EQ(distributed::process_index(), 0);
  distributed::shutdown();
}

// What both processes of TwoProcesses do; returns a failure text, "" when all held.
std::string two_process_body() {
  const int me = distributed::process_index();
  std::string failures;
  auto check = [&](bool ok, const std::string& what) {
    if (!ok) failures += "process " + std::to_string(me) + ": " + what + "\n";
  };
  check(distributed::process_count() == 2, "process_count");
  // A float32 tree summed: process i holds (i + 1) * [1, 2, 3] and 10 * (i + 1).
  const float f = static_cast<float>(me + 1);
  const std::vector<float> v{f, 2 * f, 3 * f};
  const Tree t = Tree::dict(
      {{"a", Array::from_data(std::span<const float>(v), {3})}, {"b", full({}, 10.0 * f)}});
  const Tree s = distributed::all_reduce_sum(t, "the test's sum");
  check(s["a"].leaf().to_vector<float>() == std::vector<float>{3, 6, 9}, "sum a");
  check(s["b"].leaf().item<float>() == 30.0f, "sum b");
  check(!error_of<DTypeError>([] {
           (void)distributed::all_reduce_sum(Tree::dict({{"i", full({2}, 1, int32)}}), "ints");
         }).empty(),
        "an int32 leaf is not refused");
  // Process 0's tree everywhere, of every dtype.
  const Tree mine = Tree::dict({{"n", full({2}, me == 0 ? 7 : 1, int32)}, {"x", full({}, f)}});
  const Tree b = distributed::broadcast(mine, "the test's broadcast");
  check(b["n"].leaf().to_vector<int32_t>() == std::vector<int32_t>{7, 7}, "broadcast n");
  check(b["x"].leaf().item<float>() == 1.0f, "broadcast x");
  // A value that differs: both processes are told.
  const std::string e = error_of<ValueError>(
      [&] { distributed::check_same("the test's setting", me == 0 ? "red" : "blue"); });
  check(e.find("the processes disagree on the test's setting") != std::string::npos,
        "check_same said: " + e);
  if (me == 1)
    check(e.find("process 0 has red, process 1 has blue") != std::string::npos, "check_same: " + e);
  distributed::check_same("the same", "green");  // no error
  return failures;
}

// Process 1 of TwoProcesses: runs only when that test starts this binary with the environment
// set; skipped when ctest runs it on its own.
TEST(Distributed, PeerProcess) {
  const char* address = std::getenv("KILN_TEST_PEER_COORDINATOR");
  if (address == nullptr) GTEST_SKIP() << "process 1 of Distributed.TwoProcesses";
  distributed::initialize(address, 2, 1, {.timeout = 20s});
  const std::string failures = two_process_body();
  distributed::shutdown();
  EXPECT_EQ(failures, "");
}

TEST(Distributed, TwoProcesses) {
  if (!distributed::available()) GTEST_SKIP() << "kiln built without Gloo";
  const std::string address = "127.0.0.1:" + std::to_string(free_port());
  // This binary again, as process 1.
  std::vector<std::string> env_strings{"KILN_TEST_PEER_COORDINATOR=" + address};
  for (char** e = environ; *e; ++e)
    if (std::string(*e).rfind("KILN_TEST_PEER_COORDINATOR=", 0) != 0) env_strings.push_back(*e);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = "/proc/self/exe", filter = "--gtest_filter=Distributed.PeerProcess";
  char* argv[] = {exe.data(), filter.data(), nullptr};
  pid_t peer = 0;
  ASSERT_EQ(::posix_spawn(&peer, "/proc/self/exe", nullptr, nullptr, argv, envp.data()), 0);
  std::string failures;
  try {
    distributed::initialize(address, 2, 0, {.timeout = 20s});
    failures = two_process_body();
  } catch (const std::exception& e) {
    failures = e.what();
  }
  distributed::shutdown();
  int status = 0;
  ::waitpid(peer, &status, 0);
  EXPECT_EQ(failures, "");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "process 1's status " << status;
}

}  // namespace
}  // namespace kiln

// The key-value store through which kiln's processes meet (include/kiln/distributed.hpp):
// process 0 serves it over TCP on the coordinator's port; every process (0 included) is a client.
// It holds what the rendezvous exchanges — who joined, Gloo's addresses — and nothing after.
//
// The wire format is one request, one reply, on a connection per client:
//   request: op (1 byte) | key length (u32, little-endian) | key | value length (u32) | value
//   reply:   status (1 byte) | value length (u32) | value
// ops: 'S' set (reply 'K'), 'G' get (reply 'K' and the value, or 'N' when the key is absent: the
// client polls, so the server never waits on anyone), 'J' join (key: the process id, value: the
// process count; reply 'K', or 'E' and the reason: a count that differs from process 0's, or an
// id already taken), 'L' left (reply 'K' and the ids of the joined processes whose connection
// has closed, in the order they closed, comma-separated: who ended, when a collective fails).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

// Internal (kiln::distributed::detail: not exported from libkiln.so, cmake/exports.cmake).
namespace kiln::distributed::detail {

// host:port, split; ValueError naming `source` (where the address came from) when malformed.
struct HostPort {
  std::string host;
  int port = 0;
  std::string str() const { return host + ":" + std::to_string(port); }
};
HostPort parse_host_port(const std::string& address, const std::string& source);

// ValueError when some of the processes' Gloo addresses are loopback and some are not: a process
// whose way to the coordinator was loopback (process 0 reaching itself through "localhost", or a
// host name /etc/hosts maps to 127.0.1.1) would listen where processes on other machines cannot
// reach it. Every process says so, before Gloo waits for the unreachable one.
void refuse_mixed_loopback(const std::vector<std::string>& hosts, const HostPort& coordinator);

// "1.5 s": a timeout as the errors say it.
std::string seconds_text(std::chrono::milliseconds t);

class CoordinationServer {
 public:
  // Listens on every interface at `port`; Error when the port cannot be bound (another process 0
  // running, or a port in use).
  CoordinationServer(const HostPort& address, int num_processes);
  ~CoordinationServer();
  CoordinationServer(const CoordinationServer&) = delete;
  CoordinationServer& operator=(const CoordinationServer&) = delete;

 private:
  void accept_loop();
  void serve(int fd);
  std::string join(int process_id, int num_processes);

  HostPort address_;
  int num_processes_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::map<std::string, std::vector<char>> values_;
  std::set<int> joined_;
  std::vector<int> left_;             // joined processes whose connection closed, in that order
  std::vector<std::thread> threads_;  // accept_loop's, then one per client
  std::mutex threads_mu_;
};

class CoordinationClient {
 public:
  // Connects to the coordinator, retrying until `timeout` has passed (process 0 may start later
  // than the others); Error naming the address when it never answers.
  CoordinationClient(const HostPort& coordinator, std::chrono::milliseconds timeout);
  ~CoordinationClient();
  CoordinationClient(const CoordinationClient&) = delete;
  CoordinationClient& operator=(const CoordinationClient&) = delete;

  // Registers this process; ValueError with the coordinator's reason when it refuses.
  void join(int process_id, int num_processes);
  void set(const std::string& key, const std::vector<char>& value);
  // The processes that have left (their connection to the coordinator closed: they ended), first
  // to leave first. Error when the coordinator itself is gone.
  std::vector<int> left();
  // The value of `key`, waiting for another process to set it until `timeout`; Error naming the
  // key (and `waiting_for`, what its absence means) after that.
  std::vector<char> get(const std::string& key, std::chrono::milliseconds timeout,
                        const std::string& waiting_for = "");
  // The address of this end of the connection: how this machine reaches the coordinator.
  std::string local_ip() const;
  const HostPort& coordinator() const { return coordinator_; }

 private:
  // One request and its reply, within `reply_within` (0: the client's timeout).
  std::pair<char, std::vector<char>> request(char op, const std::string& key,
                                             const std::vector<char>& value,
                                             std::chrono::milliseconds reply_within = {});
  HostPort coordinator_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::mutex mu_;
};

}  // namespace kiln::distributed::detail

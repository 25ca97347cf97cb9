// The coordinator's key-value store over TCP (coordination_store.hpp).
#include "distributed/coordination_store.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kiln/error.hpp"

namespace kiln::distributed::detail {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How often a waiting client asks again, and how long a server thread sleeps in poll before it
// looks at the stop flag.
constexpr milliseconds kPollInterval(20);
constexpr int kServerPollMs = 100;
// A request larger than this is not one of kiln's: the connection is dropped.
constexpr uint32_t kMaxField = 16u << 20;

std::string errno_text() {
  return std::strerror(errno);
}

// Reads exactly `n` bytes, giving up at `deadline` or when `stop` is set; false on EOF, error or
// time-out.
bool read_exact(int fd, char* out, size_t n, Clock::time_point deadline,
                const std::atomic<bool>* stop = nullptr) {
  while (n > 0) {
    if (stop && stop->load()) return false;
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, kServerPollMs)));
    if (r < 0 && errno != EINTR) return false;
    if (r <= 0) continue;
    const ssize_t got = ::recv(fd, out, n, 0);
    if (got == 0) return false;
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return false;
    }
    out += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

bool write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t put = ::send(fd, data, n, MSG_NOSIGNAL);
    if (put < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += put;
    n -= static_cast<size_t>(put);
  }
  return true;
}

void append_u32(std::vector<char>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t u32_of(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

bool read_field(int fd, std::vector<char>& out, Clock::time_point deadline,
                const std::atomic<bool>* stop = nullptr) {
  char len[4];
  if (!read_exact(fd, len, 4, deadline, stop)) return false;
  const uint32_t n = u32_of(len);
  if (n > kMaxField) return false;
  out.resize(n);
  return n == 0 || read_exact(fd, out.data(), n, deadline, stop);
}

// The IPv4 address of `host` (a name or a dotted quad).
sockaddr_in resolve(const HostPort& a) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(a.host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr)
    throw Error("the coordinator address " + a.str() + ": cannot resolve '" + a.host + "' (" +
                ::gai_strerror(rc) + "); give process 0's IPv4 address or host name");
  sockaddr_in out = *reinterpret_cast<const sockaddr_in*>(res->ai_addr);
  ::freeaddrinfo(res);
  out.sin_port = htons(static_cast<uint16_t>(a.port));
  return out;
}

}  // namespace

std::string seconds_text(std::chrono::milliseconds t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", static_cast<double>(t.count()) / 1000.0);
  return buf;
}

void refuse_mixed_loopback(const std::vector<std::string>& hosts, const HostPort& coordinator) {
  auto loopback = [](const std::string& h) { return h.rfind("127.", 0) == 0; };
  const auto n = static_cast<size_t>(std::count_if(hosts.begin(), hosts.end(), loopback));
  if (n == 0 || n == hosts.size()) return;
  std::string which;
  for (size_t i = 0; i < hosts.size(); ++i)
    if (loopback(hosts[i]))
      which +=
          (which.empty() ? "" : ", ") + ("process " + std::to_string(i) + " (" + hosts[i] + ")");
  throw ValueError("kiln::distributed::initialize: " + which +
                   " would listen for the others on a loopback address, which processes on other "
                   "machines cannot reach (its way to the coordinator " +
                   coordinator.str() +
                   " is loopback); give the coordinator as the address the other machines reach "
                   "process 0 by (its IP), or set Options::local_address");
}

HostPort parse_host_port(const std::string& address, const std::string& source) {
  const size_t colon = address.rfind(':');
  auto bad = [&](const std::string& why) {
    return ValueError("the coordinator address '" + address + "' (" + source + ") " + why +
                      "; give it as HOST:PORT, process 0's address and a free port, e.g. "
                      "10.0.0.1:7777");
  };
  if (colon == std::string::npos || colon == 0) throw bad("has no host:port form");
  HostPort out;
  out.host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    throw bad("has no port number");
  out.port = std::stoi(port);
  if (out.port < 1 || out.port > 65535) throw bad("has a port outside 1..65535");
  return out;
}

// ---- the server ----

CoordinationServer::CoordinationServer(const HostPort& address, int num_processes)
    : address_(address), num_processes_(num_processes) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw Error("the coordinator: socket() failed: " + errno_text());
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_addr.s_addr = htonl(INADDR_ANY);
  any.sin_port = htons(static_cast<uint16_t>(address.port));
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0 ||
      ::listen(listen_fd_, 128) != 0) {
    const std::string why = errno_text();
    ::close(listen_fd_);
    throw Error("process 0 cannot serve the coordinator on port " + std::to_string(address.port) +
                " (" + address.str() + "): " + why +
                "; is another process 0 running? Choose a free port for every process's "
                "coordinator address");
  }
  threads_.emplace_back([this] { accept_loop(); });
}

CoordinationServer::~CoordinationServer() {
  stop_ = true;
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(threads_mu_);
    threads.swap(threads_);
  }
  // accept_loop adds no thread once stop_ is set (it checks under threads_mu_).
  for (std::thread& t : threads) t.join();
  ::close(listen_fd_);
}

void CoordinationServer::accept_loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, kServerPollMs) <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lock(threads_mu_);
    if (stop_) {
      ::close(fd);
      break;
    }
    threads_.emplace_back([this, fd] { serve(fd); });
  }
}

std::string CoordinationServer::join(int process_id, int num_processes) {
  if (num_processes != num_processes_)
    return "process " + std::to_string(process_id) + " was started for " +
           std::to_string(num_processes) + " processes, but process 0 (the coordinator at " +
           address_.str() + ") for " + std::to_string(num_processes_) +
           ": give every process the same process count";
  if (process_id < 0 || process_id >= num_processes_)
    return "process id " + std::to_string(process_id) + " is outside 0.." +
           std::to_string(num_processes_ - 1);
  if (!joined_.insert(process_id).second)
    return "process id " + std::to_string(process_id) +
           " is taken: another process joined the coordinator at " + address_.str() +
           " with it; give each process its own id in 0.." + std::to_string(num_processes_ - 1);
  return "";
}

void CoordinationServer::serve(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // A client may stay idle as long as it likes; only a request half sent is cut off.
  const auto forever = Clock::time_point::max();
  int joined_as = -1;  // the process this connection joined as
  for (;;) {
    char op = 0;
    if (!read_exact(fd, &op, 1, forever, &stop_)) break;
    std::vector<char> key, value;
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    if (!read_field(fd, key, deadline, &stop_) || !read_field(fd, value, deadline, &stop_)) break;
    const std::string k(key.begin(), key.end());
    char status = 'K';
    std::vector<char> reply;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (op == 'S') {
        values_[k] = std::move(value);
      } else if (op == 'G') {
        auto it = values_.find(k);
        if (it == values_.end())
          status = 'N';
        else
          reply = it->second;
      } else if (op == 'J') {
        const std::string count(value.begin(), value.end());
        int id = -1, num = -1;
        if (std::sscanf(k.c_str(), "%d", &id) != 1 || std::sscanf(count.c_str(), "%d", &num) != 1)
          break;  // not a kiln client
        const std::string why = join(id, num);
        if (!why.empty()) {
          status = 'E';
          reply.assign(why.begin(), why.end());
        } else {
          joined_as = id;
        }
      } else if (op == 'L') {
        std::string ids;
        for (int i : left_) ids += (ids.empty() ? "" : ",") + std::to_string(i);
        reply.assign(ids.begin(), ids.end());
      } else {
        break;  // not a kiln client
      }
    }
    std::vector<char> out{status};
    append_u32(out, static_cast<uint32_t>(reply.size()));
    out.insert(out.end(), reply.begin(), reply.end());
    if (!write_all(fd, out.data(), out.size())) break;
  }
  ::close(fd);
  if (joined_as >= 0 && !stop_) {
    std::lock_guard<std::mutex> lock(mu_);
    left_.push_back(joined_as);
  }
}

// ---- the client ----

CoordinationClient::CoordinationClient(const HostPort& coordinator, milliseconds timeout)
    : coordinator_(coordinator), timeout_(timeout) {
  const sockaddr_in to = resolve(coordinator);
  const auto deadline = Clock::now() + timeout;
  std::string last = "no answer";
  while (true) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) throw Error("connecting to the coordinator: socket() failed: " + errno_text());
    int rc = ::connect(fd_, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    if (rc != 0 && errno == EINPROGRESS) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      pollfd p{fd_, POLLOUT, 0};
      rc = ::poll(&p, 1, static_cast<int>(std::max<long long>(0, std::min<long long>(left, 1000))));
      const int poll_errno = errno;
      int err = 0;
      socklen_t len = sizeof err;
      if (rc == 1 && ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
        rc = 0;
      } else {
        // poll timed out, failed (its errno), or the connection did (SO_ERROR, or getsockopt's)
        errno = rc == 0 ? ETIMEDOUT : rc < 0 ? poll_errno : err != 0 ? err : errno;
        rc = -1;
      }
    }
    if (rc == 0) break;
    last = errno_text();
    ::close(fd_);
    fd_ = -1;
    if (Clock::now() >= deadline)
      throw Error("no coordinator answered at " + coordinator.str() + " within " +
                  seconds_text(timeout) + " (last attempt: " + last +
                  "); start process 0 with this address, check the host and port, or raise the "
                  "timeout (KILN_DISTRIBUTED_TIMEOUT, seconds)");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // Blocking from here on: every read has its deadline through poll.
  ::fcntl(fd_, F_SETFL, 0);
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

CoordinationClient::~CoordinationClient() {
  if (fd_ >= 0) ::close(fd_);
}

std::pair<char, std::vector<char>> CoordinationClient::request(char op, const std::string& key,
                                                               const std::vector<char>& value,
                                                               milliseconds reply_within) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<char> out{op};
  append_u32(out, static_cast<uint32_t>(key.size()));
  out.insert(out.end(), key.begin(), key.end());
  append_u32(out, static_cast<uint32_t>(value.size()));
  out.insert(out.end(), value.begin(), value.end());
  char status = 0;
  std::vector<char> reply;
  const auto deadline = Clock::now() + (reply_within.count() > 0 ? reply_within : timeout_);
  if (!write_all(fd_, out.data(), out.size()) || !read_exact(fd_, &status, 1, deadline) ||
      !read_field(fd_, reply, deadline))
    throw Error("the coordinator at " + coordinator_.str() +
                " stopped answering (process 0 ended or the network failed) during the "
                "rendezvous");
  return {status, std::move(reply)};
}

void CoordinationClient::join(int process_id, int num_processes) {
  const std::string count = std::to_string(num_processes);
  auto [status, reply] = request('J', std::to_string(process_id), {count.begin(), count.end()});
  if (status != 'K') throw ValueError(std::string(reply.begin(), reply.end()));
}

void CoordinationClient::set(const std::string& key, const std::vector<char>& value) {
  request('S', key, value);
}

std::vector<int> CoordinationClient::left() {
  // A coordinator that does not answer at once is as good as gone: this asks after a failure.
  const std::vector<char> reply = request('L', "", {}, std::chrono::seconds(1)).second;
  std::vector<int> ids;
  const std::string text(reply.begin(), reply.end());
  size_t at = 0;
  while (at < text.size()) {
    size_t comma = text.find(',', at);
    if (comma == std::string::npos) comma = text.size();
    ids.push_back(std::atoi(text.substr(at, comma - at).c_str()));
    at = comma + 1;
  }
  return ids;
}

std::vector<char> CoordinationClient::get(const std::string& key, milliseconds timeout,
                                          const std::string& waiting_for) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    auto [status, value] = request('G', key, {});
    if (status == 'K') return value;
    if (Clock::now() >= deadline)
      throw Error("waited " + seconds_text(timeout) + " for " +
                  (waiting_for.empty() ? "'" + key + "'" : waiting_for) + " at the coordinator " +
                  coordinator_.str() +
                  "; start every process (ids 0..N-1) within the timeout, or raise it "
                  "(KILN_DISTRIBUTED_TIMEOUT, seconds)");
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::string CoordinationClient::local_ip() const {
  sockaddr_in me{};
  socklen_t len = sizeof me;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&me), &len) != 0)
    throw Error("getsockname on the coordinator connection failed: " + errno_text());
  char buf[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &me.sin_addr, buf, sizeof buf);
  return buf;
}

}  // namespace kiln::distributed::detail
